// Package devissuer is a small OpenID provider for development and tests: it
// serves OpenID discovery, a JWKS and a token endpoint (client credentials,
// authorization code, token exchange), and signs access tokens with keys it
// generates in memory at start. Nothing it signs outlives the process.
//
// It is what `serve --dev` runs on loopback, and what auth/authtest builds on,
// so the API verifies its tokens through the very same JWKS path as a hosted
// identity provider's. It must never be reachable from a network.
package devissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/dpop"
)

// Key is a signing key with its kid and the algorithm it signs with.
type Key struct {
	ID     string
	Alg    string
	Signer crypto.Signer
}

// NewKey generates a key for alg (RS256, RS384, RS512, PS256, PS384, PS512,
// ES256, ES384, ES512 or EdDSA) with the given kid.
func NewKey(kid, alg string) (Key, error) {
	var (
		s   crypto.Signer
		err error
	)
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		s, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		s, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "EdDSA":
		_, s, err = ed25519.GenerateKey(rand.Reader)
	default:
		return Key{}, fmt.Errorf("devissuer: unknown algorithm %q", alg)
	}
	if err != nil {
		return Key{}, fmt.Errorf("devissuer: generate %s key: %w", alg, err)
	}
	return Key{ID: kid, Alg: alg, Signer: s}, nil
}

// JWK returns the public half of k as a JWK that names its kid, alg and use.
func (k Key) JWK() (json.RawMessage, error) {
	jwk, err := jwkset.NewJWKFromKey(k.Signer.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: k.ID, ALG: jwkset.ALG(k.Alg), USE: jwkset.UseSig},
	})
	if err != nil {
		return nil, fmt.Errorf("devissuer: marshal key %s: %w", k.ID, err)
	}
	return json.Marshal(jwk.Marshal())
}

// Issuer is an OpenID provider. It is safe for concurrent use.
type Issuer struct {
	url      string
	audience string
	scopes   []string

	// proofs checks the DPoP proofs of token requests.
	proofs *dpop.Verifier

	mu       sync.RWMutex
	keys     []Key            // keys[0] signs; all are published
	codes    map[string]grant // authorization codes not yet exchanged
	exchange *ExchangePolicy  // nil: no token is exchanged
}

// New returns an issuer that calls itself url, mints tokens for audience
// with at most the given scopes, and signs with a fresh RS256 key.
func New(url, audience string, scopes []string) (*Issuer, error) {
	k, err := NewKey("dev-"+time.Now().UTC().Format("20060102T150405"), "RS256")
	if err != nil {
		return nil, err
	}
	proofs, err := dpop.New(dpop.Options{Replay: dpop.NewMemoryStore(0, nil)})
	if err != nil {
		return nil, err
	}
	return &Issuer{url: url, audience: audience, scopes: scopes, proofs: proofs, keys: []Key{k}, codes: map[string]grant{}}, nil
}

// URL is the issuer identifier, the iss of its tokens.
func (i *Issuer) URL() string { return i.url }

// SetKeys replaces the published keys; the first one signs from now on.
func (i *Issuer) SetKeys(keys ...Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = keys
}

// Keys returns the published keys; the first one signs.
func (i *Issuer) Keys() []Key {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.keys
}

// JWKS returns the JSON Web Key Set of the published keys.
func (i *Issuer) JWKS() ([]byte, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	for _, k := range i.Keys() {
		jwk, err := k.JWK()
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, jwk)
	}
	return json.Marshal(set)
}

// Sign signs claims with key, with a header naming its alg, kid and typ
// at+jwt, then extra header parameters, which replace those; a nil value
// removes one.
func Sign(key Key, header map[string]any, claims jwt.Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.GetSigningMethod(key.Alg), claims)
	t.Header["kid"] = key.ID
	t.Header["typ"] = "at+jwt"
	for name, v := range header {
		if v == nil {
			delete(t.Header, name)
		} else {
			t.Header[name] = v
		}
	}
	return t.SignedString(key.Signer)
}

// Mint returns an access token for subject with the given scopes, valid for
// ttl, signed with the current key.
func (i *Issuer) Mint(subject string, scopes []string, ttl time.Duration) (string, error) {
	return i.mint(subject, scopes, ttl, nil)
}

// mint is Mint with the confirmation claim cnf, unless nil.
func (i *Issuer) mint(subject string, scopes []string, ttl time.Duration, cnf map[string]any) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"iss":   i.url,
		"sub":   subject,
		"aud":   i.audience,
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(ttl).Unix(),
		"scope": strings.Join(scopes, " "),
	}
	if cnf != nil {
		claims["cnf"] = cnf
	}
	return Sign(i.Keys()[0], nil, claims)
}
