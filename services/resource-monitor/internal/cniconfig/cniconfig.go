// Package cniconfig reads, from the CNI configuration of a
// NetworkAttachmentDefinition (its spec.config), what a receive script needs
// to place pods on the network: the main plugin's type, master interface and
// VLAN, and its IPAM subnet, allocatable range, excludes and gateway.
//
// The envelope (a single plugin config or a conflist, the plugins' types) is
// parsed by the CNI library (libcni); the plugin-specific fields, which the
// library leaves to each plugin, are decoded here from the plugin's own JSON.
//
// Rules:
//   - A document with a "plugins" key is a conflist; anything else is a
//     single plugin config. A conflist without a "name" gets the NAD's name,
//     as Multus gives it.
//   - The main plugin of a conflist is the first plugin with an "ipam"
//     section (one whose ipam has a type); when none has one, the first
//     plugin, which then has no usable subnet. Chained plugins after it
//     (tuning, bandwidth, sbr, ...) assign no addresses.
//   - IPAM types read: whereabouts ("range" as CIDR or "start-end/prefix",
//     "range_start", "range_end", "exclude", "gateway"; else the first of
//     "ipRanges"), host-local (the first range of the first range set of
//     "ranges", else the older top-level "subnet", "rangeStart", "rangeEnd",
//     "gateway") and static (the first of "addresses" and its gateway; a
//     static network has no allocatable range). Any other IPAM type has no
//     usable subnet.
//   - Addresses are checked the way the plugins would: range bounds and
//     gateway inside the subnet and of its family, start not after end,
//     excludes valid CIDRs or addresses. A config that fails is rejected
//     whole: a wrong entry would place pods wrongly, no entry only delays
//     them.
//   - Values are reported as configured, not completed with the plugins'
//     defaults (a host-local range without rangeStart reports none): what
//     the defaults are is the plugin's business and differs between them.
//
// The mirror parses each NAD with it (the NADs it mirrors: docs/architecture.md, §4. From an entry to a release and a state).
package cniconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

// Errors say why a config has no entry; Reason names them for metrics.
var (
	// ErrInvalidJSON: spec.config is not JSON at all.
	ErrInvalidJSON = errors.New("config is not valid JSON")
	// ErrInvalidConfig: JSON, but not a CNI config the plugins would accept.
	ErrInvalidConfig = errors.New("invalid CNI config")
	// ErrNoSubnet: a valid config whose main plugin gives no subnet.
	ErrNoSubnet = errors.New("no usable subnet")
)

// Reason is a short, fixed name for the class of a Parse error, for a
// metric label: invalid-json, invalid-config or no-subnet.
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrInvalidJSON):
		return "invalid-json"
	case errors.Is(err, ErrNoSubnet):
		return "no-subnet"
	default:
		return "invalid-config"
	}
}

// Network is what a NAD's config says about its network.
type Network struct {
	// CNIType is the main plugin's type (macvlan, ipvlan, ...).
	CNIType string
	// IPAMType is the main plugin's IPAM type (whereabouts, host-local, static).
	IPAMType string
	// Master is the host interface, if the plugin names one.
	Master string
	// VLAN is the VLAN id ("vlan", or the vlan plugin's "vlanId"), if any.
	VLAN *int
	// Subnet is the network's CIDR, host bits cleared.
	Subnet netip.Prefix
	// RangeStart and RangeEnd bound the allocatable addresses, inclusive;
	// invalid (zero) when not configured.
	RangeStart, RangeEnd netip.Addr
	// Excludes are the addresses or CIDRs not to allocate, as configured
	// (normalised); nil when none.
	Excludes []string
	// Gateway is invalid (zero) when not configured.
	Gateway netip.Addr
}

// plugin is the part of a plugin's config this package reads.
type plugin struct {
	Type   string `json:"type"`
	Master string `json:"master"`
	VLAN   *int   `json:"vlan"`
	VLANID *int   `json:"vlanId"`
	IPAM   *ipam  `json:"ipam"`
}

