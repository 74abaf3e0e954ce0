package supernet

import (
	"errors"
	"net/netip"
	"testing"
)

func TestCover(t *testing.T) {
	tests := []struct {
		name    string
		members []string
		want    string
		wantErr bool
	}{
		{"single member", []string{"10.50.1.0/24"}, "10.50.1.0/24", false},
		{"single member with host bits", []string{"10.50.1.7/24"}, "10.50.1.0/24", false},
		{"adjacent halves", []string{"10.50.0.0/24", "10.50.1.0/24"}, "10.50.0.0/23", false},
		{"the example networks", []string{"10.50.1.0/24", "10.50.2.0/24"}, "10.50.0.0/22", false},
		{"disjoint, far apart", []string{"10.0.0.0/24", "10.255.0.0/24"}, "10.0.0.0/8", false},
		{"disjoint across the top bit", []string{"10.0.0.0/8", "192.168.0.0/16"}, "0.0.0.0/0", false},
		{"nested: the larger covers", []string{"10.0.1.0/24", "10.0.0.0/16"}, "10.0.0.0/16", false},
		{"nested, larger first", []string{"10.0.0.0/16", "10.0.1.0/24", "10.0.200.0/28"}, "10.0.0.0/16", false},
		{"identical", []string{"10.1.2.0/24", "10.1.2.0/24"}, "10.1.2.0/24", false},
		{"host routes", []string{"192.0.2.1/32", "192.0.2.2/32"}, "192.0.2.0/30", false},
		{"order does not matter", []string{"10.50.2.0/24", "10.50.1.0/24", "10.50.3.0/24"}, "10.50.0.0/22", false},
		{"IPv6 single", []string{"fd00:1::/64"}, "fd00:1::/64", false},
		{"IPv6 disjoint", []string{"fd00:1::/64", "fd00:2::/64"}, "fd00::/30", false},
		{"IPv6 nested", []string{"fd00::/48", "fd00:0:0:5::/64"}, "fd00::/48", false},
		{"IPv6 far apart", []string{"2001:db8::/64", "fd00::/64"}, "::/0", false},
		{"mixed families", []string{"10.0.0.0/24", "fd00::/64"}, "", true},
		{"IPv4-mapped is IPv6", []string{"10.0.0.0/24", "::ffff:10.0.1.0/120"}, "", true},
		{"none", nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var members []netip.Prefix
			for _, m := range tt.members {
				members = append(members, netip.MustParsePrefix(m))
			}
			got, err := Cover(members)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %s, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			for _, m := range members {
				if !got.Contains(m.Addr()) || got.Bits() > m.Bits() {
					t.Errorf("%s does not cover %s", got, m)
				}
			}
		})
	}
}

func TestCoverErrors(t *testing.T) {
	if _, err := Cover([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}); !errors.Is(err, ErrMixedFamilies) {
		t.Errorf("mixed: %v, want ErrMixedFamilies", err)
	}
	if _, err := Cover([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}}); err == nil {
		t.Error("invalid member accepted")
	}
}
