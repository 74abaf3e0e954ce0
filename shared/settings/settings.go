// Package settings reads the SDP_* environment every service and the CLI
// share into a typed value, and builds the etcd client of the config DB from
// it. The config DB contract itself (keys, JSON shapes, Store) is in
// configdb; this package only says where that database is and how to reach
// it.
package settings

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Env is the SDP_* environment shared by all services, with the names and
// defaults of the Python deployer so that charts and operators carry over.
type Env struct {
	ConfigHost     string // SDP_CONFIG_HOST, 127.0.0.1
	ConfigPort     int    // SDP_CONFIG_PORT, 2379
	ConfigProtocol string // SDP_CONFIG_PROTOCOL, http (or https)
	// ConfigCert is SDP_CONFIG_CERT, a PEM file for https: the client
	// identity when it holds a private key (as the Python stack used it),
	// else the CA bundle that verifies etcd (see TLSConfig).
	ConfigCert string
	// ConfigCA is SDP_CONFIG_CA, a CA bundle for https besides a client
	// identity in SDP_CONFIG_CERT; an extension of ours.
	ConfigCA string
	// ConfigInsecureSkipVerify is SDP_CONFIG_INSECURE_SKIP_VERIFY (false):
	// true accepts any certificate etcd shows. The Python stack's client
	// did not verify etcd's certificate; a site switching whose etcd
	// certificate is not signed by a CA it can give (SDP_CONFIG_CERT
	// holding only certificates, or SDP_CONFIG_CA) must set this to true
	// to connect as before, and should rather give the CA.
	ConfigInsecureSkipVerify bool
	ConfigUsername           string // SDP_CONFIG_USERNAME
	ConfigPassword           string // SDP_CONFIG_PASSWORD
	// ConfigPrefix is the global key prefix (SDP_CONFIG_PREFIX, empty); an
	// extension of ours, used by tests that share one etcd.
	ConfigPrefix string

	HelmNamespace    string        // SDP_HELM_NAMESPACE, sdp
	HelmPrefix       string        // SDP_HELM_PREFIX, empty
	HelmTimeout      time.Duration // SDP_HELM_TIMEOUT, 300 s
	ChartRepoURL     string        // SDP_CHART_REPO_URL
	ChartRepoRefresh time.Duration // SDP_CHART_REPO_REFRESH, 300 s
	LogLevel         string        // SDP_LOG_LEVEL, INFO
}

// Default is the environment with nothing set.
func Default() Env {
	return Env{
		ConfigHost:       "127.0.0.1",
		ConfigPort:       2379,
		ConfigProtocol:   "http",
		HelmNamespace:    "sdp",
		HelmTimeout:      300 * time.Second,
		ChartRepoRefresh: 300 * time.Second,
		LogLevel:         "INFO",
	}
}

// Load reads the SDP_* variables from the process environment.
func Load() (Env, error) { return Parse(os.LookupEnv) }

// Parse reads the SDP_* variables through lookup. Every bad value is
// reported, by name, in one error.
func Parse(lookup func(string) (string, bool)) (Env, error) {
	e := Default()
	var errs []string
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok {
			*dst = v
		}
	}
	seconds := func(name string, dst *time.Duration) {
		v, ok := lookup(name)
		if !ok || v == "" {
			return
		}
		d, err := ParseSeconds(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q: %v", name, v, err))
			return
		}
		*dst = d
	}
	str("SDP_CONFIG_HOST", &e.ConfigHost)
	if v, ok := lookup("SDP_CONFIG_PORT"); ok && v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			errs = append(errs, fmt.Sprintf("SDP_CONFIG_PORT=%q: not a port number", v))
		} else {
			e.ConfigPort = p
		}
	}
	str("SDP_CONFIG_PROTOCOL", &e.ConfigProtocol)
	e.ConfigProtocol = strings.ToLower(e.ConfigProtocol)
	if e.ConfigProtocol != "http" && e.ConfigProtocol != "https" {
		errs = append(errs, fmt.Sprintf("SDP_CONFIG_PROTOCOL=%q: must be http or https", e.ConfigProtocol))
	}
	str("SDP_CONFIG_CERT", &e.ConfigCert)
	str("SDP_CONFIG_CA", &e.ConfigCA)
	if v, ok := lookup("SDP_CONFIG_INSECURE_SKIP_VERIFY"); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("SDP_CONFIG_INSECURE_SKIP_VERIFY=%q: must be true or false", v))
		} else {
			e.ConfigInsecureSkipVerify = b
		}
	}
	str("SDP_CONFIG_USERNAME", &e.ConfigUsername)
	str("SDP_CONFIG_PASSWORD", &e.ConfigPassword)
	str("SDP_CONFIG_PREFIX", &e.ConfigPrefix)
	if _, err := configdb.NewLayout(e.ConfigPrefix); err != nil {
		errs = append(errs, "SDP_CONFIG_PREFIX: "+err.Error())
	}
	str("SDP_HELM_NAMESPACE", &e.HelmNamespace)
	str("SDP_HELM_PREFIX", &e.HelmPrefix)
	seconds("SDP_HELM_TIMEOUT", &e.HelmTimeout)
	str("SDP_CHART_REPO_URL", &e.ChartRepoURL)
	seconds("SDP_CHART_REPO_REFRESH", &e.ChartRepoRefresh)
	str("SDP_LOG_LEVEL", &e.LogLevel)
	if e.HelmNamespace == "" {
		errs = append(errs, "SDP_HELM_NAMESPACE: must not be empty")
	}
	if len(errs) > 0 {
		return e, fmt.Errorf("bad environment: %s", strings.Join(errs, "; "))
	}
	return e, nil
}

// ParseSeconds reads a duration given as seconds ("300", "2.5"), as the
// Python deployer took them, or as a Go duration ("5m").
func ParseSeconds(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 {
			return 0, fmt.Errorf("must not be negative")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("not a number of seconds or a duration such as 5m")
	}
	if d < 0 {
		return 0, fmt.Errorf("must not be negative")
	}
	return d, nil
}

// Endpoints are the etcd endpoint URLs the environment names.
func (e Env) Endpoints() []string { return []string{e.Endpoint()} }

// Endpoint is the etcd endpoint URL the environment names.
func (e Env) Endpoint() string {
	return fmt.Sprintf("%s://%s", e.ConfigProtocol, joinHostPort(e.ConfigHost, e.ConfigPort))
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}
