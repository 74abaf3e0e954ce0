package settings_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdserver"
)

func tlsEnv(t *testing.T, port int, extra map[string]string) settings.Env {
	t.Helper()
	m := map[string]string{"SDP_CONFIG_PROTOCOL": "https"}
	for k, v := range extra {
		m[k] = v
	}
	return envFor(port, m)
}

// TestTLSConfig: what each kind of file becomes, and what is wrong with
// the ones that cannot be used.
func TestTLSConfig(t *testing.T) {
	p := etcdserver.NewPKI(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name     string
		env      map[string]string
		identity bool // a client certificate is set
		roots    bool // a CA pool is set (not the system's)
		skip     bool
		wantErr  error  // errors.Is
		wantMsg  string // in the message
	}{
		{name: "no file", env: nil},
		{name: "CA only", env: map[string]string{"SDP_CONFIG_CERT": p.CA}, roots: true},
		{name: "key and certificate", env: map[string]string{"SDP_CONFIG_CERT": p.ClientPair}, identity: true},
		{name: "identity and CA", env: map[string]string{"SDP_CONFIG_CERT": p.ClientPair, "SDP_CONFIG_CA": p.CA}, identity: true, roots: true},
		{name: "CA in both", env: map[string]string{"SDP_CONFIG_CERT": p.CA, "SDP_CONFIG_CA": p.WrongCA}, roots: true},
		{name: "skip verify", env: map[string]string{"SDP_CONFIG_INSECURE_SKIP_VERIFY": "true"}, skip: true},
		{name: "identity, skip verify", env: map[string]string{"SDP_CONFIG_CERT": p.ClientPair, "SDP_CONFIG_INSECURE_SKIP_VERIFY": "1"}, identity: true, skip: true},
		{name: "key without certificate", env: map[string]string{"SDP_CONFIG_CERT": p.ClientKeyOnly}, wantErr: settings.ErrKeyWithoutCert, wantMsg: p.ClientKeyOnly},
		{name: "key of another certificate", env: map[string]string{"SDP_CONFIG_CERT": p.ClientPairOtherKey}, wantMsg: "not a usable client identity"},
		{name: "no PEM", env: map[string]string{"SDP_CONFIG_CERT": p.Garbage}, wantErr: settings.ErrNoPEM, wantMsg: "SDP_CONFIG_CERT " + p.Garbage},
		{name: "empty file", env: map[string]string{"SDP_CONFIG_CERT": p.Empty}, wantErr: settings.ErrNoPEM},
		{name: "PEM but no certificate", env: map[string]string{"SDP_CONFIG_CERT": p.PubKey}, wantErr: settings.ErrNoCert},
		{name: "unreadable", env: map[string]string{"SDP_CONFIG_CERT": missing}, wantErr: fs.ErrNotExist, wantMsg: "SDP_CONFIG_CERT: cannot read it"},
		{name: "CA file with a key only", env: map[string]string{"SDP_CONFIG_CERT": p.ClientPair, "SDP_CONFIG_CA": p.ClientKeyOnly}, wantErr: settings.ErrNoCert, wantMsg: "SDP_CONFIG_CA"},
		{name: "CA file unreadable", env: map[string]string{"SDP_CONFIG_CA": missing}, wantErr: fs.ErrNotExist, wantMsg: "SDP_CONFIG_CA: cannot read it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tlsEnv(t, 2379, tt.env).TLSConfig()
			if tt.wantErr != nil || tt.wantMsg != "" {
				if err == nil {
					t.Fatal("accepted")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("err = %v, want it to say %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(cfg.Certificates) == 1; got != tt.identity {
				t.Errorf("client identity set = %v, want %v", got, tt.identity)
			}
			if got := cfg.RootCAs != nil; got != tt.roots {
				t.Errorf("CA pool set = %v, want %v", got, tt.roots)
			}
			if cfg.InsecureSkipVerify != tt.skip {
				t.Errorf("InsecureSkipVerify = %v, want %v", cfg.InsecureSkipVerify, tt.skip)
			}
		})
	}
	cfg, err := envFor(2379, map[string]string{"SDP_CONFIG_CERT": p.CA}).TLSConfig()
	if err != nil || cfg != nil {
		t.Errorf("http: TLS config %v, %v; want none", cfg, err)
	}
}

// TestClientCertAuth runs against an etcd serving https that requires a
// client certificate signed by its CA, and one that does not.
func TestClientCertAuth(t *testing.T) {
	p := etcdserver.NewPKI(t)
	mtls := etcdserver.Start(t, etcdserver.WithClientTLS(p.ServerCert, p.ServerKey), etcdserver.WithClientCertAuth(p.CA))
	plain := etcdserver.Start(t, etcdserver.WithClientTLS(p.ServerCert, p.ServerKey))
	tests := []struct {
		name    string
		srv     *etcdserver.Server
		env     map[string]string
		wantMsg string // "" connects
	}{
		{"key+cert PEM authenticates, CA verifies", mtls, map[string]string{"SDP_CONFIG_CERT": p.ClientPair, "SDP_CONFIG_CA": p.CA}, ""},
		{"key+cert PEM authenticates, skip verify", mtls, map[string]string{"SDP_CONFIG_CERT": p.ClientPair, "SDP_CONFIG_INSECURE_SKIP_VERIFY": "true"}, ""},
		{"key+cert PEM, server not verifiable by system roots", mtls, map[string]string{"SDP_CONFIG_CERT": p.ClientPair}, "certificate signed by unknown authority"},
		{"CA-only PEM verifies the server", plain, map[string]string{"SDP_CONFIG_CERT": p.CA}, ""},
		{"CA-only PEM, server wants a client certificate", mtls, map[string]string{"SDP_CONFIG_CERT": p.CA}, "config DB at"},
		{"wrong CA", plain, map[string]string{"SDP_CONFIG_CERT": p.WrongCA}, "certificate signed by unknown authority"},
		{"wrong CA, skip verify", plain, map[string]string{"SDP_CONFIG_CERT": p.WrongCA, "SDP_CONFIG_INSECURE_SKIP_VERIFY": "true"}, ""},
		{"skip verify alone", plain, map[string]string{"SDP_CONFIG_INSECURE_SKIP_VERIFY": "true"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tlsEnv(t, tt.srv.Port, tt.env)
			client, err := settings.NewClient(env)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			err = settings.Ping(ctx(t), env, client)
			if tt.wantMsg == "" {
				if err != nil {
					t.Errorf("ping: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("ping: %v; want an error saying %q", err, tt.wantMsg)
			}
		})
	}
}
