package introspect_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/auth/introspect"
)

// TestBasicAuthFormEncodesFirst: RFC 6749 (section 2.3.1) form-urlencodes
// the client id and secret before HTTP Basic joins them, so a colon in
// either cannot move the split.
func TestBasicAuthFormEncodesFirst(t *testing.T) {
	t.Parallel()
	got := introspect.BasicAuth("orders api", "s:e+c/r%t")
	pair, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(got, "Basic "))
	if err != nil {
		t.Fatal(err)
	}
	if want := "orders+api:s%3Ae%2Bc%2Fr%25t"; string(pair) != want {
		t.Errorf("pair = %q; want %q", pair, want)
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	sec1, err := x509.MarshalECPrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(p256.Public())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pem     []byte
		alg     string
		wantErr string
	}{
		{"P-256 PKCS #8", pkcs8(p256), "ES256", ""},
		{"P-256 SEC 1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), "ES256", ""},
		{"P-384", pkcs8(p384), "ES384", ""},
		{"Ed25519", pkcs8(ed), "EdDSA", ""},
		{"RSA 2048 PKCS #1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsa2048)}), "RS256", ""},
		{"RSA 1024", pkcs8(rsa1024), "", "at least 2048"},
		{"a public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), "", "not a private key"},
		{"not PEM", []byte("secret"), "", "no PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := introspect.ParseKey(tt.pem, "")
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("ParseKey = %v; want an error about %q", err, tt.wantErr)
			case tt.wantErr == "" && (err != nil || k.Alg != tt.alg || k.ID != dpopThumbprint(t, k.Signer.Public())):
				t.Errorf("ParseKey = %+v, %v; want %s with its RFC 7638 thumbprint as kid", k, err, tt.alg)
			}
		})
	}
	k, err := introspect.ParseKey(pkcs8(p256), "mine")
	if err != nil || k.ID != "mine" {
		t.Errorf("ParseKey with a kid = %+v, %v; want kid mine", k, err)
	}
}

// dpopThumbprint is the RFC 7638 thumbprint of pub as the DPoP package
// computes it from pub's JWK, so that both agree.
func dpopThumbprint(tb testing.TB, pub crypto.PublicKey) string {
	tb.Helper()
	jwk, err := (&jose.JSONWebKey{Key: pub}).MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	tp, err := dpop.Thumbprint(jwk)
	if err != nil {
		tb.Fatal(err)
	}
	return tp
}

// TestFailedAnswersKeepTheConnection: the body of an answer that is not a
// 200 JSON is read and dropped, so the next call reuses the connection.
func TestFailedAnswersKeepTheConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("html") {
			w.Header().Set("Content-Type", "text/html")
		} else {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_, _ = w.Write([]byte(strings.Repeat("error ", 2000))) // the client's loss if it went away
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	for _, endpoint := range []string{srv.URL, srv.URL + "?html"} {
		c, err := introspect.New(introspect.Options{Endpoint: endpoint, ClientID: "orders", Secret: "s"})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := c.Introspect(t.Context(), "token"); !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("Introspect = %v; want ErrUnavailable", err)
			}
		}
	}
	if got := conns.Load(); got > 2 {
		t.Errorf("connections for 3 failed calls by each of two clients = %d; want one each at most", got)
	}
}