type ipam struct {
	Type string `json:"type"`

	// whereabouts
	Range      string             `json:"range"`
	RangeStart string             `json:"range_start"`
	RangeEnd   string             `json:"range_end"`
	Exclude    []string           `json:"exclude"`
	IPRanges   []whereaboutsRange `json:"ipRanges"`

	// host-local; Gateway is whereabouts' too.
	Ranges      [][]hostLocalRange `json:"ranges"`
	Subnet      string             `json:"subnet"`
	RangeStartH string             `json:"rangeStart"`
	RangeEndH   string             `json:"rangeEnd"`
	Gateway     string             `json:"gateway"`

	// static
	Addresses []staticAddress `json:"addresses"`
}

type whereaboutsRange struct {
	Range      string   `json:"range"`
	RangeStart string   `json:"range_start"`
	RangeEnd   string   `json:"range_end"`
	Exclude    []string `json:"exclude"`
}

type hostLocalRange struct {
	Subnet     string `json:"subnet"`
	RangeStart string `json:"rangeStart"`
	RangeEnd   string `json:"rangeEnd"`
	Gateway    string `json:"gateway"`
}

type staticAddress struct {
	Address string `json:"address"`
	Gateway string `json:"gateway"`
}

// Parse reads a NAD's spec.config; name is the NAD's name, used as the
// network name when a conflist has none.
func Parse(config []byte, name string) (Network, error) {
	raw, err := mainPlugin(config, name)
	if err != nil {
		return Network{}, err
	}
	var p plugin
	if err := json.Unmarshal(raw, &p); err != nil {
		return Network{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	n := Network{CNIType: p.Type, Master: p.Master}
	switch {
	case p.VLAN != nil:
		n.VLAN = p.VLAN
	case p.VLANID != nil:
		n.VLAN = p.VLANID
	}
	if n.VLAN != nil && (*n.VLAN < 0 || *n.VLAN > 4094) {
		return Network{}, fmt.Errorf("%w: vlan %d out of 0-4094", ErrInvalidConfig, *n.VLAN)
	}
	if p.IPAM == nil || p.IPAM.Type == "" {
		return Network{}, fmt.Errorf("%w: plugin %q has no ipam", ErrNoSubnet, p.Type)
	}
	n.IPAMType = p.IPAM.Type
	var r addrs
	switch p.IPAM.Type {
	case "whereabouts":
		r, err = whereabouts(p.IPAM)
	case "host-local":
		r, err = hostLocal(p.IPAM)
	case "static":
		r, err = static(p.IPAM)
	default:
		return Network{}, fmt.Errorf("%w: ipam type %q is not one this service reads (whereabouts, host-local, static)", ErrNoSubnet, p.IPAM.Type)
	}
	if err != nil {
		return Network{}, err
	}
	if err := r.fill(&n); err != nil {
		return Network{}, err
	}
	return n, nil
}

// mainPlugin returns the raw JSON of the plugin whose network this is.
func mainPlugin(config []byte, name string) ([]byte, error) {
	config = bytes.TrimSpace(config)
	if len(config) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrInvalidJSON)
	}
	if !json.Valid(config) {
		// The decoder's message says where it went wrong.
		var v any
		return nil, fmt.Errorf("%w: %w", ErrInvalidJSON, json.Unmarshal(config, &v))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(config, &top); err != nil || top == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidConfig)
	}
	if _, isList := top["plugins"]; !isList {
		conf, err := libcni.NetworkPluginConfFromBytes(config)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		return conf.Bytes, nil
	}
	if _, named := top["name"]; !named {
		n, _ := json.Marshal(name)
		top["name"] = n
		var err error
		if config, err = json.Marshal(top); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	list, err := libcni.ConfListFromBytes(config)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	for _, p := range list.Plugins {
		if !p.Network.IPAM.IsEmpty() {
			return p.Bytes, nil
		}
	}
	// ConfListFromBytes refuses an empty list.
	return list.Plugins[0].Bytes, nil
}

// addrs are an IPAM section's addresses, unparsed.
type addrs struct {
	subnet, start, end, gateway string
	excludes                    []string
}

