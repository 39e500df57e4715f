package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
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
// it. A token not bound to a certificate passes, and no header is read.
func (v *Verifier) checkCertificate(r *http.Request, p Principal) error {
	if p.X5T == "" {
		return nil
	}
	cert, err := v.clientCertificate(r)
	switch {
	case err != nil:
		return err
	case cert == nil:
		return fail(ReasonCertMissing, nil)
	case subtle.ConstantTimeCompare([]byte(CertificateThumbprint(cert)), []byte(p.X5T)) != 1:
		return fail(ReasonCertMismatch, nil)
	}
	return nil
}

// clientCertificate returns the client certificate of r, or nil: from a
// trusted proxy, the one in the configured header, which the proxy
// verified; from anyone else, the one r's own TLS connection verified.
// Only a verified chain counts: a certificate the client merely sent,
// unchecked against the trusted client CAs, proves nothing.
func (v *Verifier) clientCertificate(r *http.Request) (*x509.Certificate, error) {
	if cc := v.cfg.ClientCerts; cc.Header != "" && trusted(r.RemoteAddr, cc.TrustedProxies) {
		return headerCertificate(r.Header.Values(cc.Header))
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, nil
	}
	return r.TLS.VerifiedChains[0][0], nil
}

// trusted reports whether the peer at remoteAddr (host:port) is in one of
// the networks.
func trusted(remoteAddr string, networks []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	addr := ap.Addr().Unmap()
	return slices.ContainsFunc(networks, func(n netip.Prefix) bool { return n.Contains(addr) })
}

// headerCertificate decodes the one value of a proxy's certificate header:
// URL-encoded PEM. It is decoded as a path, not as a query, so a '+' that
// AWS ALB leaves unescaped stays a '+' of the base64 rather than becoming a
// space. No value is no certificate; two, or one that is not a PEM
// certificate, are refused.
func headerCertificate(values []string) (*x509.Certificate, error) {
	switch {
	case len(values) == 0 || (len(values) == 1 && values[0] == ""):
		return nil, nil
	case len(values) > 1:
		return nil, fail(ReasonCertHeader, errors.New("two client certificate headers"))
	}
	decoded, err := url.PathUnescape(values[0])
	if err != nil {
		return nil, fail(ReasonCertHeader, errors.New("the client certificate header is not URL-encoded"))
	}
	block, _ := pem.Decode([]byte(decoded))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fail(ReasonCertHeader, errors.New("the client certificate header holds no PEM certificate"))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fail(ReasonCertHeader, errors.New("the client certificate header's certificate does not parse"))
	}
	return cert, nil
}
