package proxy

import (
	"io"
	"net/http"
	"sync/atomic"
)

// streamBytes counts the two directions of an upgraded (101) connection.
type streamBytes struct{ up, down atomic.Int64 }

// countUpgraded makes the upstream side of a 101 response count what
// ReverseProxy relays after it hijacks the client connection; those bytes
// never pass the ResponseWriter, so the audit event would miss them. When
// down is set, what reaches the client is read through it.
func countUpgraded(resp *http.Response, n *streamBytes, down func(io.Reader) io.Reader) {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		return // ReverseProxy refuses the upgrade itself
	}
	u := &upgradedBody{rwc: rwc, r: rwc, n: n}
	if down != nil {
		u.r = down(rwc)
	}
	resp.Body = u
}

// upgradedBody is the upstream connection of an upgraded exchange, as
// ReverseProxy sees it: reads are what goes to the client, writes what
// comes from it.
type upgradedBody struct {
	rwc io.ReadWriteCloser
	r   io.Reader
	n   *streamBytes
}

func (u *upgradedBody) Read(p []byte) (int, error) {
	k, err := u.r.Read(p)
	u.n.down.Add(int64(k))
	return k, err
}

func (u *upgradedBody) Write(p []byte) (int, error) {
	k, err := u.rwc.Write(p)
	u.n.up.Add(int64(k))
	return k, err
}

func (u *upgradedBody) Close() error { return u.rwc.Close() }
