package cli_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sdpctl "github.com/ska-telescope/sdp-helmdeploy/sdpctl/internal/cli"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
)

// TestBadInput checks the message and exit code of each mistake an operator
// can make: the whole stderr line, since it is what they read.
func TestBadInput(t *testing.T) {
	c := newCLI(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	malformed := file("malformed.yaml", "a: [1, 2\nb: c\n")
	listValues := file("list.yaml", "- 1\n- 2\n")
	conflicting := file("conflict.yaml", "a: 1\na.b: 2\n")
	noKey := file("nokey.json", `{"kind": "helm", "args": {"chart": "c"}}`)
	otherID := file("other.json", `{"key": "other", "kind": "helm", "args": {"chart": "c"}}`)
	c.mustRun("create", "exists", "--chart", "c")
	long := strings.Repeat("a", 97)
	tooLongForHelm := strings.Repeat("b", 60)

	tests := []struct {
		name string
		args []string
		code int
		want string // the whole of stderr, without the trailing newline
	}{
		{"uppercase id", []string{"create", "Upper", "--chart", "c"}, sdpctl.ExitFailure,
			`create deployment Upper: invalid release name: "Upper": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?'); use lower case letters, digits and '-'`},
		{"id too long", []string{"create", long, "--chart", "c"}, sdpctl.ExitFailure,
			`create deployment: invalid deployment id: "` + long[:40] + `…" is 97 characters, at most 96 are allowed`},
		{"id too long for a release", []string{"create", tooLongForHelm, "--chart", "c"}, sdpctl.ExitFailure,
			`create deployment ` + tooLongForHelm + `: invalid release name: "` + tooLongForHelm + `" is 60 characters, Helm allows at most 53 (deployment id 60, prefix ""); use lower case letters, digits and '-'`},
		{"id with bad characters", []string{"create", "a_b.c", "--chart", "c"}, sdpctl.ExitFailure,
			`create deployment: invalid deployment id: "a_b.c" may hold only letters, digits and '-'`},
		{"get bad id", []string{"get", "a/b"}, sdpctl.ExitFailure,
			`get deployment: invalid deployment id: "a/b" may hold only letters, digits and '-'`},
		{"missing --chart", []string{"create", "no-chart"}, sdpctl.ExitUsage,
			`create deployment no-chart: --chart is required: the chart to deploy (a repository chart name, oci:// reference or path); see 'sdpctl create --help'`},
		{"missing id", []string{"create", "--chart", "c"}, sdpctl.ExitUsage,
			`create: give the deployment id (sdpctl create ID --chart CHART), or -f FILE; see 'sdpctl create --help'`},
		{"malformed values file", []string{"create", "v1", "--chart", "c", "--values", malformed}, sdpctl.ExitFailure,
			`create deployment v1: values file ` + malformed + `: not valid YAML or JSON: yaml: line 1: did not find expected ',' or ']'`},
		{"values file not a mapping", []string{"create", "v2", "--chart", "c", "--values", listValues}, sdpctl.ExitFailure,
			`create deployment v2: values file ` + listValues + `: must hold a mapping of values (key: value), not a list`},
		{"conflicting dotted values", []string{"create", "v3", "--chart", "c", "--values", conflicting}, sdpctl.ExitFailure,
			`create deployment v3: values file ` + conflicting + `: keys "a" and "a.b" both set "a" (as a value and as an object, or twice); keep one`},
		{"missing values file", []string{"create", "v4", "--chart", "c", "--values", filepath.Join(dir, "absent.yaml")}, sdpctl.ExitFailure,
			`create deployment v4: values file: open ` + filepath.Join(dir, "absent.yaml") + `: no such file or directory`},
		{"--set without value", []string{"create", "s1", "--chart", "c", "--set", "a.b"}, sdpctl.ExitFailure,
			`create deployment s1: --set "a.b": key "b" has no value; write key=value, with dots for nesting (a.b=c)`},
		{"--set with an empty key part", []string{"create", "s2", "--chart", "c", "--set", "a..b=1"}, sdpctl.ExitFailure,
			`create deployment s2: --set "a..b=1": key map "a" has no value; write key=value, with dots for nesting (a.b=c)`},
		{"unknown -o", []string{"list", "-o", "xml"}, sdpctl.ExitUsage,
			`list: invalid argument "xml" for "-o, --output" flag: unknown output format; choose one of table, json, yaml; see 'sdpctl list --help'`},
		{"get missing", []string{"get", "absent"}, sdpctl.ExitFailure,
			`get deployment absent: not found under prefix ` + c.prefix + `; see 'sdpctl list' for the deployments there are`},
		{"delete missing", []string{"delete", "absent"}, sdpctl.ExitFailure,
			`delete deployment absent: not found under prefix ` + c.prefix + `; see 'sdpctl list' for the deployments there are`},
		{"delete missing, ignored", []string{"delete", "absent", "--ignore-not-found"}, sdpctl.ExitOK, ``},
		{"state missing", []string{"state", "absent"}, sdpctl.ExitFailure,
			`state of deployment absent: not found under prefix ` + c.prefix + `; see 'sdpctl list' for the deployments there are`},
		{"explain bad id", []string{"explain", "a/b"}, sdpctl.ExitFailure,
			`explain deployment: invalid deployment id: "a/b" may hold only letters, digits and '-'`},
		{"explain without id", []string{"explain"}, sdpctl.ExitUsage,
			`explain: accepts 1 arg(s), received 0; see 'sdpctl explain --help'`},
		{"explain unknown -o", []string{"explain", "exists", "-o", "wide"}, sdpctl.ExitUsage,
			`explain: invalid argument "wide" for "-o, --output" flag: unknown output format; choose one of table, json, yaml; see 'sdpctl explain --help'`},
		{"create duplicate", []string{"create", "exists", "--chart", "c"}, sdpctl.ExitFailure,
			`create deployment exists: already exists; delete it first (sdpctl delete exists) or choose another id`},
		{"file without id", []string{"create", "-f", noKey}, sdpctl.ExitFailure,
			`create from ` + noKey + `: bad deployment entry: no "key" field naming the deployment id`},
		{"file and argument disagree", []string{"create", "mine", "-f", otherID}, sdpctl.ExitUsage,
			`create from ` + otherID + `: the file is deployment "other" but the command line says "mine"; drop the id argument or make them agree; see 'sdpctl create --help'`},
		{"-f with --chart", []string{"create", "-f", otherID, "--chart", "c"}, sdpctl.ExitUsage,
			`create: if any flags in the group [filename chart] are set none of the others can be; [chart filename] were all set; see 'sdpctl create --help'`},
		{"extra argument", []string{"get", "a", "b"}, sdpctl.ExitUsage,
			`get: accepts 1 arg(s), received 2; see 'sdpctl get --help'`},
		{"unknown command", []string{"lsit"}, sdpctl.ExitUsage,
			`unknown command "lsit" for "sdpctl"; did you mean: list; see 'sdpctl --help'`},
		{"bad port flag", []string{"--port", "70000", "list"}, sdpctl.ExitUsage,
			`--port 70000: not a port number (1-65535); see 'sdpctl list --help'`},
		{"bad prefix flag", []string{"--prefix", "nope", "list"}, sdpctl.ExitUsage,
			`--prefix: global prefix "nope": must start with '/' and not end with '/'; see 'sdpctl list --help'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run(tt.args...)
			want := ""
			if tt.want != "" {
				want = "sdpctl: " + tt.want + "\n"
			}
			if r.code != tt.code || r.stderr != want {
				t.Errorf("exit %d, stderr\n%q\nwant exit %d, stderr\n%q", r.code, r.stderr, tt.code, want)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stack trace on stderr:\n%s", r.stderr)
			}
		})
	}
	// Nothing that was refused was written.
	out := c.mustRun("list", "-o", "json")
	if strings.Count(out, `"key"`) != 1 || !strings.Contains(out, `"exists"`) {
		t.Errorf("refused creates left entries:\n%s", out)
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// TestConnectionErrors: an etcd that is not there, or TLS that cannot be
// set up, is a one-line error naming the endpoint and what to set, exit 1,
// and an absent etcd does not hang past --timeout.
func TestConnectionErrors(t *testing.T) {
	c := &cli{t: t, env: map[string]string{}}
	port := closedPort(t)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"closed port", nil, []string{"--port", strconv.Itoa(port), "--timeout", "1s", "list"},
			`list deployments: config DB at ` + endpoint + ` did not answer within 1s; is etcd running there? Set SDP_CONFIG_HOST and SDP_CONFIG_PORT (or --host, --port), or raise --timeout`},
		{"closed port from the environment", map[string]string{"SDP_CONFIG_PORT": strconv.Itoa(port)}, []string{"--timeout", "1s", "get", "x"},
			`get deployment x: config DB at ` + endpoint + ` did not answer within 1s; is etcd running there? Set SDP_CONFIG_HOST and SDP_CONFIG_PORT (or --host, --port), or raise --timeout`},
		{"closed port, watch", nil, []string{"--port", strconv.Itoa(port), "--timeout", "1s", "state", "x", "--watch"},
			`state of deployment x: config DB at ` + endpoint + ` did not answer within 1s; is etcd running there? Set SDP_CONFIG_HOST and SDP_CONFIG_PORT (or --host, --port), or raise --timeout`},
		{"TLS CA file missing", nil, []string{"--protocol", "https", "--cert", "/nonexistent/ca.pem", "list"},
			`connect to config DB at https://127.0.0.1:2379: SDP_CONFIG_CERT: cannot read it: open /nonexistent/ca.pem: no such file or directory; set SDP_CONFIG_CERT (or --cert) to a PEM file: the CA that signed etcd's certificate, or a client key with its certificate`},
		{"TLS CA file missing, from the environment", map[string]string{"SDP_CONFIG_PROTOCOL": "https", "SDP_CONFIG_CERT": "/nonexistent/ca.pem"}, []string{"resources"},
			`connect to config DB at https://127.0.0.1:2379: SDP_CONFIG_CERT: cannot read it: open /nonexistent/ca.pem: no such file or directory; set SDP_CONFIG_CERT (or --cert) to a PEM file: the CA that signed etcd's certificate, or a client key with its certificate`},
		{"bad environment", map[string]string{"SDP_CONFIG_PORT": "http"}, []string{"list"},
			`read settings: bad environment: SDP_CONFIG_PORT="http": not a port number; fix or unset the variables named`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.env = tt.env
			start := time.Now()
			r := c.runCtx(ctxFor(t), tt.args...)
			// Not a speed check: a bound far above --timeout that only a
			// hang would exceed.
			if elapsed := time.Since(start); elapsed > 15*time.Second {
				t.Errorf("took %v with --timeout 1s", elapsed)
			}
			want := "sdpctl: " + tt.want + "\n"
			if r.code != sdpctl.ExitFailure || r.stderr != want {
				t.Errorf("exit %d, stderr\n%q\nwant exit 1, stderr\n%q", r.code, r.stderr, want)
			}
		})
	}
}

// TestCredentials: against an etcd with authentication on, the user and
// password come from the environment, and a missing or wrong one is said so.
func TestCredentials(t *testing.T) {
	c := newCLI(t)
	c.srv.EnableAuth(t, "root", "s3cret")
	endpoint := c.srv.Endpoint
	closed := strconv.Itoa(closedPort(t))
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string // the whole of stderr
	}{
		{"right password", map[string]string{"SDP_CONFIG_USERNAME": "root", "SDP_CONFIG_PASSWORD": "s3cret"},
			[]string{"create", "authed", "--chart", "c"}, sdpctl.ExitOK, ""},
		{"user from the flag", map[string]string{"SDP_CONFIG_USERNAME": "nobody", "SDP_CONFIG_PASSWORD": "s3cret"},
			[]string{"--username", "root", "get", "authed"}, sdpctl.ExitOK, ""},
		{"wrong password", map[string]string{"SDP_CONFIG_USERNAME": "root", "SDP_CONFIG_PASSWORD": "wrong"},
			[]string{"list"}, sdpctl.ExitFailure,
			"connect to config DB: config DB at " + endpoint + " refused the credentials (etcdserver: authentication failed, invalid user ID or password); set SDP_CONFIG_USERNAME and SDP_CONFIG_PASSWORD"},
		{"no user", nil, []string{"list"}, sdpctl.ExitFailure,
			"list deployments: config DB at " + endpoint + " refused the credentials (etcdserver: user name is empty); set SDP_CONFIG_USERNAME and SDP_CONFIG_PASSWORD"},
		{"etcd away", map[string]string{"SDP_CONFIG_USERNAME": "root", "SDP_CONFIG_PASSWORD": "s3cret"},
			[]string{"--port", closed, "--timeout", "1s", "list"}, sdpctl.ExitFailure,
			"connect to config DB: config DB at http://127.0.0.1:" + closed + " did not answer within 1s; is etcd running there? Set SDP_CONFIG_HOST and SDP_CONFIG_PORT (or --host, --port), or raise --timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.env = tt.env
			start := time.Now()
			r := c.run(tt.args...)
			// Not a speed check: only a hang past --timeout exceeds it.
			if elapsed := time.Since(start); elapsed > 9*time.Second {
				t.Errorf("took %v", elapsed)
			}
			want := ""
			if tt.want != "" {
				want = "sdpctl: " + tt.want + "\n"
			}
			if r.code != tt.code || r.stderr != want {
				t.Errorf("exit %d, stderr\n%q\nwant exit %d, stderr\n%q", r.code, r.stderr, tt.code, want)
			}
		})
	}
}