func whereabouts(c *ipam) (addrs, error) {
	r := whereaboutsRange{Range: c.Range, RangeStart: c.RangeStart, RangeEnd: c.RangeEnd, Exclude: c.Exclude}
	if r.Range == "" && len(c.IPRanges) > 0 {
		r = c.IPRanges[0]
	}
	if r.Range == "" {
		return addrs{}, fmt.Errorf("%w: whereabouts ipam has no range", ErrNoSubnet)
	}
	a := addrs{subnet: r.Range, start: r.RangeStart, end: r.RangeEnd, gateway: c.Gateway, excludes: r.Exclude}
	// "start-end/prefix" names the range and the subnet at once.
	if first, rest, ok := strings.Cut(r.Range, "-"); ok {
		last, bits, ok := strings.Cut(rest, "/")
		if !ok {
			return addrs{}, fmt.Errorf("%w: whereabouts range %q: want start-end/prefix", ErrInvalidConfig, r.Range)
		}
		a.subnet, a.start, a.end = last+"/"+bits, first, last
	}
	return a, nil
}

func hostLocal(c *ipam) (addrs, error) {
	if len(c.Ranges) > 0 && len(c.Ranges[0]) > 0 {
		r := c.Ranges[0][0]
		if r.Subnet == "" {
			return addrs{}, fmt.Errorf("%w: host-local range without subnet", ErrNoSubnet)
		}
		return addrs{subnet: r.Subnet, start: r.RangeStart, end: r.RangeEnd, gateway: r.Gateway}, nil
	}
	if c.Subnet == "" {
		return addrs{}, fmt.Errorf("%w: host-local ipam has no ranges and no subnet", ErrNoSubnet)
	}
	return addrs{subnet: c.Subnet, start: c.RangeStartH, end: c.RangeEndH, gateway: c.Gateway}, nil
}

func static(c *ipam) (addrs, error) {
	if len(c.Addresses) == 0 || c.Addresses[0].Address == "" {
		return addrs{}, fmt.Errorf("%w: static ipam has no addresses", ErrNoSubnet)
	}
	return addrs{subnet: c.Addresses[0].Address, gateway: c.Addresses[0].Gateway}, nil
}

// fill parses and checks the addresses into n.
func (a addrs) fill(n *Network) error {
	subnet, err := netip.ParsePrefix(strings.TrimSpace(a.subnet))
	if err != nil {
		return fmt.Errorf("%w: subnet %q: %w", ErrNoSubnet, a.subnet, err)
	}
	n.Subnet = subnet.Masked()
	in := func(field, s string) (netip.Addr, error) {
		if s == "" {
			return netip.Addr{}, nil
		}
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		switch {
		case err != nil:
			return ip, fmt.Errorf("%w: %s %q: %w", ErrInvalidConfig, field, s, err)
		case ip.Zone() != "":
			return ip, fmt.Errorf("%w: %s %q: a zone has no place here", ErrInvalidConfig, field, s)
		case !n.Subnet.Contains(ip):
			return ip, fmt.Errorf("%w: %s %s is outside subnet %s", ErrInvalidConfig, field, ip, n.Subnet)
		}
		return ip, nil
	}
	if n.RangeStart, err = in("range start", a.start); err != nil {
		return err
	}
	if n.RangeEnd, err = in("range end", a.end); err != nil {
		return err
	}
	if n.RangeStart.IsValid() && n.RangeEnd.IsValid() && n.RangeEnd.Less(n.RangeStart) {
		return fmt.Errorf("%w: range start %s after range end %s", ErrInvalidConfig, n.RangeStart, n.RangeEnd)
	}
	if n.Gateway, err = in("gateway", a.gateway); err != nil {
		return err
	}
	for _, e := range a.excludes {
		s, err := exclude(e)
		if err != nil {
			return err
		}
		n.Excludes = append(n.Excludes, s)
	}
	return nil
}

func exclude(s string) (string, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.String(), nil
	}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Zone() == "" {
		return ip.String(), nil
	}
	return "", fmt.Errorf("%w: exclude %q is neither a CIDR nor an address", ErrInvalidConfig, s)
}
