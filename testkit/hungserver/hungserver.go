// Package hungserver is a server that accepts connections and reads what
// it is sent, never answering: how a frozen server (SIGSTOPped, or cut off
// after the handshake) looks to its clients, for tests of request
// timeouts.
//
// It is part of the test kit, which requires nothing of the product;
// docs/architecture.md, §1. The rooms.
package hungserver

import (
	"net"
	"sync"
	"testing"
)

// Start listens on a loopback port until the test ends and returns its
// address, host:port.
func Start(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	tb.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			})
		}
	})
	return l.Addr().String()
}
