package e2e

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// TestProxy checks that Cut breaks open connections and refuses new ones
// until Heal, against a loopback echo server.
func TestProxy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					_, _ = c.Write(append(sc.Bytes(), '\n'))
				}
			}()
		}
	}()
	p, err := StartProxy(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	echo := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return err
		}
		_, err := bufio.NewReader(c).ReadString('\n')
		return err
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	before := dial()
	if err := echo(before); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	p.Cut()
	if err := echo(before); err == nil {
		t.Error("an open connection still works after Cut")
	}
	if err := echo(dial()); err == nil {
		t.Error("a new connection works while cut")
	}
	p.Heal()
	if err := echo(dial()); err != nil {
		t.Errorf("a new connection after Heal: %v", err)
	}
	// Two faults cutting the same proxy: it lets connections through only
	// once both healed.
	p.Cut()
	p.Cut()
	p.Heal()
	if err := echo(dial()); err == nil {
		t.Error("a new connection works with one of two cuts healed")
	}
	p.Heal()
	if err := echo(dial()); err != nil {
		t.Errorf("a new connection after both cuts healed: %v", err)
	}
}
