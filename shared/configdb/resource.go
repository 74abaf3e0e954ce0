package configdb

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Resource entries live directly under /resource/. Their key names say what
// they describe; the resource-monitor owns exactly the entries whose names
// start with these kinds and touches nothing else under /resource/.
//
// The key format of the real SDP is not public: this is ours, kept here so
// that a change of format is one change.
const (
	ResourceKindNetwork  = "network-attachment-definition"
	ResourceKindSupernet = "supernet"
)

// NetworkResource describes one NetworkAttachmentDefinition available for
// allocation: what a receive script needs to place pods on it. Stored at
// /resource/network-attachment-definition:<namespace>:<name>.
type NetworkResource struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// CNIType is the type of the main CNI plugin (macvlan, ipvlan, ...).
	CNIType string `json:"cni_type"`
	// Master is the host interface the plugin attaches to, if any.
	Master string `json:"master,omitempty"`
	// VLAN is the VLAN id, if the plugin has one.
	VLAN *int `json:"vlan,omitempty"`
	// Subnet is the network's CIDR.
	Subnet string `json:"subnet"`
	// RangeStart and RangeEnd bound the allocatable addresses, inclusive.
	RangeStart string `json:"range_start,omitempty"`
	RangeEnd   string `json:"range_end,omitempty"`
	// Excludes are addresses or CIDRs in the range not to allocate.
	Excludes []string `json:"excludes,omitempty"`
	Gateway  string   `json:"gateway,omitempty"`
	// Supernet names the supernet this network belongs to.
	Supernet string `json:"supernet"`
}

// ID is the entry's name under /resource/.
func (n NetworkResource) ID() string {
	return NetworkResourceID(n.Namespace, n.Name)
}

// NetworkResourceID is the entry name of the NAD namespace/name.
func NetworkResourceID(namespace, name string) string {
	return ResourceKindNetwork + ":" + namespace + ":" + name
}

// SupernetResource describes a supernet: the smallest CIDR covering all its
// member networks. Stored at /resource/supernet:<name>.
type SupernetResource struct {
	Name string `json:"name"`
	CIDR string `json:"cidr"`
	// Members are the member networks as "<namespace>/<name>", sorted.
	Members []string `json:"members"`
}

// ID is the entry's name under /resource/.
func (s SupernetResource) ID() string { return SupernetResourceID(s.Name) }

// SupernetResourceID is the entry name of a supernet.
func SupernetResourceID(name string) string { return ResourceKindSupernet + ":" + name }

// Resource is an entry the resource-monitor writes.
type Resource interface {
	ID() string
}

// ResourcePath is the logical path of a resource entry.
func ResourcePath(id string) string { return ResourceDir + id }

// IsOwnedResourceID reports whether a /resource/ entry name is one the
// resource-monitor writes (and so may remove).
func IsOwnedResourceID(id string) bool {
	kind, _, _ := strings.Cut(id, ":")
	return kind == ResourceKindNetwork || kind == ResourceKindSupernet
}

func encodeResource(r Resource) ([]byte, error) {
	switch t := r.(type) {
	case NetworkResource:
		if t.Excludes != nil {
			t.Excludes = append([]string(nil), t.Excludes...)
		}
		return encodeValue(t)
	case SupernetResource:
		t.Members = append([]string{}, t.Members...)
		sort.Strings(t.Members)
		return encodeValue(t)
	}
	return nil, fmt.Errorf("encode resource: unsupported type %T", r)
}

// DecodeResource decodes a resource entry by the kind its id names.
func DecodeResource(id string, data []byte) (Resource, error) {
	kind, _, _ := strings.Cut(id, ":")
	switch kind {
	case ResourceKindNetwork:
		var n NetworkResource
		if err := json.Unmarshal(data, &n); err != nil {
			return nil, fmt.Errorf("resource %s: %w", id, err)
		}
		return n, nil
	case ResourceKindSupernet:
		var s SupernetResource
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("resource %s: %w", id, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("resource %s: not a kind this deployer writes", id)
}
