//go:build linux

package localcp

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/testkit/proc"
)

// newNetns starts a process in a network namespace of its own, with lo up,
// and returns the namespace; the process is stopped at the end.
func newNetns(t *testing.T) *os.File {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("network namespaces need root")
	}
	p, err := proc.Start(proc.Options{Name: "netns holder", Bin: "/bin/sleep", Args: []string{"300"},
		LogPath: filepath.Join(t.TempDir(), "holder.log"), Cloneflags: syscall.CLONE_NEWNET})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(time.Second) })
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", p.PID()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	if err := inNetns(ns, func() error {
		// A child forked from this thread starts in its namespace.
		out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip link set lo up: %w: %s", err, out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// echo serves one line back on ln, for each connection.
func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			line, _ := bufio.NewReader(c).ReadString('\n')
			_, _ = c.Write([]byte("echo " + line))
		}()
	}
}

func roundTrip(c net.Conn) (string, error) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestForwardersCrossNamespacesOnLoopbackOnly(t *testing.T) {
	ns := newNetns(t)

	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	go echo(host)
	addr := host.Addr().String()

	dialIn := func() (c net.Conn, err error) {
		err = inNetns(ns, func() (err error) {
			c, err = net.DialTimeout("tcp", addr, 2*time.Second)
			return err
		})
		return c, err
	}
	// The namespace is its own: the host's port is not there.
	if c, err := dialIn(); err == nil {
		c.Close()
		t.Fatalf("dialled %s in the namespace without a forwarder", addr)
	}

	in, err := listenForward("in", ns, addr, nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	c, err := dialIn()
	if err != nil {
		t.Fatalf("dial %s in the namespace through the forwarder: %v", addr, err)
	}
	if got, err := roundTrip(c); err != nil || got != "echo hello\n" {
		t.Fatalf("in: got %q, %v", got, err)
	}

	// And out: a server of the namespace's loopback, reached on the host
	// at a loopback address of the node's.
	var inner net.Listener
	if err := inNetns(ns, func() (err error) {
		inner, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	go echo(inner)
	innerPort := inner.Addr().(*net.TCPAddr).Port
	out, err := listenForward("out", nil, fmt.Sprintf("127.0.2.250:%d", innerPort), ns, fmt.Sprintf("127.0.0.1:%d", innerPort))
	if err != nil {
		t.Fatal(err)
	}
	c, err = net.DialTimeout("tcp", fmt.Sprintf("127.0.2.250:%d", innerPort), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(c); err != nil || got != "echo hello\n" {
		t.Fatalf("out: got %q, %v", got, err)
	}
	// Closing the forwarder closes its connections and its port.
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.2.250:%d", innerPort), time.Second); err == nil {
		c.Close()
		t.Fatal("forwarder still listening after Close")
	}
}
