package tests

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
)

// certHeader is the header the tests' proxy sends client certificates in.
const certHeader = "X-Client-Cert"

// escapeCert URL-encodes a PEM certificate as a proxy does: every byte but
// letters, digits and -._~ as %XX (nginx's $ssl_client_escaped_cert), and
// with keep also left as is (AWS ALB leaves + = / unescaped).
func escapeCert(pem, keep string) string {
	var b strings.Builder
	for _, c := range []byte(pem) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-._~"+keep, c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// newProxiedEnv starts an API that reads client certificates from
// certHeader when the peer is in trusted.
func newProxiedEnv(t *testing.T, idp *authtest.IdP, trusted ...string) *env {
	t.Helper()
	return newEnvFor(t, idp, func(c *envConfig) {
		c.auth.ClientCerts.Header = certHeader
		for _, n := range trusted {
			c.auth.ClientCerts.TrustedProxies = append(c.auth.ClientCerts.TrustedProxies, netip.MustParsePrefix(n))
		}
	})
}

// TestClientCertificateFromProxy: behind a TLS-terminating proxy, the
// client certificate comes in a header, believed only from a trusted
// peer; the test server's peers are 127.0.0.1.
func TestClientCertificateFromProxy(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	trusted := newProxiedEnv(t, idp, "10.0.0.0/8", "127.0.0.1/32")
	untrusted := newProxiedEnv(t, idp, "10.0.0.0/8", "::1/128")
	ca := authtest.NewCA(t)
	other := ca.Client(t, "other")
	// A certificate whose base64 holds a '+', which a query decoder would
	// turn into a space.
	mine := ca.Client(t, "mine")
	for !strings.Contains(mine.PEM(), "+") {
		mine = ca.Client(t, "mine")
	}
	bound := idp.Token(t, authtest.Claims{Subject: "alice", Scope: "orders:read", Extra: map[string]any{"cnf": map[string]any{"x5t#S256": auth.CertificateThumbprint(mine.Leaf)}}})
	unbound := idp.Token(t, authtest.Claims{Subject: "alice", Scope: "orders:read"})
	nginx, alb := escapeCert(mine.PEM(), ""), escapeCert(mine.PEM(), "+=/")
	tests := []struct {
		name   string
		e      *env
		token  string
		header []string
		want   int
	}{
		{"trusted proxy, nginx encoding", trusted, bound, []string{nginx}, http.StatusOK},
		{"trusted proxy, ALB encoding", trusted, bound, []string{alb}, http.StatusOK},
		{"trusted proxy, another certificate", trusted, bound, []string{escapeCert(other.PEM(), "")}, http.StatusUnauthorized},
		{"trusted proxy, no header", trusted, bound, nil, http.StatusUnauthorized},
		{"trusted proxy, two headers", trusted, bound, []string{nginx, nginx}, http.StatusUnauthorized},
		{"trusted proxy, bad escape", trusted, bound, []string{"%zz"}, http.StatusUnauthorized},
		{"trusted proxy, not PEM", trusted, bound, []string{"hello"}, http.StatusUnauthorized},
		{"trusted proxy, PEM of garbage", trusted, bound, []string{escapeCert("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "")}, http.StatusUnauthorized},
		{"trusted proxy, unbound token with garbage", trusted, unbound, []string{"%zz"}, http.StatusOK},
		{"untrusted peer, right certificate", untrusted, bound, []string{nginx}, http.StatusUnauthorized},
		{"untrusted peer, unbound token", untrusted, unbound, []string{nginx}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := tt.e.do(t, request{method: http.MethodGet, path: "/orders", token: tt.token, header: http.Header{certHeader: tt.header}})
			if resp.status != tt.want {
				t.Errorf("GET /orders = %d %s; want %d", resp.status, resp.body, tt.want)
			}
			if got := resp.header.Get("WWW-Authenticate"); tt.want == http.StatusUnauthorized && !strings.Contains(got, `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q; want invalid_token", got)
			}
		})
	}
}
