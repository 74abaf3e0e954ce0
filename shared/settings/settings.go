// Package settings reads the SDP_* environment every service and the CLI
// share into a typed value, and builds the etcd client of the config DB from
// it. The config DB contract itself (keys, JSON shapes, Store) is in
// configdb; this package only says where that database is and how to reach
// it.
//
// service and sdpctl read it once at start; why once: docs/architecture.md, §5. Why it is built this way.
package settings

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
)

// Env is the SDP_* environment shared by all services, with the names and
// defaults of the Python deployer so that charts and operators carry over.
type Env struct {
	// ConfigHost is SDP_CONFIG_HOST (127.0.0.1): one etcd host, or the
	// members of a cluster comma-separated, each optionally host:port
	// ([v6-address]:port) where its port is not SDP_CONFIG_PORT.
	ConfigHost     string
	ConfigPort     int    // SDP_CONFIG_PORT, 2379
	ConfigProtocol string // SDP_CONFIG_PROTOCOL, http (or https)
	// ConfigEndpoints is SDP_CONFIG_ENDPOINTS, an extension of ours: etcd
	// client URLs, comma-separated (https://etcd-0:2379,https://etcd-1:2379),
	// as etcdctl's --endpoints takes them. When set, it replaces
	// SDP_CONFIG_HOST and SDP_CONFIG_PORT, and its scheme is the protocol.
	ConfigEndpoints string
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
	str("SDP_CONFIG_ENDPOINTS", &e.ConfigEndpoints)
	if strings.TrimSpace(e.ConfigEndpoints) != "" {
		// The URLs say the protocol; SDP_CONFIG_PROTOCOL, when given too,
		// must agree (ParseEndpoints checks).
		if _, given := lookup("SDP_CONFIG_PROTOCOL"); !given {
			if u, err := url.Parse(strings.TrimSpace(strings.Split(e.ConfigEndpoints, ",")[0])); err == nil {
				e.ConfigProtocol = strings.ToLower(u.Scheme)
			}
		}
	}
	if _, err := e.ParseEndpoints(); err != nil {
		errs = append(errs, err.Error())
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

// ParseEndpoints returns the etcd client URLs the environment names:
// SDP_CONFIG_ENDPOINTS when set, else each host of SDP_CONFIG_HOST with
// SDP_CONFIG_PROTOCOL and, unless the host gives its own, SDP_CONFIG_PORT.
// The error names the setting and the item that is wrong.
func (e Env) ParseEndpoints() ([]string, error) {
	if strings.TrimSpace(e.ConfigEndpoints) != "" {
		return endpointURLs(e.ConfigEndpoints, e.ConfigProtocol, e.ConfigPort)
	}
	return hostEndpoints(e.ConfigHost, e.ConfigProtocol, e.ConfigPort)
}

// Endpoints are the etcd client URLs the environment names; none when the
// settings are bad (Parse and ParseEndpoints say why).
func (e Env) Endpoints() []string {
	eps, err := e.ParseEndpoints()
	if err != nil {
		return nil
	}
	return eps
}

// Endpoint is the etcd endpoint URLs the environment names, comma-separated,
// for messages.
func (e Env) Endpoint() string {
	if eps := e.Endpoints(); len(eps) > 0 {
		return strings.Join(eps, ",")
	}
	if e.ConfigEndpoints != "" {
		return e.ConfigEndpoints
	}
	return fmt.Sprintf("%s://%s", e.ConfigProtocol, joinHostPort(e.ConfigHost, e.ConfigPort))
}

func hostEndpoints(hosts, protocol string, defaultPort int) ([]string, error) {
	var out []string
	for _, item := range strings.Split(hosts, ",") {
		item = strings.TrimSpace(item)
		host, port := item, defaultPort
		if h, p, err := net.SplitHostPort(item); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("SDP_CONFIG_HOST=%q: %q: port is not a number from 1 to 65535", hosts, item)
			}
			host, port = h, n
		} else if strings.HasPrefix(item, "[") && strings.HasSuffix(item, "]") {
			host = item[1 : len(item)-1]
		}
		if host == "" {
			return nil, fmt.Errorf("SDP_CONFIG_HOST=%q: empty host; give host names or addresses, comma-separated", hosts)
		}
		if strings.ContainsAny(host, "/?#@[] \t") {
			return nil, fmt.Errorf("SDP_CONFIG_HOST=%q: %q is not a host name or address (URLs go in SDP_CONFIG_ENDPOINTS)", hosts, item)
		}
		ep := protocol + "://" + joinHostPort(host, port)
		// What the etcd client will parse must parse: a host with a "%"
		// (not an IPv6 zone) makes no URL.
		if u, err := url.Parse(ep); err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("SDP_CONFIG_HOST=%q: %q is not a host name or address", hosts, item)
		}
		out = append(out, ep)
	}
	return out, nil
}

func endpointURLs(list, protocol string, defaultPort int) ([]string, error) {
	var out []string
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		bad := func(why string) error {
			return fmt.Errorf("SDP_CONFIG_ENDPOINTS=%q: %q: %s", list, item, why)
		}
		u, err := url.Parse(item)
		if err != nil {
			return nil, bad("not a URL")
		}
		scheme := strings.ToLower(u.Scheme)
		switch {
		case scheme != "http" && scheme != "https":
			return nil, bad("want a URL such as https://etcd-0:2379 (scheme http or https)")
		case scheme != protocol:
			return nil, bad(fmt.Sprintf("scheme %s, but the protocol is %s (SDP_CONFIG_PROTOCOL, or the first URL); one protocol for all", scheme, protocol))
		case u.Hostname() == "":
			return nil, bad("no host")
		case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
			return nil, bad("want only scheme, host and port")
		}
		port := defaultPort
		if p := u.Port(); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, bad("port is not a number from 1 to 65535")
			}
			port = n
		}
		out = append(out, scheme+"://"+joinHostPort(u.Hostname(), port))
	}
	return out, nil
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}
