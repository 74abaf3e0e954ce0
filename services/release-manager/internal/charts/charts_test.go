package charts

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestKind(t *testing.T) {
	for ref, want := range map[string]string{
		"vis-receive":             "repo",
		"oci://registry/charts/x": "oci",
		"./charts/x":              "path",
		"/abs/charts/x":           "path",
		"charts/examples/demo":    "path",
		"..":                      "path",
		"name-with.dots":          "repo",
	} {
		if got := Kind(ref); got != want {
			t.Errorf("Kind(%q) = %s, want %s", ref, got, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/index.yaml" {
			_, _ = w.Write([]byte("apiVersion: v1\nentries:\n  c:\n  - name: c\n    version: 1.0.0\n    urls: [c-1.0.0.tgz]\n"))
			return
		}
		_, _ = w.Write([]byte("not a tarball"))
	}))
	defer bad.Close()
	ctx := context.Background()
	tests := []struct {
		name    string
		opts    Options
		ref     string
		version string
		is      error
		says    string
	}{
		{"no repository configured", Options{}, "c", "", ErrNotFound, "SDP_CHART_REPO_URL"},
		{"missing path", Options{}, "./no/such/chart", "", ErrNotFound, "does not exist"},
		{"repo unreachable", Options{RepoURL: "http://127.0.0.1:1"}, "c", "", ErrUnreachable, "read chart repository index"},
		{"not in index", Options{RepoURL: bad.URL}, "other", "", ErrNotFound, `no chart "other"`},
		{"version not in index", Options{RepoURL: bad.URL}, "c", "2.0.0", ErrNotFound, `version "2.0.0"`},
		{"archive broken", Options{RepoURL: bad.URL}, "c", "", ErrInvalid, "c"},
	}
	for _, tt := range tests {
		tt.opts.CacheDir = t.TempDir()
		s, err := New(tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Load(ctx, tt.ref, tt.version)
		if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: %v, want %v saying %q", tt.name, err, tt.is, tt.says)
		}
	}
}
