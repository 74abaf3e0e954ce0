// Package resources computes the /resource/ entries the resource-monitor
// owns from the labelled NADs, and the difference between those and what
// the config DB holds. It knows no clients: the mirror reads its input from
// the informer cache and writes its output through the configdb Store.
//
// The mirror computes with it the entries of docs/architecture.md, §3. Who owns which key.
package resources

import (
	"net/netip"
	"slices"
	"sort"

	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/cniconfig"
	"github.com/ska-telescope/sdp-helmdeploy/services/resource-monitor/internal/supernet"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// NAD is a labelled NetworkAttachmentDefinition whose config parsed.
type NAD struct {
	Namespace, Name string
	// Supernet is the value of the supernet label; empty means none, and
	// the NAD is then a supernet of its own, named after it.
	Supernet string
	Network  cniconfig.Network
}

// SupernetName is the supernet the NAD belongs to.
func (n NAD) SupernetName() string {
	if n.Supernet != "" {
		return n.Supernet
	}
	return n.Name
}

// Desired is the set of entries the NADs call for.
type Desired struct {
	// Entries maps entry names (configdb.Resource.ID) to entries.
	Entries map[string]configdb.Resource
	// Networks and Supernets count the entries of each kind.
	Networks, Supernets int
	// SupernetErrors are the supernets that get no entry, and why (members
	// of both IP families). Their members keep their own entries.
	SupernetErrors map[string]error
}

// Build computes the entries for nads: one per NAD, one per supernet with
// its members and covering CIDR.
func Build(nads []NAD) Desired {
	d := Desired{Entries: make(map[string]configdb.Resource, len(nads)+len(nads)/2)}
	type group struct {
		members []string
		subnets []netip.Prefix
	}
	groups := map[string]*group{}
	for _, n := range nads {
		r := networkResource(n)
		d.Entries[r.ID()] = r
		d.Networks++
		sn := n.SupernetName()
		g := groups[sn]
		if g == nil {
			g = &group{}
			groups[sn] = g
		}
		g.members = append(g.members, n.Namespace+"/"+n.Name)
		g.subnets = append(g.subnets, n.Network.Subnet)
	}
	for name, g := range groups {
		cidr, err := supernet.Cover(g.subnets)
		if err != nil {
			if d.SupernetErrors == nil {
				d.SupernetErrors = map[string]error{}
			}
			d.SupernetErrors[name] = err
			continue
		}
		sort.Strings(g.members)
		s := configdb.SupernetResource{Name: name, CIDR: cidr.String(), Members: g.members}
		d.Entries[s.ID()] = s
		d.Supernets++
	}
	return d
}

func networkResource(n NAD) configdb.NetworkResource {
	net := n.Network
	r := configdb.NetworkResource{
		Namespace: n.Namespace,
		Name:      n.Name,
		CNIType:   net.CNIType,
		Master:    net.Master,
		Subnet:    net.Subnet.String(),
		Excludes:  slices.Clone(net.Excludes),
		Supernet:  n.SupernetName(),
	}
	if net.VLAN != nil {
		v := *net.VLAN
		r.VLAN = &v
	}
	if net.RangeStart.IsValid() {
		r.RangeStart = net.RangeStart.String()
	}
	if net.RangeEnd.IsValid() {
		r.RangeEnd = net.RangeEnd.String()
	}
	if net.Gateway.IsValid() {
		r.Gateway = net.Gateway.String()
	}
	return r
}

// Diff returns the entries of want that have differs from (or lacks), and
// the names in have that want lacks. A nil value in have is an entry that
// did not decode: it is rewritten or removed like any other.
func Diff(want, have map[string]configdb.Resource) (put []configdb.Resource, del []string) {
	for id, w := range want {
		if h, ok := have[id]; !ok || !Equal(w, h) {
			put = append(put, w)
		}
	}
	for id := range have {
		if _, ok := want[id]; !ok {
			del = append(del, id)
		}
	}
	// A stable order keeps logs and tests readable.
	sort.Slice(put, func(i, j int) bool { return put[i].ID() < put[j].ID() })
	sort.Strings(del)
	return put, del
}

// Equal reports whether two entries would be stored alike: an empty list
// and a missing one are the same once written.
func Equal(a, b configdb.Resource) bool {
	switch x := a.(type) {
	case configdb.NetworkResource:
		y, ok := b.(configdb.NetworkResource)
		return ok && x.Namespace == y.Namespace && x.Name == y.Name && x.CNIType == y.CNIType && x.Master == y.Master &&
			equalVLAN(x.VLAN, y.VLAN) && x.Subnet == y.Subnet && x.RangeStart == y.RangeStart && x.RangeEnd == y.RangeEnd &&
			slices.Equal(x.Excludes, y.Excludes) && x.Gateway == y.Gateway && x.Supernet == y.Supernet
	case configdb.SupernetResource:
		y, ok := b.(configdb.SupernetResource)
		return ok && x.Name == y.Name && x.CIDR == y.CIDR && slices.Equal(x.Members, y.Members)
	}
	return false
}

func equalVLAN(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
