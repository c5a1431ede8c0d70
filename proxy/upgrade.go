package proxy

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// streamBytes counts the two directions of an upgraded (101) connection.
type streamBytes struct{ up, down atomic.Int64 }

// countUpgraded makes the upstream side of a 101 response count what is
// relayed after the upgrade (by ReverseProxy after it hijacks the client
// connection, or by the reverse-path loop); those bytes never pass the
// ResponseWriter, so the audit event would miss them. When down is set,
// what reaches the client is read through it. After idle with no byte
// either way the upstream side is closed, which ends the relay: the
// tunnel idle timeout, for WebSockets.
func countUpgraded(resp *http.Response, n *streamBytes, down func(io.Reader) io.Reader, idle time.Duration) {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return // ReverseProxy refuses the upgrade itself
	}
	u := &upgradedBody{rwc: rwc, r: rwc, n: n, done: make(chan struct{})}
	if down != nil {
		u.r = down(rwc)
	}
	u.last.Store(time.Now().UnixNano())
	if idle > 0 {
		go u.watch(idle)
	}
	resp.Body = u
}

// upgradedBody is the upstream connection of an upgraded exchange, as the
// relay sees it: reads are what goes to the client, writes what comes from
// it.
type upgradedBody struct {
	rwc       io.ReadWriteCloser
	r         io.Reader
	n         *streamBytes
	last      atomic.Int64 // unix nanos of the last byte either way
	done      chan struct{}
	closeOnce sync.Once
}

func (u *upgradedBody) Read(p []byte) (int, error) {
	k, err := u.r.Read(p)
	if k > 0 {
		u.n.down.Add(int64(k))
		u.last.Store(time.Now().UnixNano())
	}
	return k, err
}

func (u *upgradedBody) Write(p []byte) (int, error) {
	k, err := u.rwc.Write(p)
	if k > 0 {
		u.n.up.Add(int64(k))
		u.last.Store(time.Now().UnixNano())
	}
	return k, err
}

func (u *upgradedBody) Close() error {
	u.closeOnce.Do(func() { close(u.done) })
	return u.rwc.Close()
}

// watch closes the connection once idle has passed with no byte moved.
func (u *upgradedBody) watch(idle time.Duration) {
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		select {
		case <-u.done:
			return
		case <-t.C:
		}
		if left := time.Until(time.Unix(0, u.last.Load()).Add(idle)); left > 0 {
			t.Reset(left)
			continue
		}
		u.Close()
		return
	}
}
