package settings_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
)

func envFor(port int, extra map[string]string) settings.Env {
	m := map[string]string{"SDP_CONFIG_HOST": "127.0.0.1", "SDP_CONFIG_PORT": itoa(port)}
	for k, v := range extra {
		m[k] = v
	}
	e, err := settings.Parse(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
	if err != nil {
		panic(err)
	}
	return e
}

func itoa(n int) string { return strconv.Itoa(n) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestClientUserPassword(t *testing.T) {
	srv := etcdserver.Start(t)
	srv.EnableAuth(t, "root", "s3cret")
	c := ctx(t)
	good, err := settings.NewClient(envFor(srv.Port, map[string]string{"SDP_CONFIG_USERNAME": "root", "SDP_CONFIG_PASSWORD": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if err := settings.Ping(c, settings.Env{}, good); err != nil {
		t.Errorf("with credentials: %v", err)
	}
	anon, err := settings.NewClient(envFor(srv.Port, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if err := settings.Ping(c, settings.Env{}, anon); err == nil {
		t.Error("anonymous client allowed in with auth enabled")
	}
}

// TestClientWithinAuthentication: with a user set the client authenticates
// before NewClientWithin returns; a wrong password or an absent etcd is an
// error from it, the latter once the bound has passed, not DialTimeout.
func TestClientWithinAuthentication(t *testing.T) {
	srv := etcdserver.Start(t)
	srv.EnableAuth(t, "root", "s3cret")
	c := ctx(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	tests := []struct {
		name     string
		port     int
		password string
		want     error // nil: connects
	}{
		{"right password", srv.Port, "s3cret", nil},
		{"wrong password", srv.Port, "wrong", rpctypes.ErrAuthFailed},
		{"etcd away", closed, "s3cret", context.DeadlineExceeded},
	}
	for _, tt := range tests {
		start := time.Now()
		client, err := settings.NewClientWithin(envFor(tt.port, map[string]string{"SDP_CONFIG_USERNAME": "root", "SDP_CONFIG_PASSWORD": tt.password}), 500*time.Millisecond)
		// Not a speed check: DialTimeout (10 s) is what it waited before.
		if elapsed := time.Since(start); elapsed >= settings.DialTimeout {
			t.Errorf("%s: took %v with a 500ms bound", tt.name, elapsed)
		}
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			if err := settings.Ping(c, settings.Env{}, client); err != nil {
				t.Errorf("%s: ping: %v", tt.name, err)
			}
			_ = client.Close()
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestClientTLS(t *testing.T) {
	p := etcdserver.NewPKI(t)
	dir := t.TempDir()
	caFile, keyFile := p.CA, p.ClientKeyOnly
	srv := etcdserver.Start(t, etcdserver.WithClientTLS(p.ServerCert, p.ServerKey))
	if !strings.HasPrefix(srv.Endpoint, "https://") {
		t.Fatalf("endpoint %s", srv.Endpoint)
	}
	c := ctx(t)
	client, err := settings.NewClient(envFor(srv.Port, map[string]string{"SDP_CONFIG_PROTOCOL": "https", "SDP_CONFIG_CERT": caFile}))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := settings.Ping(c, settings.Env{}, client); err != nil {
		t.Errorf("https with CA: %v", err)
	}
	if _, err := settings.NewClient(envFor(srv.Port, map[string]string{"SDP_CONFIG_PROTOCOL": "https", "SDP_CONFIG_CERT": filepath.Join(dir, "missing.pem")})); err == nil || !strings.Contains(err.Error(), "SDP_CONFIG_CERT") {
		t.Errorf("missing CA file: %v", err)
	}
	if _, err := settings.NewClient(envFor(srv.Port, map[string]string{"SDP_CONFIG_PROTOCOL": "https", "SDP_CONFIG_CERT": keyFile})); !errors.Is(err, settings.ErrKeyWithoutCert) {
		t.Errorf("CA file without a certificate: %v", err)
	}
}
