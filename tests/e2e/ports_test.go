package e2e

import (
	"net"
	"strconv"
	"testing"
)

func TestParsePortRange(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"32768\t60999\n", 32768, false},
		{"1024 65535", 1024, false},
		{"", 0, true},
		{"32768", 0, true},
		{"a b", 0, true},
		{"0 10", 0, true},
		{"70000 80000", 0, true},
	} {
		got, err := parsePortRange(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parsePortRange(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// The ports are distinct, below the ephemeral range, and bindable.
func TestFixedPorts(t *testing.T) {
	ports, err := fixedPorts(6)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 6 {
		t.Fatalf("%d ports, want 6", len(ports))
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Errorf("port %d twice in %v", p, ports)
		}
		seen[p] = true
		if p < minFixedPort || p >= ephemeralLow() {
			t.Errorf("port %d outside [%d, %d)", p, minFixedPort, ephemeralLow())
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d: %v", p, err)
			continue
		}
		l.Close()
	}
}
