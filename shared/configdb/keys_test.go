package configdb

import (
	"errors"
	"testing"
)

func TestLayoutKeyAndPath(t *testing.T) {
	tests := []struct {
		prefix, path, key string
	}{
		{"", "/deploy/foo", "2/deploy/foo"},
		{"", "/deploy/foo/state", "3/deploy/foo/state"},
		{"", "/deploy/", "2/deploy/"},
		{"", "/resource/supernet:a", "2/resource/supernet:a"},
		{"/test", "/deploy/foo", "3/test/deploy/foo"},
		{"/test", "/deploy/foo/state", "4/test/deploy/foo/state"},
		{"/a/b", "/deploy/", "4/a/b/deploy/"},
	}
	for _, tt := range tests {
		l, err := NewLayout(tt.prefix)
		if err != nil {
			t.Fatalf("NewLayout(%q): %v", tt.prefix, err)
		}
		if got := l.Key(tt.path); got != tt.key {
			t.Errorf("Key(%q) with prefix %q = %q, want %q", tt.path, tt.prefix, got, tt.key)
		}
		if got, err := l.Path(tt.key); err != nil || got != tt.path {
			t.Errorf("Path(%q) with prefix %q = %q, %v; want %q", tt.key, tt.prefix, got, err, tt.path)
		}
	}
}

func TestLayoutPathRejects(t *testing.T) {
	l, _ := NewLayout("/test")
	for _, key := range []string{
		"", "deploy/foo", "/deploy/foo", "x/deploy/foo", "2/deploy/foo/state", "9/test/deploy/foo",
		"3/other/deploy/foo", "03/test/deploy/foo", "-3/test/deploy/x", "3/testing/deploy",
	} {
		if p, err := l.Path(key); !errors.Is(err, ErrBadKey) {
			t.Errorf("Path(%q) = %q, %v; want ErrBadKey", key, p, err)
		}
	}
}

func TestNewLayoutRejects(t *testing.T) {
	for _, p := range []string{"test", "/test/", "/"} {
		if _, err := NewLayout(p); err == nil {
			t.Errorf("NewLayout(%q) accepted", p)
		}
	}
}

func TestLayoutIDs(t *testing.T) {
	l, _ := NewLayout("")
	if id, err := l.DeploymentID("2/deploy/abc"); err != nil || id != "abc" {
		t.Errorf("DeploymentID = %q, %v", id, err)
	}
	if _, err := l.DeploymentID("2/resource/abc"); err == nil {
		t.Error("DeploymentID accepted a resource key")
	}
	if id, ok := l.StateID("3/deploy/abc/state"); !ok || id != "abc" {
		t.Errorf("StateID = %q, %v", id, ok)
	}
	if _, ok := l.StateID("3/deploy/abc/other"); ok {
		t.Error("StateID accepted a non-state leaf")
	}
	if got, want := l.StatesPrefix(), "3/deploy/"; got != want {
		t.Errorf("StatesPrefix = %q, want %q", got, want)
	}
	lp, _ := NewLayout("/p")
	if got, want := lp.StatesPrefix(), "4/p/deploy/"; got != want {
		t.Errorf("StatesPrefix with prefix = %q, want %q", got, want)
	}
}
