package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"net/http"
)

// CertificateThumbprint returns the thumbprint a token bound to cert names
// in its cnf["x5t#S256"] (RFC 8705, section 3.1): the base64url-encoded
// SHA-256 hash of cert's DER encoding.
func CertificateThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkCertificate refuses p, whose token is bound to a client
// certificate, unless r came over a connection with that certificate: a
// thief holding the token but not the certificate's private key cannot use
// it. A token not bound to a certificate passes.
func (v *Verifier) checkCertificate(r *http.Request, p Principal) error {
	if p.X5T == "" {
		return nil
	}
	cert := clientCertificate(r)
	switch {
	case cert == nil:
		return fail(ReasonCertMissing, nil)
	case subtle.ConstantTimeCompare([]byte(CertificateThumbprint(cert)), []byte(p.X5T)) != 1:
		return fail(ReasonCertMismatch, nil)
	}
	return nil
}

// clientCertificate returns the client certificate r's TLS connection
// verified, or nil. Only a verified chain counts: a certificate the client
// merely sent, unchecked against the trusted client CAs, proves nothing.
func clientCertificate(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}
