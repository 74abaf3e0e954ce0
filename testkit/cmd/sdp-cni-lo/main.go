// Command sdp-cni-lo is a chained CNI plugin for the local real node
// (testkit/localcp): it follows the reference `loopback` plugin and only
// renames the interface of its result from "lo" to the one the runtime asked
// for (CNI_IFNAME, "eth0").
//
// Why: the local node's pods may reach nothing but loopback (no bridge, no
// pod network, no private-range address), so a pod's network namespace holds
// only `lo`, which `loopback` brings up. containerd's CRI, though, reads the
// pod's IP from the result's interface named CNI_IFNAME and fails the
// sandbox ("failed to find network info for sandbox") when there is none.
// Renaming lo in the result, not in the namespace, gives it 127.0.0.1 as the
// pod IP and leaves the namespace as loopback made it.
package main

import (
	"encoding/json"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{Add: add, Del: nothing, Check: nothing},
		version.PluginSupports("0.4.0", "1.0.0", "1.1.0"), "sdp-cni-lo: loopback's result as CNI_IFNAME")
}

func add(args *skel.CmdArgs) error {
	conf := new(types.PluginConf)
	if err := json.Unmarshal(args.StdinData, conf); err != nil {
		return fmt.Errorf("sdp-cni-lo: parse config: %w", err)
	}
	if conf.RawPrevResult == nil {
		return fmt.Errorf("sdp-cni-lo: no previous result: chain it after the loopback plugin")
	}
	prev, err := rename(conf, args.IfName, args.Netns)
	if err != nil {
		return err
	}
	return types.PrintResult(prev, conf.CNIVersion)
}

// rename returns the previous result with its loopback interface named
// ifName; a result with no loopback interface is an error, since the pod
// would then have no address at all.
func rename(conf *types.PluginConf, ifName, netns string) (*current.Result, error) {
	if err := version.ParsePrevResult(conf); err != nil {
		return nil, fmt.Errorf("sdp-cni-lo: previous result: %w", err)
	}
	res, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return nil, fmt.Errorf("sdp-cni-lo: previous result: %w", err)
	}
	found := false
	for _, iface := range res.Interfaces {
		if iface.Name == "lo" {
			iface.Name = ifName
			if iface.Sandbox == "" {
				iface.Sandbox = netns
			}
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("sdp-cni-lo: previous result has no interface named lo")
	}
	return res, nil
}

// nothing: the plugin made nothing, so there is nothing to delete or check.
func nothing(*skel.CmdArgs) error { return nil }
