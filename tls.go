package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// The values of ORDERS_TLS_CLIENT_AUTH.
const (
	clientAuthNone     = "none"
	clientAuthOptional = "optional"
	clientAuthRequired = "required"
)

// tlsSettings say whether serve terminates TLS itself, and whether it asks
// clients for certificates, which certificate-bound tokens (RFC 8705) need.
type tlsSettings struct {
	certFile, keyFile, clientCAFile string
	// clientAuth is clientAuthNone, clientAuthOptional or
	// clientAuthRequired.
	clientAuth string
	// config is what load built from the files; nil when serve speaks
	// plain HTTP.
	config *tls.Config
}

// load checks the settings together and reads their files: the
// certificate and key go together, the key must be the certificate's, and
// client certificates need a CA file to verify them against (and TLS). It
// reports every problem it finds.
func (t *tlsSettings) load() []error {
	var errs []error
	switch {
	case (t.certFile == "") != (t.keyFile == ""):
		return []error{errors.New("ORDERS_TLS_CERT_FILE and ORDERS_TLS_KEY_FILE go together: set both or neither")}
	case t.certFile == "" && (t.clientAuth != clientAuthNone || t.clientCAFile != ""):
		return []error{errors.New("ORDERS_TLS_CLIENT_AUTH and ORDERS_TLS_CLIENT_CA_FILE need TLS: set ORDERS_TLS_CERT_FILE and ORDERS_TLS_KEY_FILE")}
	case t.certFile == "":
		return nil
	case t.clientAuth != clientAuthNone && t.clientCAFile == "":
		errs = append(errs, fmt.Errorf("ORDERS_TLS_CLIENT_AUTH %s needs ORDERS_TLS_CLIENT_CA_FILE, the CA that client certificates are verified against", t.clientAuth))
	case t.clientAuth == clientAuthNone && t.clientCAFile != "":
		errs = append(errs, errors.New("ORDERS_TLS_CLIENT_CA_FILE is set but ORDERS_TLS_CLIENT_AUTH is none: say optional or required"))
	}
	cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
	if err != nil {
		errs = append(errs, fmt.Errorf("ORDERS_TLS_CERT_FILE %s, ORDERS_TLS_KEY_FILE %s: %w", t.certFile, t.keyFile, err))
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientAuth: tls.NoClientCert}
	if t.clientAuth != clientAuthNone && t.clientCAFile != "" {
		pool, err := readCertPool(t.clientCAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("ORDERS_TLS_CLIENT_CA_FILE %s: %w", t.clientCAFile, err))
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
		if t.clientAuth == clientAuthRequired {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	if len(errs) == 0 {
		t.config = cfg
	}
	return errs
}

// readCertPool reads the PEM certificates of path.
func readCertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("holds no PEM certificate")
	}
	return pool, nil
}
