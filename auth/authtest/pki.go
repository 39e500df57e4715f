package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
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

// CA is a certificate authority made for one test, for TLS servers and
// client certificates (RFC 8705).
type CA struct {
	// Cert is the CA's self-signed certificate.
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Cert is a certificate with its private key.
type Cert struct {
	// Leaf is the certificate.
	Leaf *x509.Certificate
	// TLS is the certificate and key, for a tls.Config.
	TLS tls.Certificate
	key *ecdsa.PrivateKey
}

// NewCA makes a CA, valid for an hour.
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	key := newECKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(tb),
		Subject:               pkix.Name{CommonName: "orders test CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	return &CA{Cert: create(tb, tmpl, tmpl, key, key), key: key}
}

// Server issues a certificate for a TLS server at 127.0.0.1 and localhost.
func (ca *CA) Server(tb testing.TB) *Cert {
	tb.Helper()
	return ca.issue(tb, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// Client issues a client certificate for cn.
func (ca *CA) Client(tb testing.TB, cn string) *Cert {
	tb.Helper()
	return ca.issue(tb, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
}

func (ca *CA) issue(tb testing.TB, tmpl *x509.Certificate) *Cert {
	tb.Helper()
	key := newECKey(tb)
	tmpl.SerialNumber = newSerial(tb)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	leaf := create(tb, tmpl, ca.Cert, key, ca.key)
	return &Cert{Leaf: leaf, TLS: tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, key: key}
}

// Pool is a pool holding the CA's certificate alone.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// WriteFile writes the CA's certificate as PEM into a file of the test's
// temporary directory, and returns its path.
func (ca *CA) WriteFile(tb testing.TB) string {
	tb.Helper()
	return writePEM(tb, "ca.pem", "CERTIFICATE", ca.Cert.Raw)
}

// PEM is the certificate in PEM.
func (c *Cert) PEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw}))
}

// WriteFiles writes the certificate and its key as PEM into files of the
// test's temporary directory, and returns their paths.
func (c *Cert) WriteFiles(tb testing.TB) (certFile, keyFile string) {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		tb.Fatal(err)
	}
	return writePEM(tb, "cert.pem", "CERTIFICATE", c.Leaf.Raw), writePEM(tb, "key.pem", "PRIVATE KEY", der)
}

func writePEM(tb testing.TB, name, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func newECKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func newSerial(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func create(tb testing.TB, tmpl, parent *x509.Certificate, key, signer *ecdsa.PrivateKey) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}
