package cli_test

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	sdpctl "github.com/ska-telescope/sdp-helmdeploy/sdpctl/internal/cli"
	"github.com/ska-telescope/sdp-helmdeploy/shared/configdb"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/logtest"
)

// cli runs sdpctl in process against one embedded etcd, under a global
// prefix of the test's own, with an environment of the test's making (the
// process environment is never read).
type cli struct {
	t      *testing.T
	srv    *etcdtest.Server
	store  *configdb.Store
	prefix string
	env    map[string]string
	stdin  string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	srv := etcdtest.Start(t)
	prefix := "/" + strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	store, err := configdb.NewStore(srv.Client(t), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, srv: srv, store: store, prefix: prefix, env: map[string]string{}}
}

func (c *cli) lookup(name string) (string, bool) {
	v, ok := c.env[name]
	return v, ok
}

// connArgs are the global flags that point sdpctl at the test's etcd.
func (c *cli) connArgs() []string {
	return []string{"--host", "127.0.0.1", "--port", strconv.Itoa(c.srv.Port), "--prefix", c.prefix}
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs sdpctl with the connection flags and args.
func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.runCtx(ctxFor(c.t), append(c.connArgs(), args...)...)
}

// runCtx runs sdpctl with exactly args.
func (c *cli) runCtx(ctx context.Context, args ...string) result {
	var out, errb bytes.Buffer
	code := sdpctl.Run(ctx, args, strings.NewReader(c.stdin), &out, &errb, c.lookup)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// mustRun runs sdpctl and fails the test unless it succeeds.
func (c *cli) mustRun(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != sdpctl.ExitOK {
		c.t.Fatalf("sdpctl %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var columnGap = regexp.MustCompile(` {2,}`)

// parseTables reads tabwriter output back: blocks separated by blank lines,
// each a header line and rows, cut at the header's column starts (header
// names may hold one space, columns are at least two apart).
func parseTables(t *testing.T, out string) [][]map[string]string {
	t.Helper()
	var tables [][]map[string]string
	for _, block := range strings.Split(strings.TrimRight(out, "\n"), "\n\n") {
		lines := strings.Split(block, "\n")
		header := lines[0]
		starts := []int{0}
		for _, m := range columnGap.FindAllStringIndex(header, -1) {
			starts = append(starts, m[1])
		}
		var names []string
		for i, s := range starts {
			end := len(header)
			if i+1 < len(starts) {
				end = starts[i+1]
			}
			names = append(names, strings.TrimSpace(header[s:end]))
		}
		var rows []map[string]string
		for _, l := range lines[1:] {
			r := map[string]string{}
			for i, s := range starts {
				if s >= len(l) {
					t.Fatalf("row %q is shorter than header %q", l, header)
				}
				end := len(l)
				if i+1 < len(starts) && starts[i+1] < len(l) {
					end = starts[i+1]
				}
				r[names[i]] = strings.TrimSpace(l[s:end])
			}
			rows = append(rows, r)
		}
		tables = append(tables, rows)
	}
	return tables
}

var _ io.Writer = (*logtest.Buffer)(nil)
