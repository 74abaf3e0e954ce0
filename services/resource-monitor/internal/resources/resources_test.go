package resources

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/cniconfig"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

func nad(ns, name, sn, subnet string) NAD {
	return NAD{Namespace: ns, Name: name, Supernet: sn, Network: cniconfig.Network{CNIType: "macvlan", IPAMType: "whereabouts", Subnet: netip.MustParsePrefix(subnet)}}
}

func TestBuild(t *testing.T) {
	vlan := 101
	full := NAD{Namespace: "sdp", Name: "a", Supernet: "vis", Network: cniconfig.Network{
		CNIType: "macvlan", IPAMType: "whereabouts", Master: "eth1", VLAN: &vlan, Subnet: netip.MustParsePrefix("10.50.1.0/24"),
		RangeStart: netip.MustParseAddr("10.50.1.10"), RangeEnd: netip.MustParseAddr("10.50.1.200"),
		Excludes: []string{"10.50.1.100/32"}, Gateway: netip.MustParseAddr("10.50.1.1"),
	}}
	tests := []struct {
		name      string
		nads      []NAD
		want      map[string]configdb.Resource
		snErrors  []string
		nets, sns int
	}{
		{name: "none", want: map[string]configdb.Resource{}},
		{
			name: "two namespaces, one supernet",
			nads: []NAD{full, nad("other", "b", "vis", "10.50.2.0/24")},
			want: map[string]configdb.Resource{
				"network-attachment-definition:sdp:a": configdb.NetworkResource{Namespace: "sdp", Name: "a", CNIType: "macvlan", Master: "eth1", VLAN: &vlan,
					Subnet: "10.50.1.0/24", RangeStart: "10.50.1.10", RangeEnd: "10.50.1.200", Excludes: []string{"10.50.1.100/32"}, Gateway: "10.50.1.1", Supernet: "vis"},
				"network-attachment-definition:other:b": configdb.NetworkResource{Namespace: "other", Name: "b", CNIType: "macvlan", Subnet: "10.50.2.0/24", Supernet: "vis"},
				"supernet:vis":                          configdb.SupernetResource{Name: "vis", CIDR: "10.50.0.0/22", Members: []string{"other/b", "sdp/a"}},
			},
			nets: 2, sns: 1,
		},
		{
			name: "no supernet label: a supernet of its own",
			nads: []NAD{nad("sdp", "solo", "", "10.9.0.0/16")},
			want: map[string]configdb.Resource{
				"network-attachment-definition:sdp:solo": configdb.NetworkResource{Namespace: "sdp", Name: "solo", CNIType: "macvlan", Subnet: "10.9.0.0/16", Supernet: "solo"},
				"supernet:solo":                          configdb.SupernetResource{Name: "solo", CIDR: "10.9.0.0/16", Members: []string{"sdp/solo"}},
			},
			nets: 1, sns: 1,
		},
		{
			name: "mixed families: members keep their entries, the supernet gets none",
			nads: []NAD{nad("sdp", "v4", "mix", "10.0.0.0/24"), nad("sdp", "v6", "mix", "fd00::/64")},
			want: map[string]configdb.Resource{
				"network-attachment-definition:sdp:v4": configdb.NetworkResource{Namespace: "sdp", Name: "v4", CNIType: "macvlan", Subnet: "10.0.0.0/24", Supernet: "mix"},
				"network-attachment-definition:sdp:v6": configdb.NetworkResource{Namespace: "sdp", Name: "v6", CNIType: "macvlan", Subnet: "fd00::/64", Supernet: "mix"},
			},
			snErrors: []string{"mix"},
			nets:     2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Build(tt.nads)
			if !reflect.DeepEqual(d.Entries, tt.want) {
				t.Errorf("entries\n got %#v\nwant %#v", d.Entries, tt.want)
			}
			if d.Networks != tt.nets || d.Supernets != tt.sns {
				t.Errorf("counts %d/%d, want %d/%d", d.Networks, d.Supernets, tt.nets, tt.sns)
			}
			if len(d.SupernetErrors) != len(tt.snErrors) {
				t.Errorf("supernet errors %v, want %v", d.SupernetErrors, tt.snErrors)
			}
			for _, s := range tt.snErrors {
				if d.SupernetErrors[s] == nil {
					t.Errorf("no error for supernet %s", s)
				}
			}
		})
	}
}

func TestDiff(t *testing.T) {
	a := configdb.NetworkResource{Namespace: "sdp", Name: "a", CNIType: "macvlan", Subnet: "10.0.0.0/24", Supernet: "s"}
	aEmptyExcludes := a
	aEmptyExcludes.Excludes = []string{}
	aChanged := a
	aChanged.Gateway = "10.0.0.1"
	s := configdb.SupernetResource{Name: "s", CIDR: "10.0.0.0/24", Members: []string{"sdp/a"}}
	sGrown := configdb.SupernetResource{Name: "s", CIDR: "10.0.0.0/23", Members: []string{"sdp/a", "sdp/b"}}
	tests := []struct {
		name       string
		want       map[string]configdb.Resource
		have       map[string]configdb.Resource
		wantPut    []configdb.Resource
		wantDelete []string
	}{
		{name: "equal: nothing to do", want: map[string]configdb.Resource{a.ID(): a, s.ID(): s}, have: map[string]configdb.Resource{a.ID(): a, s.ID(): s}},
		{name: "empty and missing excludes are alike", want: map[string]configdb.Resource{a.ID(): aEmptyExcludes}, have: map[string]configdb.Resource{a.ID(): a}},
		{name: "new", want: map[string]configdb.Resource{a.ID(): a, s.ID(): s}, have: map[string]configdb.Resource{},
			wantPut: []configdb.Resource{a, s}},
		{name: "changed", want: map[string]configdb.Resource{a.ID(): aChanged, s.ID(): sGrown}, have: map[string]configdb.Resource{a.ID(): a, s.ID(): s},
			wantPut: []configdb.Resource{aChanged, sGrown}},
		{name: "stale", want: map[string]configdb.Resource{}, have: map[string]configdb.Resource{a.ID(): a, s.ID(): s},
			wantDelete: []string{a.ID(), s.ID()}},
		{name: "undecodable is rewritten or removed", want: map[string]configdb.Resource{a.ID(): a},
			have: map[string]configdb.Resource{a.ID(): nil, "supernet:junk": nil}, wantPut: []configdb.Resource{a}, wantDelete: []string{"supernet:junk"}},
		{name: "a kind swapped under a name is rewritten", want: map[string]configdb.Resource{a.ID(): a}, have: map[string]configdb.Resource{a.ID(): s},
			wantPut: []configdb.Resource{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put, del := Diff(tt.want, tt.have)
			if !reflect.DeepEqual(put, tt.wantPut) || !reflect.DeepEqual(del, tt.wantDelete) {
				t.Errorf("put %v del %v, want put %v del %v", put, del, tt.wantPut, tt.wantDelete)
			}
		})
	}
}
