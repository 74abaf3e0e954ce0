package settings_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ska-telescope/sdp-helmdeploy/shared/settings"
	"github.com/ska-telescope/sdp-helmdeploy/testkit/etcdtest"
)

// pki is a test CA with a server certificate for 127.0.0.1 and a client
// certificate, and a second CA that signed neither, written as PEM files.
type pki struct {
	ca, wrongCA            string // certificates only
	serverCert, serverKey  string
	clientPair             string // client key and certificate in one file
	clientKeyOnly          string
	clientCertOnly         string
	clientPairOtherKey     string // client certificate with a key that is not its
	garbage, empty, pubKey string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	p := pki{}
	file := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, bl := range blocks {
			b = append(b, pem.EncodeToMemory(bl)...)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newKey := func() (*ecdsa.PrivateKey, *pem.Block) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return k, &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	serial := int64(0)
	sign := func(tmpl *x509.Certificate, parent *x509.Certificate, pub any, signer *ecdsa.PrivateKey) (*x509.Certificate, *pem.Block) {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, &pem.Block{Type: "CERTIFICATE", Bytes: der}
	}
	caTmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	}
	caKey, _ := newKey()
	caCert, caPEM := sign(caTmpl("test CA"), nil, &caKey.PublicKey, caKey)
	p.ca = file("ca.pem", caPEM)
	wrongKey, _ := newKey()
	_, wrongPEM := sign(caTmpl("other CA"), nil, &wrongKey.PublicKey, wrongKey)
	p.wrongCA = file("wrong-ca.pem", wrongPEM)

	srvKey, srvKeyPEM := newKey()
	_, srvPEM := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "etcd"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}},
		caCert, &srvKey.PublicKey, caKey)
	p.serverCert, p.serverKey = file("server.pem", srvPEM), file("server-key.pem", srvKeyPEM)

	cliKey, cliKeyPEM := newKey()
	_, cliPEM := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "sdp-helmdeploy"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, caCert, &cliKey.PublicKey, caKey)
	// The order the Python stack's files have: key first, then certificate.
	p.clientPair = file("client.pem", cliKeyPEM, cliPEM)
	p.clientKeyOnly = file("client-key.pem", cliKeyPEM)
	p.clientCertOnly = file("client-cert.pem", cliPEM)
	_, otherKeyPEM := newKey()
	p.clientPairOtherKey = file("client-mismatch.pem", otherKeyPEM, cliPEM)
	p.garbage = filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(p.garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.empty = filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(p.empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&cliKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p.pubKey = file("pub.pem", &pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	return p
}

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
	p := newPKI(t)
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
		{name: "CA only", env: map[string]string{"SDP_CONFIG_CERT": p.ca}, roots: true},
		{name: "key and certificate", env: map[string]string{"SDP_CONFIG_CERT": p.clientPair}, identity: true},
		{name: "identity and CA", env: map[string]string{"SDP_CONFIG_CERT": p.clientPair, "SDP_CONFIG_CA": p.ca}, identity: true, roots: true},
		{name: "CA in both", env: map[string]string{"SDP_CONFIG_CERT": p.ca, "SDP_CONFIG_CA": p.wrongCA}, roots: true},
		{name: "skip verify", env: map[string]string{"SDP_CONFIG_INSECURE_SKIP_VERIFY": "true"}, skip: true},
		{name: "identity, skip verify", env: map[string]string{"SDP_CONFIG_CERT": p.clientPair, "SDP_CONFIG_INSECURE_SKIP_VERIFY": "1"}, identity: true, skip: true},
		{name: "key without certificate", env: map[string]string{"SDP_CONFIG_CERT": p.clientKeyOnly}, wantErr: settings.ErrKeyWithoutCert, wantMsg: p.clientKeyOnly},
		{name: "key of another certificate", env: map[string]string{"SDP_CONFIG_CERT": p.clientPairOtherKey}, wantMsg: "not a usable client identity"},
		{name: "no PEM", env: map[string]string{"SDP_CONFIG_CERT": p.garbage}, wantErr: settings.ErrNoPEM, wantMsg: "SDP_CONFIG_CERT " + p.garbage},
		{name: "empty file", env: map[string]string{"SDP_CONFIG_CERT": p.empty}, wantErr: settings.ErrNoPEM},
		{name: "PEM but no certificate", env: map[string]string{"SDP_CONFIG_CERT": p.pubKey}, wantErr: settings.ErrNoCert},
		{name: "unreadable", env: map[string]string{"SDP_CONFIG_CERT": missing}, wantErr: fs.ErrNotExist, wantMsg: "SDP_CONFIG_CERT: cannot read it"},
		{name: "CA file with a key only", env: map[string]string{"SDP_CONFIG_CERT": p.clientPair, "SDP_CONFIG_CA": p.clientKeyOnly}, wantErr: settings.ErrNoCert, wantMsg: "SDP_CONFIG_CA"},
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
	cfg, err := envFor(2379, map[string]string{"SDP_CONFIG_CERT": p.ca}).TLSConfig()
	if err != nil || cfg != nil {
		t.Errorf("http: TLS config %v, %v; want none", cfg, err)
	}
}

// TestClientCertAuth runs against an etcd serving https that requires a
// client certificate signed by its CA, and one that does not.
func TestClientCertAuth(t *testing.T) {
	p := newPKI(t)
	mtls := etcdtest.Start(t, etcdtest.WithClientTLS(p.serverCert, p.serverKey), etcdtest.WithClientCertAuth(p.ca))
	plain := etcdtest.Start(t, etcdtest.WithClientTLS(p.serverCert, p.serverKey))
	tests := []struct {
		name    string
		srv     *etcdtest.Server
		env     map[string]string
		wantMsg string // "" connects
	}{
		{"key+cert PEM authenticates, CA verifies", mtls, map[string]string{"SDP_CONFIG_CERT": p.clientPair, "SDP_CONFIG_CA": p.ca}, ""},
		{"key+cert PEM authenticates, skip verify", mtls, map[string]string{"SDP_CONFIG_CERT": p.clientPair, "SDP_CONFIG_INSECURE_SKIP_VERIFY": "true"}, ""},
		{"key+cert PEM, server not verifiable by system roots", mtls, map[string]string{"SDP_CONFIG_CERT": p.clientPair}, "certificate signed by unknown authority"},
		{"CA-only PEM verifies the server", plain, map[string]string{"SDP_CONFIG_CERT": p.ca}, ""},
		{"CA-only PEM, server wants a client certificate", mtls, map[string]string{"SDP_CONFIG_CERT": p.ca}, "config DB at"},
		{"wrong CA", plain, map[string]string{"SDP_CONFIG_CERT": p.wrongCA}, "certificate signed by unknown authority"},
		{"wrong CA, skip verify", plain, map[string]string{"SDP_CONFIG_CERT": p.wrongCA, "SDP_CONFIG_INSECURE_SKIP_VERIFY": "true"}, ""},
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
