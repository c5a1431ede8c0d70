package main

import (
	"bufio"
	"flag"
	"io"
	"net"
	"net/http"
	"time"
)

// relayMain is the floor for any user-space CONNECT proxy written in Go: no
// auth, no policy, no DNS, just CONNECT then io.Copy both ways (which the
// runtime serves with splice(2) between TCP sockets). It exits after -for.
func relayMain(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	d := fs.Duration("for", 30*time.Minute, "serve this long, then exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := serveHere(*d)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return nil
		}
		go relayConn(c.(*net.TCPConn))
	}
}

func relayConn(c *net.TCPConn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect || br.Buffered() > 0 {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		return
	}
	o, err := net.DialTimeout("tcp", req.Host, 10*time.Second)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up := o.(*net.TCPConn)
	defer up.Close()
	_ = c.SetReadDeadline(time.Time{})
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.CloseWrite()
	<-done
}
