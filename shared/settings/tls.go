package settings

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Errors of a TLS file, for callers and tests to tell the cases apart; the
// messages name the setting and the file.
var (
	// ErrNoPEM is a file with no PEM block in it (DER, a typo'd path to
	// some other file, an empty file).
	ErrNoPEM = errors.New("no PEM block in it")
	// ErrKeyWithoutCert is a private key with no certificate beside it: a
	// client identity needs both.
	ErrKeyWithoutCert = errors.New("holds a private key but no certificate; a client identity needs the key and its certificate in one PEM file")
	// ErrNoCert is a CA file with no certificate.
	ErrNoCert = errors.New("holds no PEM certificate")
)

// TLSConfig builds the client TLS configuration for https from the
// environment, or returns nil for http.
//
// SDP_CONFIG_CERT is read in both meanings it has had: the Python stack
// gave it to its etcd client as the client certificate (a PEM file holding
// a private key and its certificate), earlier versions of ours as the CA
// bundle. A file holding a private key is therefore the client identity;
// one holding only certificates is the CA that signed etcd's certificate.
// SDP_CONFIG_CA names the CA bundle when SDP_CONFIG_CERT is the identity.
// Without a CA the system's roots verify etcd; SDP_CONFIG_INSECURE_SKIP_VERIFY
// turns verification off, as the Python stack's client had it.
func (e Env) TLSConfig() (*tls.Config, error) {
	if e.ConfigProtocol != "https" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: e.ConfigInsecureSkipVerify} //nolint:gosec // only when the operator asks, see SDP_CONFIG_INSECURE_SKIP_VERIFY
	var roots *x509.CertPool
	addCA := func(name, file string, data []byte) error {
		if roots == nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(data) {
			return fmt.Errorf("%s %s: %w", name, file, ErrNoCert)
		}
		return nil
	}
	if e.ConfigCert != "" {
		data, err := os.ReadFile(e.ConfigCert)
		if err != nil {
			return nil, fmt.Errorf("SDP_CONFIG_CERT: cannot read it: %w", err)
		}
		hasKey, hasCert, err := pemKinds(data)
		if err != nil {
			return nil, fmt.Errorf("SDP_CONFIG_CERT %s: %w", e.ConfigCert, err)
		}
		switch {
		case hasKey && !hasCert:
			return nil, fmt.Errorf("SDP_CONFIG_CERT %s: %w", e.ConfigCert, ErrKeyWithoutCert)
		case hasKey:
			// The first certificate must be the key's; those after it
			// are the chain sent along.
			pair, err := tls.X509KeyPair(data, data)
			if err != nil {
				return nil, fmt.Errorf("SDP_CONFIG_CERT %s: not a usable client identity: %w", e.ConfigCert, err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		default:
			if err := addCA("SDP_CONFIG_CERT", e.ConfigCert, data); err != nil {
				return nil, err
			}
		}
	}
	if e.ConfigCA != "" {
		data, err := os.ReadFile(e.ConfigCA)
		if err != nil {
			return nil, fmt.Errorf("SDP_CONFIG_CA: cannot read it: %w", err)
		}
		if err := addCA("SDP_CONFIG_CA", e.ConfigCA, data); err != nil {
			return nil, err
		}
	}
	cfg.RootCAs = roots
	return cfg, nil
}

// pemKinds says whether data holds a private key and a certificate, and
// fails when it holds no PEM block at all.
func pemKinds(data []byte) (hasKey, hasCert bool, err error) {
	blocks := 0
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		blocks++
		switch {
		case b.Type == "CERTIFICATE":
			hasCert = true
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			hasKey = true
		}
	}
	if blocks == 0 {
		return false, false, ErrNoPEM
	}
	return hasKey, hasCert, nil
}
