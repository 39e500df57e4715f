package clientauth_test

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
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/clientauth"
	"github.com/coffeemesh/orders/auth/dpop"
)

// TestBasicAuthFormEncodesFirst: RFC 6749 (section 2.3.1) form-urlencodes
// the client id and secret before HTTP Basic joins them, so a colon in
// either cannot move the split.
func TestBasicAuthFormEncodesFirst(t *testing.T) {
	t.Parallel()
	got := clientauth.BasicAuth("orders api", "s:e+c/r%t")
	pair, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(got, "Basic "))
	if err != nil {
		t.Fatal(err)
	}
	if want := "orders+api:s%3Ae%2Bc%2Fr%25t"; string(pair) != want {
		t.Errorf("pair = %q; want %q", pair, want)
	}
}

func newEC(tb testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func newRSA(tb testing.TB, bits int) *rsa.PrivateKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func pkcs8(tb testing.TB, k any) []byte {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	p256 := newEC(t, elliptic.P256())
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048 := newRSA(t, 2048)
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
		{"P-256 PKCS #8", pkcs8(t, p256), "ES256", ""},
		{"P-256 SEC 1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), "ES256", ""},
		{"P-384", pkcs8(t, newEC(t, elliptic.P384())), "ES384", ""},
		{"P-521", pkcs8(t, newEC(t, elliptic.P521())), "ES512", ""},
		{"Ed25519", pkcs8(t, ed), "EdDSA", ""},
		{"RSA 2048 PKCS #1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsa2048)}), "RS256", ""},
		{"RSA 1024", pkcs8(t, newRSA(t, 1024)), "", "at least 2048"},
		{"a public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), "", "not a private key"},
		{"an encrypted key", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "", "store the key unencrypted"},
		{"a broken key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), "", "PEM block (PRIVATE KEY)"},
		{"not PEM", []byte("secret"), "", "no PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := clientauth.ParseKey(tt.pem, "")
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("ParseKey = %v; want an error about %q", err, tt.wantErr)
			case tt.wantErr == "" && (err != nil || k.Alg != tt.alg || k.ID != ""):
				t.Errorf("ParseKey = %+v, %v; want %s without a kid", k, err, tt.alg)
			}
		})
	}
	k, err := clientauth.ParseKey(pkcs8(t, p256), "mine")
	if err != nil || k.ID != "mine" {
		t.Errorf("ParseKey with a kid = %+v, %v; want kid mine", k, err)
	}
}

// TestThumbprintAgreesWithDPoP: Thumbprint computes from the key what the
// DPoP package computes from the key's JWK (RFC 7638).
func TestThumbprintAgreesWithDPoP(t *testing.T) {
	t.Parallel()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []crypto.Signer{newEC(t, elliptic.P256()), newRSA(t, 2048), ed} {
		jwk, err := (&jose.JSONWebKey{Key: k.Public()}).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want, err := dpop.Thumbprint(jwk)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := clientauth.Thumbprint(k.Public()); err != nil || got != want {
			t.Errorf("Thumbprint(%T) = %q, %v; want %q", k, got, err, want)
		}
	}
}

// TestCheck: a client without an id, without a secret or key, with both,
// or with a key that cannot sign what its Alg says, is refused.
func TestCheck(t *testing.T) {
	t.Parallel()
	p256 := newEC(t, elliptic.P256())
	p384 := newEC(t, elliptic.P384())
	rsa1024 := newRSA(t, 1024)
	tests := []struct {
		name    string
		c       clientauth.Credentials
		wantErr string
	}{
		{"secret", clientauth.Credentials{ID: "orders-api", Secret: "s"}, ""},
		{"key", clientauth.Credentials{ID: "orders-api", Key: &clientauth.Key{Signer: p384, Alg: "ES384"}}, ""},
		{"no id", clientauth.Credentials{Secret: "s"}, "a client id is required"},
		{"no credential", clientauth.Credentials{ID: "orders-api"}, "exactly one of a client secret and a client key"},
		{"both", clientauth.Credentials{ID: "orders-api", Secret: "s", Key: &clientauth.Key{Signer: p256, Alg: "ES256"}}, "exactly one of a client secret and a client key"},
		{"key without signer", clientauth.Credentials{ID: "orders-api", Key: &clientauth.Key{Alg: "ES256"}}, "no signer"},
		{"alg of another curve", clientauth.Credentials{ID: "orders-api", Key: &clientauth.Key{Signer: p384, Alg: "ES256"}}, "signs with ES384"},
		{"short RSA key", clientauth.Credentials{ID: "orders-api", Key: &clientauth.Key{Signer: rsa1024, Alg: "RS256"}}, "at least 2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.c.Check()
			if (tt.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Check = %v; want %q", err, tt.wantErr)
			}
		})
	}
}

// TestNewRequestWithSecret: client_secret_basic is the Authorization
// header alone; the form carries no credential.
func TestNewRequestWithSecret(t *testing.T) {
	t.Parallel()
	c := clientauth.Credentials{ID: "orders api", Secret: "p@ss:word+1"}
	form := url.Values{"grant_type": {"client_credentials"}}
	r, err := c.NewRequest(t.Context(), "https://idp.example.com/token", form, "https://idp.example.com", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != "orders+api" || secret != "p%40ss%3Aword%2B1" {
		t.Errorf("Basic = %q, %q, %v; want both form-urlencoded", id, secret, ok)
	}
	if err := r.ParseForm(); err != nil {
		t.Fatal(err)
	}
	if got := r.PostForm.Encode(); got != "grant_type=client_credentials" {
		t.Errorf("form = %s; want only the caller's fields", got)
	}
	if r.Method != "POST" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.Header.Get("Accept") != "application/json" {
		t.Errorf("%s with Content-Type %q, Accept %q; want a form POST that accepts JSON", r.Method, r.Header.Get("Content-Type"), r.Header.Get("Accept"))
	}
}

// TestPrivateKeyJWT: with a key, the request carries a client assertion
// (RFC 7523): iss and sub the client id, the caller's audience as one
// string, a fresh jti, a minute's life, the key's alg and its kid if it has
// one; and no Authorization header.
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  clientauth.Key
	}{
		{"ES256 with a kid", clientauth.Key{Signer: newEC(t, elliptic.P256()), Alg: "ES256", ID: "k1"}},
		{"ES512 without a kid", clientauth.Key{Signer: newEC(t, elliptic.P521()), Alg: "ES512"}},
		{"RS256", clientauth.Key{Signer: newRSA(t, 2048), Alg: "RS256", ID: "r"}},
		{"EdDSA", clientauth.Key{Signer: ed, Alg: "EdDSA", ID: "e"}},
	}
	const aud = "https://idp.example.com/oauth2/token"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := clientauth.Credentials{ID: "orders-api", Key: &tt.key}
			now := time.Now()
			seen := map[string]bool{}
			for range 2 {
				r, err := c.NewRequest(t.Context(), aud, url.Values{"token": {"t"}}, aud, now)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.ParseForm(); err != nil {
					t.Fatal(err)
				}
				form := r.PostForm
				if r.Header.Get("Authorization") != "" || form.Get("token") != "t" || form.Get("client_id") != "orders-api" || form.Get("client_assertion_type") != clientauth.AssertionType {
					t.Fatalf("Authorization %q, form %v; want the caller's fields, a client assertion and no Basic", r.Header.Get("Authorization"), form)
				}
				raw := form.Get("client_assertion")
				var claims struct {
					jwt.RegisteredClaims
					Aud any `json:"aud"`
				}
				tok, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return tt.key.Signer.Public(), nil },
					jwt.WithValidMethods([]string{tt.key.Alg}), jwt.WithIssuer("orders-api"), jwt.WithSubject("orders-api"), jwt.WithExpirationRequired())
				if err != nil {
					t.Fatalf("client assertion: %v", err)
				}
				if claims.Aud != aud {
					t.Errorf("aud = %#v; want the string %q", claims.Aud, aud)
				}
				if life := claims.ExpiresAt.Sub(claims.IssuedAt.Time); life != time.Minute || claims.IssuedAt.Unix() != now.Unix() {
					t.Errorf("issued at %v for %v; want now for a minute", claims.IssuedAt, life)
				}
				if kid, has := tok.Header["kid"]; tt.key.ID == "" && has || tt.key.ID != "" && kid != tt.key.ID {
					t.Errorf("kid = %v; want %q (none when empty)", kid, tt.key.ID)
				}
				if claims.ID == "" || seen[claims.ID] {
					t.Errorf("jti %q is empty or used before", claims.ID)
				}
				seen[claims.ID] = true
			}
		})
	}
}

// TestNewRequestRefusesABadEndpoint: an endpoint that is not a URL is an
// error, with neither the secret nor the assertion in it.
func TestNewRequestRefusesABadEndpoint(t *testing.T) {
	t.Parallel()
	c := clientauth.Credentials{ID: "orders-api", Secret: "hunter2"}
	_, err := c.NewRequest(t.Context(), "http://[::1", url.Values{}, "aud", time.Now())
	if err == nil || !strings.Contains(err.Error(), "is not a URL") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("NewRequest = %v; want an error that the endpoint is not a URL, without the secret", err)
	}
}
