package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// minFixedPort is the lowest port fixedPorts hands out: above the
// well-known and registered services a developer machine is likely to run.
const minFixedPort = 20000

// fixedPorts returns n distinct loopback ports, free a moment ago, below
// the kernel's ephemeral range. A replica keeps its port across restarts,
// so that Prometheus's scrape targets never change; the port is free while
// a killed replica is down, and a port of the ephemeral range could then
// be taken as the source port of some outgoing connection, which one below
// it never is.
func fixedPorts(n int) ([]int, error) {
	hi := ephemeralLow()
	if hi-minFixedPort < 100*n {
		return nil, fmt.Errorf("ephemeral ports start at %d: too few ports below for %d fixed ones", hi, n)
	}
	seen := map[int]bool{}
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100*n {
			return nil, fmt.Errorf("no %d free loopback ports in [%d, %d) after %d tries", n, minFixedPort, hi, tries)
		}
		p := minFixedPort + rand.IntN(hi-minFixedPort)
		if seen[p] {
			continue
		}
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = l.Close()
		ports = append(ports, p)
	}
	return ports, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	const linuxDefault = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	lo, err := parsePortRange(string(b))
	if err != nil {
		return linuxDefault
	}
	return lo
}

// parsePortRange reads the low end of ip_local_port_range ("32768\t60999").
func parsePortRange(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, fmt.Errorf("port range %q: want two numbers", s)
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, fmt.Errorf("port range %q: %w", s, err)
	}
	if lo < 1 || lo > 65535 {
		return 0, errors.New("port range: low end out of range")
	}
	return lo, nil
}
