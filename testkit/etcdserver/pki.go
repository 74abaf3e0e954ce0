package etcdserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a test CA with a server certificate for 127.0.0.1 (for
// WithClientTLS) and a client certificate (for WithClientCertAuth), a
// second CA that signed neither, and files that are no use as either, all
// written as PEM files for the settings' TLS paths.
type PKI struct {
	CA, WrongCA            string // certificates only
	ServerCert, ServerKey  string
	ClientPair             string // client key and certificate in one file
	ClientKeyOnly          string
	ClientCertOnly         string
	ClientPairOtherKey     string // client certificate with a key that is not its
	Garbage, Empty, PubKey string // no PEM, nothing, a PEM public key
}

// NewPKI writes a fresh PKI into a temporary directory of tb.
func NewPKI(t testing.TB) PKI {
	t.Helper()
	dir := t.TempDir()
	p := PKI{}
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
	p.CA = file("ca.pem", caPEM)
	wrongKey, _ := newKey()
	_, wrongPEM := sign(caTmpl("other CA"), nil, &wrongKey.PublicKey, wrongKey)
	p.WrongCA = file("wrong-ca.pem", wrongPEM)

	srvKey, srvKeyPEM := newKey()
	_, srvPEM := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "etcd"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}},
		caCert, &srvKey.PublicKey, caKey)
	p.ServerCert, p.ServerKey = file("server.pem", srvPEM), file("server-key.pem", srvKeyPEM)

	cliKey, cliKeyPEM := newKey()
	_, cliPEM := sign(&x509.Certificate{Subject: pkix.Name{CommonName: "sdp-helmdeploy"}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, caCert, &cliKey.PublicKey, caKey)
	// The order the Python stack's files have: key first, then certificate.
	p.ClientPair = file("client.pem", cliKeyPEM, cliPEM)
	p.ClientKeyOnly = file("client-key.pem", cliKeyPEM)
	p.ClientCertOnly = file("client-cert.pem", cliPEM)
	_, otherKeyPEM := newKey()
	p.ClientPairOtherKey = file("client-mismatch.pem", otherKeyPEM, cliPEM)
	p.Garbage = filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(p.Garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Empty = filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(p.Empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&cliKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p.PubKey = file("pub.pem", &pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	return p
}
