package cniconfig

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func vlan(v int) *int { return &v }

func TestParse(t *testing.T) {
	pfx := netip.MustParsePrefix
	ip := netip.MustParseAddr
	tests := []struct {
		name    string
		config  string
		want    Network
		wantErr error
	}{
		{
			name: "whereabouts, single plugin (the example vis-net-a)",
			config: `{"cniVersion": "0.3.1", "name": "vis-net-a", "type": "macvlan", "master": "eth1", "vlan": 101,
				"ipam": {"type": "whereabouts", "range": "10.50.1.0/24", "range_start": "10.50.1.10", "range_end": "10.50.1.200",
				"exclude": ["10.50.1.100/32"], "gateway": "10.50.1.1"}}`,
			want: Network{CNIType: "macvlan", IPAMType: "whereabouts", Master: "eth1", VLAN: vlan(101), Subnet: pfx("10.50.1.0/24"),
				RangeStart: ip("10.50.1.10"), RangeEnd: ip("10.50.1.200"), Excludes: []string{"10.50.1.100/32"}, Gateway: ip("10.50.1.1")},
		},
		{
			name: "host-local in a conflist (the example vis-net-b)",
			config: `{"cniVersion": "0.4.0", "name": "vis-net-b", "plugins": [{"type": "ipvlan", "master": "eth2",
				"ipam": {"type": "host-local", "ranges": [[{"subnet": "10.50.2.0/24", "rangeStart": "10.50.2.10", "rangeEnd": "10.50.2.100", "gateway": "10.50.2.1"}]]}}]}`,
			want: Network{CNIType: "ipvlan", IPAMType: "host-local", Master: "eth2", Subnet: pfx("10.50.2.0/24"),
				RangeStart: ip("10.50.2.10"), RangeEnd: ip("10.50.2.100"), Gateway: ip("10.50.2.1")},
		},
		{
			name: "conflist without a name gets the NAD's; main plugin is the first with ipam",
			config: `{"cniVersion": "1.0.0", "plugins": [{"type": "tuning"}, {"type": "bridge", "vlan": 7, "ipam": {"type": "host-local", "subnet": "192.168.7.0/24"}},
				{"type": "macvlan", "master": "eth9", "ipam": {"type": "host-local", "subnet": "10.9.0.0/16"}}]}`,
			want: Network{CNIType: "bridge", IPAMType: "host-local", VLAN: vlan(7), Subnet: pfx("192.168.7.0/24")},
		},
		{
			name:   "host-local, older top-level subnet (the example not-for-sdp)",
			config: `{"cniVersion": "0.3.1", "type": "bridge", "ipam": {"type": "host-local", "subnet": "192.168.77.0/24", "rangeStart": "192.168.77.5", "gateway": "192.168.77.1"}}`,
			want:   Network{CNIType: "bridge", IPAMType: "host-local", Subnet: pfx("192.168.77.0/24"), RangeStart: ip("192.168.77.5"), Gateway: ip("192.168.77.1")},
		},
		{
			name: "host-local: first range of the first range set",
			config: `{"type": "macvlan", "ipam": {"type": "host-local", "ranges": [[{"subnet": "fd00:1::/64", "rangeStart": "fd00:1::10"}, {"subnet": "fd00:2::/64"}],
				[{"subnet": "10.1.0.0/16"}]]}}`,
			want: Network{CNIType: "macvlan", IPAMType: "host-local", Subnet: pfx("fd00:1::/64"), RangeStart: ip("fd00:1::10")},
		},
		{
			name:   "whereabouts start-end/prefix form",
			config: `{"type": "macvlan", "ipam": {"type": "whereabouts", "range": "192.168.2.225-192.168.2.230/28", "exclude": ["192.168.2.229/30", "192.168.2.228"]}}`,
			want: Network{CNIType: "macvlan", IPAMType: "whereabouts", Subnet: pfx("192.168.2.224/28"), RangeStart: ip("192.168.2.225"), RangeEnd: ip("192.168.2.230"),
				Excludes: []string{"192.168.2.229/30", "192.168.2.228"}},
		},
		{
			name:   "whereabouts: host bits in range are not a range start (as whereabouts reads it)",
			config: `{"type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.3.0.77/16"}}`,
			want:   Network{CNIType: "macvlan", IPAMType: "whereabouts", Subnet: pfx("10.3.0.0/16")},
		},
		{
			name:   "whereabouts ipRanges, IPv6",
			config: `{"type": "ipvlan", "master": "ens5", "ipam": {"type": "whereabouts", "ipRanges": [{"range": "fd10::/112", "range_start": "fd10::5", "exclude": ["fd10::8/126"]}, {"range": "10.0.0.0/8"}]}}`,
			want: Network{CNIType: "ipvlan", IPAMType: "whereabouts", Master: "ens5", Subnet: pfx("fd10::/112"), RangeStart: ip("fd10::5"),
				Excludes: []string{"fd10::8/126"}},
		},
		{
			name:   "vlan plugin's vlanId",
			config: `{"type": "vlan", "master": "eth0", "vlanId": 42, "ipam": {"type": "static", "addresses": [{"address": "10.10.0.5/24", "gateway": "10.10.0.254"}]}}`,
			want:   Network{CNIType: "vlan", IPAMType: "static", Master: "eth0", VLAN: vlan(42), Subnet: pfx("10.10.0.0/24"), Gateway: ip("10.10.0.254")},
		},

		// Rejected.
		{name: "not JSON", config: `{"type": "macvlan",`, wantErr: ErrInvalidJSON},
		{name: "empty", config: " \n", wantErr: ErrInvalidJSON},
		{name: "JSON, not an object", config: `["macvlan"]`, wantErr: ErrInvalidConfig},
		{name: "null", config: `null`, wantErr: ErrInvalidConfig},
		{name: "no type", config: `{"ipam": {"type": "host-local", "subnet": "10.0.0.0/24"}}`, wantErr: ErrInvalidConfig},
		{name: "empty plugin list", config: `{"name": "x", "plugins": []}`, wantErr: ErrInvalidConfig},
		{name: "plugins not a list", config: `{"name": "x", "plugins": {}}`, wantErr: ErrInvalidConfig},
		{name: "plugin without type", config: `{"plugins": [{"ipam": {"type": "host-local", "subnet": "10.0.0.0/24"}}]}`, wantErr: ErrInvalidConfig},
		{name: "wrong field type", config: `{"type": "macvlan", "master": 5, "ipam": {"type": "host-local", "subnet": "10.0.0.0/24"}}`, wantErr: ErrInvalidConfig},
		{name: "vlan out of range", config: `{"type": "macvlan", "vlan": 5000, "ipam": {"type": "host-local", "subnet": "10.0.0.0/24"}}`, wantErr: ErrInvalidConfig},
		{name: "no ipam", config: `{"type": "macvlan", "master": "eth1"}`, wantErr: ErrNoSubnet},
		{name: "conflist, no plugin has ipam", config: `{"name": "x", "plugins": [{"type": "macvlan"}, {"type": "tuning"}]}`, wantErr: ErrNoSubnet},
		{name: "dhcp", config: `{"type": "macvlan", "ipam": {"type": "dhcp"}}`, wantErr: ErrNoSubnet},
		{name: "whereabouts without range", config: `{"type": "macvlan", "ipam": {"type": "whereabouts", "range_start": "10.0.0.1"}}`, wantErr: ErrNoSubnet},
		{name: "bad subnet", config: `{"type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.0.0.0/33"}}`, wantErr: ErrNoSubnet},
		{name: "host-local range set without subnet", config: `{"type": "macvlan", "ipam": {"type": "host-local", "ranges": [[{"rangeStart": "10.0.0.1"}]]}}`, wantErr: ErrNoSubnet},
		{name: "static without addresses", config: `{"type": "macvlan", "ipam": {"type": "static"}}`, wantErr: ErrNoSubnet},
		{name: "start outside subnet", config: `{"type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.0.0.0/24", "range_start": "10.0.1.1"}}`, wantErr: ErrInvalidConfig},
		{name: "start of the other family", config: `{"type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.0.0.0/24", "range_start": "fd00::1"}}`, wantErr: ErrInvalidConfig},
		{name: "start after end", config: `{"type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.0.0.0/24", "range_start": "10.0.0.9", "range_end": "10.0.0.8"}}`, wantErr: ErrInvalidConfig},
		{name: "gateway not an address", config: `{"type": "macvlan", "ipam": {"type": "host-local", "subnet": "10.0.0.0/24", "gateway": "router"}}`, wantErr: ErrInvalidConfig},
		{name: "zoned address", config: `{"type": "macvlan", "ipam": {"type": "host-local", "subnet": "fe80::/64", "gateway": "fe80::1%eth0"}}`, wantErr: ErrInvalidConfig},
		{name: "bad exclude", config: `{"type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.0.0.0/24", "exclude": ["10.0.0.0/99"]}}`, wantErr: ErrInvalidConfig},
		{name: "dash form without prefix", config: `{"type": "macvlan", "ipam": {"type": "whereabouts", "range": "10.0.0.1-10.0.0.9"}}`, wantErr: ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.config), "nad-name")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				if Reason(err) != Reason(tt.wantErr) {
					t.Errorf("reason %q, want %q", Reason(err), Reason(tt.wantErr))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestReason(t *testing.T) {
	for err, want := range map[error]string{ErrInvalidJSON: "invalid-json", ErrInvalidConfig: "invalid-config", ErrNoSubnet: "no-subnet"} {
		if got := Reason(err); got != want {
			t.Errorf("Reason(%v) = %q, want %q", err, got, want)
		}
	}
}
