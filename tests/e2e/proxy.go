package e2e

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Proxy is a TCP proxy on loopback between the services and one member of
// the config DB. It lets a test cut the services off a member (or, with
// every member's proxy, off etcd) while the test itself still reaches etcd
// directly: the way to make etcd compact past the revision the services'
// watches are at, since a connected watch keeps up.
type Proxy struct {
	// Addr is the host:port the services connect to.
	Addr     string
	upstream string
	l        net.Listener

	mu      sync.Mutex
	cuts    int
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	stopped bool
}

// StartProxy listens on a free loopback port and forwards to upstream.
func StartProxy(upstream string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: l.Addr().String(), upstream: upstream, l: l, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *Proxy) forward(c net.Conn) {
	defer p.wg.Done()
	p.mu.Lock()
	cut := p.cuts > 0 || p.stopped
	p.mu.Unlock()
	if cut {
		c.Close()
		return
	}
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, u) {
		return
	}
	defer p.untrack(c, u)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
}

func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cuts > 0 || p.stopped {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Cut closes every connection through the proxy and refuses new ones until
// Heal. Cuts nest: two faults may cut the same proxy, and it lets
// connections through again only when both have healed.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cuts++
	for c := range p.conns {
		c.Close()
	}
}

// Heal undoes one Cut: connections go through again once every Cut is
// healed.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.cuts = max(p.cuts-1, 0)
	p.mu.Unlock()
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.l.Close()
	p.Cut()
	p.wg.Wait()
}
