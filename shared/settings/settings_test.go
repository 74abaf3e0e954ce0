package settings

import (
	"strings"
	"testing"
	"time"
)

func lookupFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseDefaults(t *testing.T) {
	e, err := Parse(lookupFrom(nil))
	if err != nil {
		t.Fatal(err)
	}
	if e != Default() {
		t.Errorf("got %+v", e)
	}
	if e.Endpoint() != "http://127.0.0.1:2379" || e.HelmNamespace != "sdp" || e.HelmTimeout != 300*time.Second ||
		e.ChartRepoRefresh != 300*time.Second || e.HelmPrefix != "" {
		t.Errorf("defaults differ from the Python deployer's: %+v", e)
	}
}

func TestParseValues(t *testing.T) {
	e, err := Parse(lookupFrom(map[string]string{
		"SDP_CONFIG_HOST": "::1", "SDP_CONFIG_PORT": "2400", "SDP_CONFIG_PROTOCOL": "HTTPS",
		"SDP_CONFIG_CERT": "/ca.pem", "SDP_CONFIG_USERNAME": "u", "SDP_CONFIG_PASSWORD": "p",
		"SDP_HELM_NAMESPACE": "proc", "SDP_HELM_PREFIX": "sdp", "SDP_HELM_TIMEOUT": "2.5",
		"SDP_CHART_REPO_URL": "http://repo", "SDP_CHART_REPO_REFRESH": "1m", "SDP_LOG_LEVEL": "debug",
		"SDP_CONFIG_PREFIX": "/test", "SDP_CONFIG_CA": "/ca2.pem", "SDP_CONFIG_INSECURE_SKIP_VERIFY": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if e.Endpoint() != "https://[::1]:2400" || e.ConfigCert != "/ca.pem" || e.ConfigUsername != "u" || e.ConfigPassword != "p" ||
		e.HelmNamespace != "proc" || e.HelmPrefix != "sdp" || e.HelmTimeout != 2500*time.Millisecond ||
		e.ChartRepoURL != "http://repo" || e.ChartRepoRefresh != time.Minute || e.LogLevel != "debug" || e.ConfigPrefix != "/test" ||
		e.ConfigCA != "/ca2.pem" || !e.ConfigInsecureSkipVerify {
		t.Errorf("got %+v", e)
	}
}

func TestParseErrors(t *testing.T) {
	_, err := Parse(lookupFrom(map[string]string{
		"SDP_CONFIG_PORT": "http", "SDP_CONFIG_PROTOCOL": "grpc", "SDP_HELM_TIMEOUT": "-1",
		"SDP_CHART_REPO_REFRESH": "soon", "SDP_HELM_NAMESPACE": "", "SDP_CONFIG_PREFIX": "x",
		"SDP_CONFIG_INSECURE_SKIP_VERIFY": "maybe",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, name := range []string{"SDP_CONFIG_PORT", "SDP_CONFIG_PROTOCOL", "SDP_HELM_TIMEOUT", "SDP_CHART_REPO_REFRESH", "SDP_HELM_NAMESPACE", "SDP_CONFIG_PREFIX", "SDP_CONFIG_INSECURE_SKIP_VERIFY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestParseEndpoints(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // comma-separated; "" when refused
		err  string // in the error when refused
	}{
		{"default", nil, "http://127.0.0.1:2379", ""},
		{"one host", map[string]string{"SDP_CONFIG_HOST": "etcd"}, "http://etcd:2379", ""},
		{"hosts with the port", map[string]string{"SDP_CONFIG_HOST": "etcd-0, etcd-1,etcd-2", "SDP_CONFIG_PORT": "2400"},
			"http://etcd-0:2400,http://etcd-1:2400,http://etcd-2:2400", ""},
		{"hosts with their own ports", map[string]string{"SDP_CONFIG_HOST": "a:1,b,[::1]:3,::2,[fe80::1]"},
			"http://a:1,http://b:2379,http://[::1]:3,http://[::2]:2379,http://[fe80::1]:2379", ""},
		{"https hosts", map[string]string{"SDP_CONFIG_HOST": "a,b", "SDP_CONFIG_PROTOCOL": "https"}, "https://a:2379,https://b:2379", ""},
		{"empty item", map[string]string{"SDP_CONFIG_HOST": "a,,b"}, "", "empty host"},
		{"empty host", map[string]string{"SDP_CONFIG_HOST": ""}, "", "SDP_CONFIG_HOST"},
		{"bad port in host", map[string]string{"SDP_CONFIG_HOST": "a:99999"}, "", `"a:99999": port`},
		{"URL in host", map[string]string{"SDP_CONFIG_HOST": "http://a:2379"}, "", "SDP_CONFIG_ENDPOINTS"},
		{"endpoints", map[string]string{"SDP_CONFIG_ENDPOINTS": "https://e0:2379, https://e1:2380,https://[::1]"},
			"https://e0:2379,https://e1:2380,https://[::1]:2379", ""},
		{"endpoints replace host", map[string]string{"SDP_CONFIG_HOST": "ignored", "SDP_CONFIG_ENDPOINTS": "http://e0:1"}, "http://e0:1", ""},
		{"endpoints and agreeing protocol", map[string]string{"SDP_CONFIG_PROTOCOL": "https", "SDP_CONFIG_ENDPOINTS": "https://e0:1"}, "https://e0:1", ""},
		{"endpoints and other protocol", map[string]string{"SDP_CONFIG_PROTOCOL": "http", "SDP_CONFIG_ENDPOINTS": "https://e0:1"}, "", "one protocol"},
		{"endpoints mixing schemes", map[string]string{"SDP_CONFIG_ENDPOINTS": "https://e0:1,http://e1:1"}, "", "one protocol"},
		{"endpoint without scheme", map[string]string{"SDP_CONFIG_ENDPOINTS": "e0:2379"}, "", "SDP_CONFIG_ENDPOINTS"},
		{"endpoint with a path", map[string]string{"SDP_CONFIG_ENDPOINTS": "http://e0:1/v3"}, "", "only scheme, host and port"},
		{"endpoint with a user", map[string]string{"SDP_CONFIG_ENDPOINTS": "http://u:p@e0:1"}, "", "only scheme, host and port"},
		{"endpoint bad port", map[string]string{"SDP_CONFIG_ENDPOINTS": "http://e0:0"}, "", "port"},
		{"endpoint no host", map[string]string{"SDP_CONFIG_ENDPOINTS": "http://:2379"}, "", "no host"},
		{"endpoints empty item", map[string]string{"SDP_CONFIG_ENDPOINTS": "http://e0:1,"}, "", "SDP_CONFIG_ENDPOINTS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(lookupFrom(tt.env))
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(e.Endpoints(), ","); got != tt.want {
				t.Errorf("endpoints %s, want %s", got, tt.want)
			}
		})
	}
}
