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
