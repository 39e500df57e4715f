package auth_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
)

// TestPSSSaltMustEqualHash: RFC 7518 (section 3.5) fixes the PSS salt at
// the hash's length; a signature with a longer salt, which golang-jwt's own
// PS256 would verify, is refused.
func TestPSSSaltMustEqualHash(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	ps := authtest.NewKey(t, "ps", "PS256")
	idp.SetKeys(ps)
	v := idp.NewVerifier(t)
	enc := base64.RawURLEncoding
	signed := func(salt int) string {
		h, _ := json.Marshal(map[string]any{"alg": "PS256", "kid": ps.ID})
		c, _ := json.Marshal(idp.ClaimsMap(authtest.Claims{Subject: "alice"}))
		input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
		digest := sha256.Sum256([]byte(input))
		sig, err := ps.Signer.Sign(rand.Reader, digest[:], &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + enc.EncodeToString(sig)
	}
	if _, err := v.Verify(t.Context(), signed(sha256.Size)); err != nil {
		t.Errorf("salt of the hash's length: %v; want accepted", err)
	}
	var e *auth.Error
	if _, err := v.Verify(t.Context(), signed(64)); !errors.As(err, &e) || e.Reason != auth.ReasonBadSignature {
		t.Errorf("salt of 64 bytes: %v; want bad_signature", err)
	}
}

// TestPoisonedJWKS: a JWKS that holds, beside the issuer's real key, the
// Ed25519 identity point (under which the signature 01 00…00 | 00…00
// verifies for every message), an RSA key with the ROCA fingerprint and
// other weak keys lets nobody forge a token, and the real key stays usable.
func TestPoisonedJWKS(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	real := idp.Keys()[0]
	identity := make([]byte, 32)
	identity[0] = 1
	// The premise: under the identity point this signature verifies.
	forgedSig := make([]byte, 64)
	forgedSig[0] = 1
	poison := []any{
		map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "poison", "x": base64.RawURLEncoding.EncodeToString(identity)},
		weakJWKs(t)["ROCA fingerprint"],
		weakJWKs(t)["RSA exponent 1"],
		jwkOf(t, real),
	}
	b, _ := json.Marshal(map[string]any{"keys": poison})
	srv := jwksServer(t, nil, string(b))
	iss := idp.Trust()
	iss.JWKSURL = srv.URL + "/jwks.json"
	v, err := auth.NewVerifier(one(iss), authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	claims := idp.ClaimsMap(authtest.Claims{Subject: "mallory", Scope: "orders:write"})
	for _, kid := range []string{"poison", "kid-rsa-roca-sign", "RS256_2048"} {
		alg := "RS256"
		if kid == "poison" {
			alg = "EdDSA"
		}
		forged := authtest.Compact(t, map[string]any{"alg": alg, "kid": kid}, claims, forgedSig)
		var e *auth.Error
		if _, err := v.Verify(t.Context(), forged); !errors.As(err, &e) || e.Reason != auth.ReasonUnknownKey {
			t.Errorf("token under the weak key %s: %v; want unknown_key (the key is not used)", kid, err)
		}
	}
	if _, err := v.Verify(t.Context(), idp.Sign(t, real, nil, claims)); err != nil {
		t.Errorf("the real key beside weak ones: %v; want accepted", err)
	}
}

// weakJWKs returns weak public keys from Wycheproof's JWK vectors, by what
// makes them weak.
func weakJWKs(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wycheproof", "json_web_key_test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		TestGroups []struct {
			Comment string `json:"comment"`
			Public  struct {
				Keys []any `json:"keys"`
			} `json:"public"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{"jws_rsa_roca_key": "ROCA fingerprint", "exponentOne": "RSA exponent 1"}
	out := map[string]any{}
	for _, g := range v.TestGroups {
		if name, ok := names[g.Comment]; ok {
			out[name] = g.Public.Keys[0]
		}
	}
	if len(out) != len(names) {
		t.Fatalf("found %d of the %d weak keys in the vectors", len(out), len(names))
	}
	return out
}
