package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
)

// newCertificate makes a self-signed certificate for a client named cn.
func newCertificate(tb testing.TB, cn string) *x509.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert
}

// TestCertificateBinding: a token bound to a client certificate is accepted
// only over a connection that verified that certificate, whatever else the
// connection holds; an unbound token needs none.
func TestCertificateBinding(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	v := idp.NewVerifier(t)
	mine, other := newCertificate(t, "mine"), newCertificate(t, "other")
	bound := idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"cnf": map[string]any{"x5t#S256": auth.CertificateThumbprint(mine)}}})
	unbound := idp.Token(t, authtest.Claims{Subject: "a"})
	verified := func(c *x509.Certificate) *tls.ConnectionState {
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c}}}
	}
	tests := []struct {
		name  string
		token string
		tls   *tls.ConnectionState
		want  auth.Reason // 0: accepted
	}{
		{"bound token with its certificate", bound, verified(mine), 0},
		{"bound token with another certificate", bound, verified(other), auth.ReasonCertMismatch},
		{"bound token without TLS", bound, nil, auth.ReasonCertMissing},
		{"bound token over TLS without a certificate", bound, &tls.ConnectionState{}, auth.ReasonCertMissing},
		{"bound token with its certificate unverified", bound, &tls.ConnectionState{PeerCertificates: []*x509.Certificate{mine}}, auth.ReasonCertMissing},
		{"unbound token without TLS", unbound, nil, 0},
		{"unbound token with a certificate", unbound, verified(other), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got error
			r := gin.New()
			r.GET("/", auth.Authenticate(v, func(c *gin.Context, err error) {
				got = err
				c.Status(http.StatusUnauthorized)
			}), func(c *gin.Context) { c.Status(http.StatusOK) })
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+tt.token)
			req.TLS = tt.tls
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			var e *auth.Error
			switch {
			case tt.want == 0 && (w.Code != http.StatusOK || got != nil):
				t.Errorf("got %d, %v; want 200", w.Code, got)
			case tt.want != 0 && (!errors.As(got, &e) || e.Reason != tt.want || !errors.Is(got, auth.ErrInvalidToken)):
				t.Errorf("got %v; want reason %s", got, tt.want)
			case tt.want != 0 && !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`):
				t.Errorf("WWW-Authenticate = %q; want invalid_token", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}
