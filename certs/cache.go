package certs

import (
	"container/list"
	"crypto/tls"
	"sync"
)

// leafCache is a bounded LRU of minted leaves keyed by canonical name.
type leafCache struct {
	mu  sync.Mutex
	max int
	ll  *list.List // front = most recently used
	m   map[string]*list.Element
}

type leafEntry struct {
	name string
	cert *tls.Certificate
}

func newLeafCache(max int) *leafCache {
	return &leafCache{max: max, ll: list.New(), m: map[string]*list.Element{}}
}

func (l *leafCache) get(name string) *tls.Certificate {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.m[name]; ok {
		l.ll.MoveToFront(e)
		return e.Value.(*leafEntry).cert
	}
	return nil
}

// add caches cert unless another goroutine cached one for name first, and
// returns the cached one. Evicted leaves are only dropped, not wiped: a
// handshake may still be using them.
func (l *leafCache) add(name string, cert *tls.Certificate) *tls.Certificate {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.m[name]; ok {
		l.ll.MoveToFront(e)
		return e.Value.(*leafEntry).cert
	}
	l.m[name] = l.ll.PushFront(&leafEntry{name: name, cert: cert})
	for l.ll.Len() > l.max {
		e := l.ll.Back()
		l.ll.Remove(e)
		delete(l.m, e.Value.(*leafEntry).name)
	}
	return cert
}

func (l *leafCache) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ll.Len()
}

// purge empties the cache and returns what it held.
func (l *leafCache) purge() []*tls.Certificate {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*tls.Certificate, 0, l.ll.Len())
	for e := l.ll.Front(); e != nil; e = e.Next() {
		out = append(out, e.Value.(*leafEntry).cert)
	}
	l.ll.Init()
	clear(l.m)
	return out
}
