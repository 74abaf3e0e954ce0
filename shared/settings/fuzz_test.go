package settings

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParse: whatever the environment holds, Parse answers with settings
// or an error, never a panic, and settings it accepts name endpoints the
// etcd client can dial.
func FuzzParse(f *testing.F) {
	f.Add("127.0.0.1", "2379", "http", "", "300", "false")
	f.Add("a, b:1,[::1]:2,::3", "2400", "HTTPS", "", "2.5", "true")
	f.Add("x", "", "", "https://e0:2379,https://e1", "5m", "1")
	f.Add("", "0", "grpc", "e0:2379,,http://u@x/y", "-1", "maybe")
	f.Fuzz(func(t *testing.T, host, port, protocol, endpoints, timeout, skip string) {
		m := map[string]string{"SDP_CONFIG_HOST": host, "SDP_CONFIG_PORT": port, "SDP_CONFIG_PROTOCOL": protocol,
			"SDP_CONFIG_ENDPOINTS": endpoints, "SDP_HELM_TIMEOUT": timeout, "SDP_CONFIG_INSECURE_SKIP_VERIFY": skip}
		e, err := Parse(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		eps := e.Endpoints()
		if len(eps) == 0 {
			t.Fatalf("accepted with no endpoints: %+v", e)
		}
		for _, ep := range eps {
			u, err := url.Parse(ep)
			if err != nil || u.Scheme != e.ConfigProtocol || u.Hostname() == "" || u.Port() == "" || strings.Contains(ep, ",") {
				t.Fatalf("endpoint %q of %+v does not dial: %v", ep, e, err)
			}
		}
		if e.HelmTimeout < 0 {
			t.Fatalf("negative timeout %v", e.HelmTimeout)
		}
	})
}