// TestTLSErrors: against an etcd serving https, a CA that did not sign its
// certificate is named as the cause, with what to set, instead of a
// timeout; the right CA, or skipping verification, connects.
func TestTLSErrors(t *testing.T) {
	p := etcdserver.NewPKI(t)
	srv := etcdtest.Start(t, etcdserver.WithClientTLS(p.ServerCert, p.ServerKey))
	c := &cli{t: t, env: map[string]string{}}
	base := []string{"--protocol", "https", "--port", strconv.Itoa(srv.Port), "--timeout", "2s"}
	tests := []struct {
		name string
		args []string
		want string // in stderr; "" succeeds
	}{
		{"wrong CA", []string{"--cert", p.WrongCA, "list"}, "list deployments: config DB at https://127.0.0.1:" + strconv.Itoa(srv.Port) +
			": etcd's certificate is refused: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"wrong CA, verification off", []string{"--cert", p.WrongCA, "--insecure-skip-verify", "list"}, ""},
		{"right CA", []string{"--cert", p.CA, "list"}, ""},
		{"identity and CA", []string{"--cert", p.ClientPair, "--ca", p.CA, "list"}, ""},
		{"key without certificate", []string{"--cert", p.ClientKeyOnly, "list"}, "holds a private key but no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.runCtx(ctxFor(t), append(append([]string{}, base...), tt.args...)...)
			if tt.want == "" {
				if r.code != 0 {
					t.Errorf("exit %d: %s", r.code, r.stderr)
				}
				return
			}
			if r.code != sdpctl.ExitFailure || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 saying %q", r.code, r.stderr, tt.want)
			}
		})
	}
}
