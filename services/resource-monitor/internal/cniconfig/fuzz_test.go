package cniconfig

import (
	"errors"
	"testing"
)

// FuzzParse feeds arbitrary spec.config documents: Parse must not panic,
// must classify every failure, and what it accepts must be consistent.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"cniVersion": "0.3.1", "type": "macvlan", "master": "eth1", "vlan": 101, "ipam": {"type": "whereabouts", "range": "10.50.1.0/24", "range_start": "10.50.1.10", "range_end": "10.50.1.200", "exclude": ["10.50.1.100/32"], "gateway": "10.50.1.1"}}`,
		`{"cniVersion": "0.4.0", "name": "b", "plugins": [{"type": "ipvlan", "master": "eth2", "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.50.2.0/24", "rangeStart": "10.50.2.10", "rangeEnd": "10.50.2.100", "gateway": "10.50.2.1"}]]}}]}`,
		`{"type": "bridge", "ipam": {"type": "host-local", "subnet": "192.168.77.0/24"}}`,
		`{"type": "macvlan", "ipam": {"type": "whereabouts", "range": "192.168.2.225-192.168.2.230/28"}}`,
		`{"type": "macvlan", "ipam": {"type": "whereabouts", "ipRanges": [{"range": "fd10::/112"}]}}`,
		`{"type": "vlan", "vlanId": 4, "ipam": {"type": "static", "addresses": [{"address": "10.10.0.5/24"}]}}`,
		`{"plugins": [{"type": "tuning"}]}`,
		`{"type": `, ``, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, config []byte) {
		n, err := Parse(config, "fuzz")
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) && !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrNoSubnet) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if n.CNIType == "" || n.IPAMType == "" {
			t.Fatalf("accepted without types: %+v", n)
		}
		if !n.Subnet.IsValid() || n.Subnet != n.Subnet.Masked() {
			t.Fatalf("subnet %v not a valid network prefix", n.Subnet)
		}
		if n.RangeStart.IsValid() && !n.Subnet.Contains(n.RangeStart) || n.RangeEnd.IsValid() && !n.Subnet.Contains(n.RangeEnd) ||
			n.Gateway.IsValid() && !n.Subnet.Contains(n.Gateway) {
			t.Fatalf("address outside subnet: %+v", n)
		}
		if n.RangeStart.IsValid() && n.RangeEnd.IsValid() && n.RangeEnd.Less(n.RangeStart) {
			t.Fatalf("range start after end: %+v", n)
		}
		if n.VLAN != nil && (*n.VLAN < 0 || *n.VLAN > 4094) {
			t.Fatalf("vlan %d accepted", *n.VLAN)
		}
	})
}
