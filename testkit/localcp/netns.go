//go:build linux

package localcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// inNetns runs f on an OS thread that has joined the network namespace ns,
// then puts the thread back into this process's own namespace. A socket
// keeps the namespace it was made in, so a listener or connection made by f
// goes on living there while the rest of the process stays where it was.
// If the thread cannot be put back it is not returned to the Go runtime (a
// goroutine that ends locked takes its thread with it).
func inNetns(ns *os.File, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("join network namespace %s: %w", ns.Name(), err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to own network namespace: %w", err))
			return // still locked: the thread dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// forwarder accepts TCP connections on one loopback address and copies each
// to and from a new connection to another, the two ends in different
// network namespaces: this is how a real node, whose namespace holds only
// its own lo, reaches the API server and etcd on the host's loopback, and
// how the host (the API server asking the kubelet for logs, Prometheus
// scraping pods) reaches the node's. Only loopback addresses are used on
// either side.
type forwarder struct {
	name string
	ln   net.Listener
	dial func(ctx context.Context) (net.Conn, error)

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// listenForward listens on addr in namespace lns (nil: this process's) and
// forwards each connection to target in namespace dns (nil: this
// process's).
func listenForward(name string, lns *os.File, addr string, dns *os.File, target string) (*forwarder, error) {
	var ln net.Listener
	listen := func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}
	var err error
	if lns != nil {
		err = inNetns(lns, listen)
	} else {
		err = listen()
	}
	if err != nil {
		return nil, fmt.Errorf("forward %s: listen on %s: %w", name, addr, err)
	}
	var d net.Dialer
	f := &forwarder{name: name, ln: ln, conns: map[net.Conn]struct{}{}}
	f.dial = func(ctx context.Context) (c net.Conn, err error) {
		if dns == nil {
			return d.DialContext(ctx, "tcp", target)
		}
		err = inNetns(dns, func() (err error) {
			c, err = d.DialContext(ctx, "tcp", target)
			return err
		})
		return c, err
	}
	f.wg.Add(1)
	go f.serve()
	return f, nil
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go f.pipe(c)
	}
}

func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	c.Close()
}

func (f *forwarder) pipe(c net.Conn) {
	defer f.wg.Done()
	if !f.track(c) {
		c.Close()
		return
	}
	defer f.untrack(c)
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	u, err := f.dial(ctx)
	cancel()
	if err != nil {
		return // the client sees its connection closed, as with nothing listening
	}
	if !f.track(u) {
		u.Close()
		return
	}
	defer f.untrack(u)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(u, c)
	go cp(c, u)
	<-done
	<-done
}

// Close stops listening, closes every forwarded connection and waits for
// the forwarder's goroutines.
func (f *forwarder) Close() error {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	err := f.ln.Close()
	f.wg.Wait()
	return err
}
