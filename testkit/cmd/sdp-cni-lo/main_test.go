package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// What the reference loopback plugin (1.1) prints for a pod's namespace.
const loopbackResult = `{"cniVersion":"1.0.0","interfaces":[{"name":"lo","mac":"00:00:00:00:00:00","sandbox":"/var/run/netns/cni-1"}],"ips":[{"interface":0,"address":"127.0.0.1/8"},{"interface":0,"address":"::1/128"}]}`

func TestRename(t *testing.T) {
	tests := []struct {
		name    string
		prev    string
		wantErr string
	}{
		{name: "loopback's result", prev: loopbackResult},
		{name: "no loopback interface", prev: `{"cniVersion":"1.0.0","interfaces":[{"name":"eth1"}],"ips":[]}`, wantErr: "no interface named lo"},
		{name: "not a result", prev: `{"cniVersion":"1.0.0","ips":"x"}`, wantErr: "previous result"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf := &types.PluginConf{CNIVersion: "1.0.0", Name: "sdp-loopback", Type: "sdp-cni-lo"}
			var raw map[string]any
			if err := json.Unmarshal([]byte(tc.prev), &raw); err != nil {
				t.Fatal(err)
			}
			conf.RawPrevResult = raw
			res, err := rename(conf, "eth0", "/var/run/netns/cni-1")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Interfaces) != 1 || res.Interfaces[0].Name != "eth0" || res.Interfaces[0].Sandbox == "" {
				t.Fatalf("interfaces = %+v, want one eth0 with its sandbox", res.Interfaces)
			}
			if len(res.IPs) != 2 || res.IPs[0].Address.IP.String() != "127.0.0.1" || *res.IPs[0].Interface != 0 {
				t.Fatalf("ips = %+v, want loopback's addresses on interface 0", res.IPs)
			}
		})
	}
}

// Whatever the plugin before it printed, rename never panics, and what it
// returns names the runtime's interface and keeps its addresses on it.
func FuzzRename(f *testing.F) {
	f.Add([]byte(loopbackResult))
	f.Add([]byte(`{"cniVersion":"1.0.0","interfaces":[{"name":"lo"},{"name":"lo"}],"ips":[{"interface":1,"address":"127.0.0.1/8"}]}`))
	f.Add([]byte(`{"cniVersion":"0.4.0","interfaces":[{"name":"lo"}],"ips":[{"version":"4","interface":0,"address":"127.0.0.1/8"}]}`))
	f.Fuzz(func(t *testing.T, prev []byte) {
		var raw map[string]any
		if json.Unmarshal(prev, &raw) != nil {
			return
		}
		conf := &types.PluginConf{CNIVersion: "1.0.0", Name: "sdp-loopback", Type: "sdp-cni-lo", RawPrevResult: raw}
		res, err := rename(conf, "eth0", "/var/run/netns/cni-1")
		if err != nil {
			return
		}
		named := false
		for _, iface := range res.Interfaces {
			if iface.Name == "lo" {
				t.Fatalf("an interface still named lo: %+v", res.Interfaces)
			}
			named = named || iface.Name == "eth0"
		}
		if !named {
			t.Fatalf("no eth0 in %+v", res.Interfaces)
		}
	})
}
