// Package dpoptest is a DPoP client for tests: it holds a key of its own
// and signs proofs (RFC 9449) with golang-jwt, honest ones and, through
// Proof's changes, every kind of dishonest one. It is for tests only.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/dpop"
)

// Omit, as the value of a header parameter or claim in Change, removes it.
const Omit = omit("omit")

type omit string

// Client is a DPoP client with its own key.
type Client struct {
	// Alg is the algorithm the client signs with.
	Alg string
	// Signer is the client's private key.
	Signer crypto.Signer
	// JWK is the client's public key as a JWK.
	JWK map[string]any
	// PrivateJWK is the JWK with its private members, which no proof may
	// carry.
	PrivateJWK map[string]any
	// Thumbprint is the JWK's RFC 7638 thumbprint: a bound token's cnf.jkt.
	Thumbprint string
}

// NewClient generates a key for alg: ES256, EdDSA or Ed25519, PS256 or
// RS256.
func NewClient(tb testing.TB, alg string) *Client {
	tb.Helper()
	enc := base64.RawURLEncoding
	c := &Client{Alg: alg}
	var err error
	switch alg {
	case "ES256":
		var k *ecdsa.PrivateKey
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		var point, scalar []byte
		if err == nil {
			point, err = k.PublicKey.Bytes() // 04 || x || y
		}
		if err == nil {
			scalar, err = k.Bytes()
		}
		if err == nil {
			c.Signer = k
			c.JWK = map[string]any{"kty": "EC", "crv": "P-256", "x": enc.EncodeToString(point[1:33]), "y": enc.EncodeToString(point[33:])}
			c.PrivateJWK = with(c.JWK, "d", enc.EncodeToString(scalar))
		}
	case "EdDSA", "Ed25519":
		var pub ed25519.PublicKey
		var k ed25519.PrivateKey
		pub, k, err = ed25519.GenerateKey(rand.Reader)
		c.Signer = k
		c.JWK = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": enc.EncodeToString(pub)}
		c.PrivateJWK = with(c.JWK, "d", enc.EncodeToString(k.Seed()))
	default:
		var k *rsa.PrivateKey
		k, err = rsa.GenerateKey(rand.Reader, 2048)
		if err == nil {
			c.Signer = k
			c.JWK = map[string]any{"kty": "RSA", "n": enc.EncodeToString(k.N.Bytes()), "e": "AQAB"}
			c.PrivateJWK = with(c.JWK, "d", enc.EncodeToString(k.D.Bytes()))
		}
	}
	if err != nil {
		tb.Fatalf("generate key: %v", err)
	}
	raw, err := json.Marshal(c.JWK)
	if err != nil {
		tb.Fatal(err)
	}
	if c.Thumbprint, err = dpop.Thumbprint(raw); err != nil {
		tb.Fatalf("thumbprint: %v", err)
	}
	return c
}

func with(m map[string]any, k string, v any) map[string]any {
	out := maps.Clone(m)
	out[k] = v
	return out
}

// Change alters a proof before it is signed: header parameters and claims
// replace the honest ones (Omit removes one), and Signer, when set, signs
// instead of the client's key.
type Change struct {
	Header map[string]any
	Claims map[string]any
	Signer crypto.Signer
}

// Proof signs a proof for a request of method to url carrying token ("" for
// none: no ath), issued now, with a fresh jti, altered by changes.
func (c *Client) Proof(tb testing.TB, method, url, token string, changes ...Change) string {
	tb.Helper()
	claims := jwt.MapClaims{"jti": rand.Text(), "htm": method, "htu": url, "iat": time.Now().Unix()}
	if token != "" {
		claims["ath"] = dpop.TokenHash(token)
	}
	t := jwt.NewWithClaims(dpop.SigningMethod(c.Alg), claims)
	t.Header["typ"] = "dpop+jwt"
	t.Header["jwk"] = c.JWK
	signer := c.Signer
	for _, ch := range changes {
		apply(t.Header, ch.Header)
		apply(claims, ch.Claims)
		if ch.Signer != nil {
			signer = ch.Signer
		}
	}
	s, err := t.SignedString(signer)
	if err != nil {
		tb.Fatalf("sign proof: %v", err)
	}
	return s
}

func apply(dst, src map[string]any) {
	for k, v := range src {
		if v == Omit {
			delete(dst, k)
			continue
		}
		dst[k] = v
	}
}
