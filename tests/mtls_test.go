package tests

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
)

// tlsClient is a client that trusts ca and presents cert, if any.
func tlsClient(ca *authtest.CA, cert *authtest.Cert) *http.Client {
	cfg := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.TLS}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
}

// getWith sends GET url with token through client, and returns the status
// and WWW-Authenticate, or the error of a refused handshake.
func getWith(t *testing.T, client *http.Client, url, token string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body) // only the status matters
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), nil
}

// startTLS runs the binary serving TLS with the server certificate of ca,
// asking for client certificates as clientAuth says, and returns its URL.
func startTLS(t *testing.T, idp *authtest.IdP, ca *authtest.CA, clientAuth string) string {
	t.Helper()
	env := serverEnv(t, idp)
	env["ORDERS_TLS_CERT_FILE"], env["ORDERS_TLS_KEY_FILE"] = ca.Server(t).WriteFiles(t)
	env["ORDERS_TLS_CLIENT_AUTH"] = clientAuth
	env["ORDERS_TLS_CLIENT_CA_FILE"] = ca.WriteFile(t)
	p := start(t, env, "serve")
	line := p.waitFor(t, "listening")
	if line["tls"] != true {
		t.Errorf("listening = %v; want tls true", line)
	}
	return "https://" + line["addr"].(string)
}

// TestServeCertificateBoundTokens runs the binary with TLS and optional or
// required client certificates: a token bound to a certificate works only
// over a connection with that certificate; an unbound token works over TLS
// as ever.
func TestServeCertificateBoundTokens(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	ca, stranger := authtest.NewCA(t), authtest.NewCA(t)
	mine, other, foreign := ca.Client(t, "mine"), ca.Client(t, "other"), stranger.Client(t, "mine")
	bound := idp.Token(t, authtest.Claims{Subject: "alice", Scope: "orders:read", Extra: map[string]any{"cnf": map[string]any{"x5t#S256": auth.CertificateThumbprint(mine.Leaf)}}})
	unbound := idp.Token(t, authtest.Claims{Subject: "alice", Scope: "orders:read"})
	urls := map[string]string{"optional": startTLS(t, idp, ca, "optional"), "required": startTLS(t, idp, ca, "required")}
	tests := []struct {
		name, mode string
		cert       *authtest.Cert
		token      string
		want       int // 0: the handshake fails
	}{
		{"bound token with its certificate", "optional", mine, bound, http.StatusOK},
		{"bound token with another certificate", "optional", other, bound, http.StatusUnauthorized},
		{"bound token without a certificate", "optional", nil, bound, http.StatusUnauthorized},
		{"certificate of another CA", "optional", foreign, bound, 0},
		{"unbound token without a certificate", "optional", nil, unbound, http.StatusOK},
		{"unbound token with a certificate", "optional", other, unbound, http.StatusOK},
		{"required: bound token with its certificate", "required", mine, bound, http.StatusOK},
		{"required: no certificate", "required", nil, unbound, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, challenge, err := getWith(t, tlsClient(ca, tt.cert), urls[tt.mode]+"/orders", tt.token)
			switch {
			case tt.want == 0 && err == nil:
				t.Errorf("GET = %d; want the handshake refused", status)
			case tt.want != 0 && err != nil:
				t.Fatalf("GET: %v", err)
			case status != tt.want:
				t.Errorf("GET = %d; want %d", status, tt.want)
			case tt.want == http.StatusUnauthorized && !strings.Contains(challenge, `error="invalid_token"`):
				t.Errorf("WWW-Authenticate = %q; want invalid_token", challenge)
			}
		})
	}
}

// TestMintCertificateBoundToken: token mint --cnf-cert gets a token bound
// to a certificate from a running serve --dev, which serves TLS and asks
// for client certificates; the token works with that certificate only.
func TestMintCertificateBoundToken(t *testing.T) {
	t.Parallel()
	ca := authtest.NewCA(t)
	mine, other := ca.Client(t, "mine"), ca.Client(t, "other")
	env := map[string]string{"ORDERS_TLS_CLIENT_AUTH": "optional", "ORDERS_TLS_CLIENT_CA_FILE": ca.WriteFile(t)}
	env["ORDERS_TLS_CERT_FILE"], env["ORDERS_TLS_KEY_FILE"] = ca.Server(t).WriteFiles(t)
	_, base, tokenURL := startDev(t, env)
	base = strings.Replace(base, "http://", "https://", 1)
	issuerAddr := strings.TrimSuffix(strings.TrimPrefix(tokenURL, "http://"), "/token")
	certFile, _ := mine.WriteFiles(t)
	out, code := runBinary(t, nil, "", "token", "mint", "--dev-issuer-addr", issuerAddr, "--sub", "alice", "--scope", "orders:read", "--cnf-cert", certFile)
	tok := strings.TrimSpace(out)
	if code != 0 || strings.Count(tok, ".") != 2 {
		t.Fatalf("mint --cnf-cert: %d %s", code, out)
	}
	tests := []struct {
		name string
		cert *authtest.Cert
		want int
	}{
		{"with its certificate", mine, http.StatusOK},
		{"with another certificate", other, http.StatusUnauthorized},
		{"without a certificate", nil, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, _, err := getWith(t, tlsClient(ca, tt.cert), base+"/orders", tok); err != nil || status != tt.want {
				t.Errorf("GET /orders = %d, %v; want %d", status, err, tt.want)
			}
		})
	}
	if out, code := runBinary(t, nil, "", "token", "mint", "--dev-issuer-addr", issuerAddr, "--sub", "alice", "--cnf-cert", "/nonexistent.pem"); code == 0 || !strings.Contains(out, "--cnf-cert /nonexistent.pem") {
		t.Errorf("mint with a missing certificate file: %d %s; want an error naming it", code, out)
	}
}
