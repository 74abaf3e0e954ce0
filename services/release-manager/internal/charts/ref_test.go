package charts

import (
	"errors"
	"path"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		ref  string
		want Ref
		says string // error text, when an error is expected
	}{
		{ref: "vis-receive", want: Ref{Kind: FromRepo, Chart: "vis-receive"}},
		{ref: "name-with.dots", want: Ref{Kind: FromRepo, Chart: "name-with.dots"}},
		{ref: "dask/dask", want: Ref{Kind: FromRepo, Repo: "dask", Chart: "dask"}},
		{ref: "helmdeploy/vis-receive", want: Ref{Kind: FromRepo, Repo: "helmdeploy", Chart: "vis-receive"}},
		{ref: "charts/x", want: Ref{Kind: FromRepo, Repo: "charts", Chart: "x"}},
		{ref: "oci://registry/charts/x", want: Ref{Kind: FromOCI, Chart: "registry/charts/x"}},
		{ref: "oci://registry:5000/charts/x:1.0.0", want: Ref{Kind: FromOCI, Chart: "registry:5000/charts/x:1.0.0"}},
		{ref: "/abs/charts/x", want: Ref{Kind: FromLocal, Chart: "/abs/charts/x"}},
		{ref: "/abs/charts/x/", want: Ref{Kind: FromLocal, Chart: "/abs/charts/x"}},
		{ref: "/abs/charts/x-1.0.0.tgz", want: Ref{Kind: FromLocal, Chart: "/abs/charts/x-1.0.0.tgz"}},
		{ref: "file:///abs/charts/x", want: Ref{Kind: FromLocal, Chart: "/abs/charts/x"}},
		{ref: "file://localhost/abs/x", want: Ref{Kind: FromLocal, Chart: "/abs/x"}},
		{ref: "https://charts.example/x-1.0.0.tgz", want: Ref{Kind: FromURL, Chart: "https://charts.example/x-1.0.0.tgz"}},
		{ref: "", says: "empty"},
		{ref: " x", says: "white space"},
		{ref: "x\n", says: "white space"},
		{ref: "a\x00b", says: "control character"},
		{ref: "./charts/x", says: "relative paths"},
		{ref: "../x", says: "relative paths"},
		{ref: ".", says: "relative paths"},
		{ref: "~/charts/x", says: "relative paths"},
		{ref: "charts/examples/demo", says: "more than one '/'"},
		{ref: "/", says: "root directory"},
		{ref: "//", says: "root directory"},
		{ref: "a/", says: "needs both parts"},
		{ref: "/x/../", says: "root directory"},
		{ref: "file://charts/x", says: "three slashes"},
		{ref: "file://", says: "three slashes"},
		{ref: "file:///x?y", says: "three slashes"},
		{ref: "oci://", says: "oci://<registry>/<path>"},
		{ref: "oci://registry", says: "oci://<registry>/<path>"},
		{ref: "oci:///charts/x", says: "oci://<registry>/<path>"},
		{ref: "https://", says: "http(s)://<host>/<path"},
		{ref: "https://host", says: "http(s)://<host>/<path"},
		{ref: "git://host/x", says: "unsupported scheme"},
		{ref: "repo/..", says: "no chart name"},
		{ref: "a b", says: "white space"},
		{ref: "repo/a:b", says: "contains white space or one of"},
		{ref: "re po/a", says: "repository name"},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.ref)
		if tt.says != "" {
			if !errors.Is(err, ErrBadRef) || !strings.Contains(err.Error(), tt.says) || !strings.Contains(err.Error(), "absolute path") {
				t.Errorf("ParseRef(%q) = %+v, %v; want %v saying %q and the accepted forms", tt.ref, got, err, ErrBadRef, tt.says)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tt.ref, got, err, tt.want)
		}
	}
}

// Whatever the entry says, ParseRef does not panic, and a relative form is
// never read as a local path.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"c", "dask/dask", "oci://r/c/x:1", "/abs/x", "file:///abs/x", "file://x", "./x", "../x",
		"a/b/c", "https://h/c.tgz", "http://", "oci://", "", " ", "a/", "/", "x\x00", "\xff", "FILE:///x", "OCI://r/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		r, err := ParseRef(ref)
		if err != nil {
			if !errors.Is(err, ErrBadRef) {
				t.Fatalf("ParseRef(%q): error %v is not ErrBadRef", ref, err)
			}
			if r != (Ref{}) {
				t.Fatalf("ParseRef(%q): %+v beside an error", ref, r)
			}
			return
		}
		lower := strings.ToLower(ref)
		switch r.Kind {
		case FromLocal:
			if !strings.HasPrefix(ref, "/") && !strings.HasPrefix(lower, "file://") {
				t.Fatalf("ParseRef(%q): local path from a relative form", ref)
			}
			if !path.IsAbs(r.Chart) || path.Clean(r.Chart) != r.Chart || r.Chart == "/" {
				t.Fatalf("ParseRef(%q): local path %q not absolute and clean", ref, r.Chart)
			}
		case FromRepo:
			if r.Chart == "" || strings.Contains(r.Chart, "/") || strings.Contains(r.Repo, "/") {
				t.Fatalf("ParseRef(%q): repository reference %+v", ref, r)
			}
			want := r.Chart
			if r.Repo != "" {
				want = r.Repo + "/" + r.Chart
			}
			if want != ref {
				t.Fatalf("ParseRef(%q): %+v does not give the reference back", ref, r)
			}
		case FromOCI:
			if !strings.HasPrefix(lower, "oci://") || r.Chart != ref[len("oci://"):] {
				t.Fatalf("ParseRef(%q): OCI %+v", ref, r)
			}
		case FromURL:
			if r.Chart != ref || !strings.HasPrefix(lower, "http") {
				t.Fatalf("ParseRef(%q): URL %+v", ref, r)
			}
		default:
			t.Fatalf("ParseRef(%q): kind %d", ref, r.Kind)
		}
	})
}
