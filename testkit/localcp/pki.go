package localcp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the key material of one control plane, written as PEM files in dir.
type pki struct {
	dir string

	caCert    *x509.Certificate
	caKey     crypto.Signer
	CACertPEM []byte

	CAFile, CAKeyFile string // CA certificate and key (also signs CSRs in kcm)
	SAKeyFile         string // service-account signing key (private, PKCS#1 RSA)
	SAPubFile         string // service-account verification key (public, PKIX)
	TokenFile         string // static token file for kube-apiserver
	AdminToken        string // bearer token of the admin user (group system:masters)

	FrontProxyCAFile string   // request-header CA of the aggregation layer
	FrontProxyClient certPair // its client certificate (CN front-proxy-client)

	// NodeTokens are the bearer tokens of the real nodes' kubelets, by node
	// name: users system:node:<name> in group system:nodes, which the Node
	// authorizer and NodeRestriction hold to their own node and pods.
	NodeTokens map[string]string
	// KubeletClient is the API server's client certificate towards the
	// kubelets (logs, exec), signed by the CA the kubelets trust.
	KubeletClient certPair
}

// certPair is a certificate and its key, as files.
type certPair struct{ CertFile, KeyFile string }

// newCA creates a self-signed CA.
func newCA(cn string) (*x509.Certificate, crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"sdp-helmdeploy localcp"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create CA certificate %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// issue signs a new key's certificate from tmpl (subject, usages, SANs) with
// the given CA and writes <name>.crt and <name>.key.
func (p *pki) issue(name string, ca *x509.Certificate, caKey crypto.Signer, tmpl *x509.Certificate) (certPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return certPair{}, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return certPair{}, fmt.Errorf("create %s certificate: %w", name, err)
	}
	cp := certPair{
		CertFile: filepath.Join(p.dir, name+".crt"),
		KeyFile:  filepath.Join(p.dir, name+".key"),
	}
	if err := os.WriteFile(cp.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return certPair{}, err
	}
	if err := writeKey(cp.KeyFile, key); err != nil {
		return certPair{}, err
	}
	return cp, nil
}

func newPKI(dir string, nodes []string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pki{dir: dir}

	var err error
	if p.caCert, p.caKey, p.CACertPEM, err = newCA("localcp-ca"); err != nil {
		return nil, err
	}
	p.CAFile = filepath.Join(dir, "ca.crt")
	p.CAKeyFile = filepath.Join(dir, "ca.key")
	if err := os.WriteFile(p.CAFile, p.CACertPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeKey(p.CAKeyFile, p.caKey); err != nil {
		return nil, err
	}

	// Front proxy (aggregation layer): its own CA and a client certificate.
	// Not used by anything here, but with it configured kube-apiserver
	// publishes a request-header CA, and kube-controller-manager and
	// kube-scheduler stop logging errors about its absence.
	fpCert, fpKey, fpPEM, err := newCA("localcp-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	p.FrontProxyCAFile = filepath.Join(dir, "front-proxy-ca.crt")
	if err := os.WriteFile(p.FrontProxyCAFile, fpPEM, 0o600); err != nil {
		return nil, err
	}
	if p.FrontProxyClient, err = p.issue("front-proxy-client", fpCert, fpKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "front-proxy-client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, err
	}

	// Service-account token signing key pair.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	p.SAKeyFile = filepath.Join(dir, "sa.key")
	p.SAPubFile = filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(p.SAKeyFile, pem.EncodeToMemory(&pem.Block{
		Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey),
	}), 0o600); err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.SAPubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		return nil, err
	}

	// Static token file: token,user,uid,"group1,group2".
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	p.AdminToken = hex.EncodeToString(tok)
	p.TokenFile = filepath.Join(dir, "tokens.csv")
	lines := fmt.Sprintf("%s,localcp-admin,localcp-admin,\"system:masters\"\n", p.AdminToken)
	p.NodeTokens = map[string]string{}
	for _, n := range nodes {
		if _, err := rand.Read(tok); err != nil {
			return nil, err
		}
		p.NodeTokens[n] = hex.EncodeToString(tok)
		lines += fmt.Sprintf("%s,system:node:%s,node-%s,\"system:nodes\"\n", p.NodeTokens[n], n, n)
	}
	if err := os.WriteFile(p.TokenFile, []byte(lines), 0o600); err != nil {
		return nil, err
	}
	if p.KubeletClient, err = p.issue("kube-apiserver-kubelet-client", p.caCert, p.caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// serving issues a serving certificate for name, valid for 127.0.0.1 and
// localhost plus the extra DNS names and IPs given.
func (p *pki) serving(name string, dnsNames []string, ips []net.IP) (certPair, error) {
	return p.issue(name, p.caCert, p.caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    append([]string{"localhost"}, dnsNames...),
		IPAddresses: append([]net.IP{net.ParseIP("127.0.0.1")}, ips...),
	})
}

func writeKey(path string, key crypto.Signer) error {
	ek, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("writeKey: %T is not an ECDSA key", key)
	}
	der, err := x509.MarshalECPrivateKey(ek)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
