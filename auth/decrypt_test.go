package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/auth/jwe"
)

// newDecryptingVerifier returns a verifier that trusts idp and decrypts
// with keys.
func newDecryptingVerifier(tb testing.TB, idp *authtest.IdP, keys ...authtest.DecryptionKey) *auth.Verifier {
	tb.Helper()
	cfg := idp.Config()
	if len(keys) > 0 {
		cfg.DecryptionKeys = authtest.KeySet(tb, keys...)
	}
	v, err := auth.NewVerifier(cfg, authtest.Discard())
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// wantReason fails the test unless err is an *auth.Error of reason want.
func wantReason(tb testing.TB, err error, want auth.Reason) {
	tb.Helper()
	var e *auth.Error
	if !errors.As(err, &e) || e.Reason != want {
		tb.Errorf("Verify = %v; want reason %s", err, want)
	}
}

// TestVerifyDecryptsEveryAcceptedAlgorithm: a signed token encrypted with
// each accepted key management and content encryption algorithm, to keys
// made now, is decrypted and verified as the signed token it holds.
func TestVerifyDecryptsEveryAcceptedAlgorithm(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	rsaKey := authtest.NewDecryptionKey(t, "rsa-1", "RSA")
	ecKey := authtest.NewDecryptionKey(t, "ec-1", "EC")
	v := newDecryptingVerifier(t, idp, rsaKey, ecKey)
	signed := idp.Token(t, authtest.Claims{Subject: "alice", Scope: "orders:read"})
	for _, alg := range jwe.KeyAlgorithms() {
		to := rsaKey
		if strings.HasPrefix(alg, "ECDH") {
			to = ecKey
		}
		for _, enc := range jwe.ContentAlgorithms() {
			t.Run(alg+" "+enc, func(t *testing.T) {
				t.Parallel()
				tok := authtest.Encrypt(t, signed, to, authtest.Encryption{Alg: alg, Enc: enc})
				p, err := v.Verify(t.Context(), tok)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p.Subject != "alice" || p.Issuer != idp.URL() || !p.Has("orders:read") || p.Has("orders:write") {
					t.Errorf("got %+v; want alice of the IdP with orders:read only", p)
				}
			})
		}
	}
}

// tamper returns tok with part i (0 to 4) changed by f.
func tamper(tok string, i int, f func([]byte) []byte) string {
	parts := strings.Split(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[i])
	parts[i] = base64.RawURLEncoding.EncodeToString(f(b))
	return strings.Join(parts, ".")
}

// flip changes the last byte.
func flip(b []byte) []byte {
	b[len(b)-1] ^= 1
	return b
}

// TestVerifyRefusesEncryptedTokens: each way an encrypted token can be
// unacceptable is refused with its own reason, most before any
// cryptography.
func TestVerifyRefusesEncryptedTokens(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	key := authtest.NewDecryptionKey(t, "rsa-1", "RSA")
	ecKey := authtest.NewDecryptionKey(t, "ec-1", "EC")
	stranger := authtest.NewDecryptionKey(t, "rsa-1", "RSA")
	v := newDecryptingVerifier(t, idp, key, ecKey)
	plain := newDecryptingVerifier(t, idp)
	signed := idp.Token(t, authtest.Claims{Subject: "alice", Scope: "orders:read"})
	good := authtest.Encrypt(t, signed, key, authtest.Encryption{})
	enc := func(e authtest.Encryption) string { return authtest.Encrypt(t, signed, key, e) }
	badSig := tamper(signed, 2, flip)
	expired := idp.Token(t, authtest.Claims{Subject: "alice", Extra: map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}})
	bare := `{"iss":"` + idp.URL() + `","sub":"mallory","aud":"` + authtest.Audience + `","exp":9999999999}`
	unsigned := authtest.Compact(t, map[string]any{"alg": "none", "typ": "JWT"}, idp.ClaimsMap(authtest.Claims{Subject: "mallory"}), nil)
	rawHeader := func(header string) string {
		parts := strings.Split(good, ".")
		parts[0] = base64.RawURLEncoding.EncodeToString([]byte(header))
		return strings.Join(parts, ".")
	}
	tests := []struct {
		name string
		v    *auth.Verifier
		tok  string
		want auth.Reason
	}{
		{"no decryption key configured", plain, good, auth.ReasonJWENoKey},
		{"RSA1_5", v, enc(authtest.Encryption{Alg: "RSA1_5"}), auth.ReasonJWEAlgorithm},
		{"dir", v, enc(authtest.Encryption{Alg: "dir", Enc: "A256GCM", Key: make([]byte, 32)}), auth.ReasonJWEAlgorithm},
		{"PBES2", v, enc(authtest.Encryption{Alg: "PBES2-HS256+A128KW", Key: "correct horse battery staple"}), auth.ReasonJWEAlgorithm},
		{"AES key wrap", v, enc(authtest.Encryption{Alg: "A128KW", Key: make([]byte, 16)}), auth.ReasonJWEAlgorithm},
		{"A192GCM", v, enc(authtest.Encryption{Enc: "A192GCM"}), auth.ReasonJWEAlgorithm},
		{"unknown alg", v, rawHeader(`{"alg":"RSA-OAEP-384","enc":"A256GCM","cty":"JWT"}`), auth.ReasonJWEAlgorithm},
		{"zip", v, enc(authtest.Encryption{Compress: true}), auth.ReasonJWECompressed},
		{"crit", v, enc(authtest.Encryption{Header: map[string]any{"crit": []string{"exp"}, "exp": 1}}), auth.ReasonCritical},
		{"oversized header", v, enc(authtest.Encryption{Header: map[string]any{"pad": strings.Repeat("a", jwe.MaxHeaderLength)}}), auth.ReasonJWEMalformed},
		{"oversized encrypted key", v, tamper(good, 1, func(b []byte) []byte { return append(b, make([]byte, 1024)...) }), auth.ReasonJWEMalformed},
		{"oversized token", v, authtest.Encrypt(t, signed+strings.Repeat("A", auth.MaxTokenLength), key, authtest.Encryption{}), auth.ReasonTooLong},
		{"initialization vector of the wrong size", v, tamper(good, 2, func(b []byte) []byte { return append(b, 0) }), auth.ReasonJWEMalformed},
		{"duplicate header member", v, rawHeader(`{"alg":"RSA-OAEP-256","alg":"dir","enc":"A256GCM","cty":"JWT"}`), auth.ReasonJWEMalformed},
		{"kid not a string", v, rawHeader(`{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"JWT","kid":null}`), auth.ReasonJWEMalformed},
		{"header not JSON", v, rawHeader(`{"alg":`), auth.ReasonJWEMalformed},
		{"ECDH-ES with an encrypted key", v, tamper(authtest.Encrypt(t, signed, ecKey, authtest.Encryption{}), 1, func([]byte) []byte { return []byte("key") }), auth.ReasonJWEMalformed},
		{"wrong kid", v, authtest.Encrypt(t, signed, authtest.NewDecryptionKey(t, "rsa-2", "RSA"), authtest.Encryption{}), auth.ReasonJWEUnknownKey},
		{"kid of a key of another type", v, authtest.Encrypt(t, signed, authtest.DecryptionKey{KID: "ec-1", Private: key.Private}, authtest.Encryption{}), auth.ReasonJWEUnknownKey},
		{"another key under our kid", v, authtest.Encrypt(t, signed, stranger, authtest.Encryption{}), auth.ReasonJWEDecrypt},
		{"tampered tag", v, tamper(good, 4, flip), auth.ReasonJWEDecrypt},
		{"tampered ciphertext", v, tamper(good, 3, flip), auth.ReasonJWEDecrypt},
		{"tampered initialization vector", v, tamper(good, 2, flip), auth.ReasonJWEDecrypt},
		{"tampered encrypted key", v, tamper(good, 1, flip), auth.ReasonJWEDecrypt},
		{"tampered header (aad)", v, tamper(good, 0, func(b []byte) []byte { return append(b[:len(b)-1], []byte(`,"x":1}`)...) }), auth.ReasonJWEDecrypt},
		{"cty not JWT", v, enc(authtest.Encryption{ContentType: "json"}), auth.ReasonJWENotNested},
		{"cty JOSE", v, enc(authtest.Encryption{ContentType: "JOSE"}), auth.ReasonJWENotNested},
		{"bare claims", v, authtest.Encrypt(t, bare, key, authtest.Encryption{}), auth.ReasonJWENotNested},
		{"bare claims without cty", v, authtest.Encrypt(t, bare, key, authtest.Encryption{ContentType: string(authtest.Omit)}), auth.ReasonJWENotNested},
		{"encrypted token inside", v, authtest.Encrypt(t, good, key, authtest.Encryption{}), auth.ReasonJWENotNested},
		{"encrypted token inside without cty", v, authtest.Encrypt(t, good, key, authtest.Encryption{ContentType: string(authtest.Omit)}), auth.ReasonJWENotNested},
		{"unsigned JWT (alg none) without cty", v, authtest.Encrypt(t, unsigned, key, authtest.Encryption{ContentType: string(authtest.Omit)}), auth.ReasonBadSignature},
		{"nested JWS with a bad signature", v, authtest.Encrypt(t, badSig, key, authtest.Encryption{}), auth.ReasonBadSignature},
		{"nested JWS expired", v, authtest.Encrypt(t, expired, key, authtest.Encryption{}), auth.ReasonExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.v.Verify(t.Context(), tt.tok)
			wantReason(t, err, tt.want)
		})
	}
}

// TestVerifyDecryptsAnyCTYSpellingOfJWT: cty is compared as typ is,
// case-insensitively and without an "application/" prefix, and may be
// left out (as Auth0 does): the signature of the JWS inside, not the cty,
// is what refuses bare claims.
func TestVerifyDecryptsAnyCTYSpellingOfJWT(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	key := authtest.NewDecryptionKey(t, "", "EC")
	v := newDecryptingVerifier(t, idp, key)
	signed := idp.Token(t, authtest.Claims{Subject: "alice"})
	for _, cty := range []string{"JWT", "jwt", "application/jwt", "Application/JWT", string(authtest.Omit)} {
		if _, err := v.Verify(t.Context(), authtest.Encrypt(t, signed, key, authtest.Encryption{ContentType: cty})); err != nil {
			t.Errorf("cty %q: Verify = %v; want the token accepted", cty, err)
		}
	}
}

// TestVerifyDecryptsAcrossKeyRotation: with the old and the new key in the
// JWK set, tokens to either are accepted by kid; once the old key leaves
// the set, tokens to it are refused as for an unknown key. A token
// without kid is not tried with keys that have one.
func TestVerifyDecryptsAcrossKeyRotation(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	older := authtest.NewDecryptionKey(t, "2025", "RSA")
	newer := authtest.NewDecryptionKey(t, "2026", "EC")
	both := newDecryptingVerifier(t, idp, older, newer)
	after := newDecryptingVerifier(t, idp, newer)
	signed := idp.Token(t, authtest.Claims{Subject: "alice"})
	toOlder := authtest.Encrypt(t, signed, older, authtest.Encryption{})
	toNewer := authtest.Encrypt(t, signed, newer, authtest.Encryption{Alg: "ECDH-ES+A256KW"})
	for _, tok := range []string{toOlder, toNewer} {
		if _, err := both.Verify(t.Context(), tok); err != nil {
			t.Errorf("with both keys: Verify = %v; want the token accepted", err)
		}
	}
	if _, err := after.Verify(t.Context(), toNewer); err != nil {
		t.Errorf("after rotation, to the new key: Verify = %v; want the token accepted", err)
	}
	_, err := after.Verify(t.Context(), toOlder)
	wantReason(t, err, auth.ReasonJWEUnknownKey)
	noKID := authtest.Encrypt(t, signed, authtest.DecryptionKey{Private: newer.Private}, authtest.Encryption{Alg: "ECDH-ES+A128KW"})
	_, err = both.Verify(t.Context(), noKID)
	wantReason(t, err, auth.ReasonJWEUnknownKey)
}

// TestVerifyDecryptsAcrossKIDLessKeyRotation: with two RSA keys without
// kid (two PEM blocks), a token without kid is tried with the first, which
// fails, then with the second, which decrypts it; and a token to neither
// is refused after both were tried.
func TestVerifyDecryptsAcrossKIDLessKeyRotation(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	older := authtest.NewDecryptionKey(t, "", "RSA")
	newer := authtest.NewDecryptionKey(t, "", "RSA")
	v := newDecryptingVerifier(t, idp, older, newer)
	signed := idp.Token(t, authtest.Claims{Subject: "alice"})
	for name, to := range map[string]authtest.DecryptionKey{"first key": older, "second key": newer} {
		if _, err := v.Verify(t.Context(), authtest.Encrypt(t, signed, to, authtest.Encryption{})); err != nil {
			t.Errorf("to the %s: Verify = %v; want the token accepted", name, err)
		}
	}
	_, err := v.Verify(t.Context(), authtest.Encrypt(t, signed, authtest.NewDecryptionKey(t, "", "RSA"), authtest.Encryption{}))
	wantReason(t, err, auth.ReasonJWEDecrypt)
}

// TestVerifyKeepsKIDLessKeysForKIDLessTokens: a key without kid (as PEM
// keys are) decrypts only tokens that name no kid, and a key with a kid
// only tokens that name it.
func TestVerifyKeepsKIDLessKeysForKIDLessTokens(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	key := authtest.NewDecryptionKey(t, "", "RSA")
	named := authtest.NewDecryptionKey(t, "named", "EC")
	v := newDecryptingVerifier(t, idp, key, named)
	signed := idp.Token(t, authtest.Claims{Subject: "alice"})
	if _, err := v.Verify(t.Context(), authtest.Encrypt(t, signed, key, authtest.Encryption{})); err != nil {
		t.Errorf("without kid: Verify = %v; want the token accepted", err)
	}
	_, err := v.Verify(t.Context(), authtest.Encrypt(t, signed, authtest.DecryptionKey{KID: "named", Private: key.Private}, authtest.Encryption{}))
	wantReason(t, err, auth.ReasonJWEUnknownKey)
	_, err = v.Verify(t.Context(), authtest.Encrypt(t, signed, authtest.DecryptionKey{Private: named.Private}, authtest.Encryption{}))
	wantReason(t, err, auth.ReasonJWEUnknownKey)
}

// TestVerifyEncryptedBoundToken: the binding of the signed token inside
// (cnf) reaches the principal, so DPoP and certificate checks apply to an
// encrypted token as to a plain one.
func TestVerifyEncryptedBoundToken(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	key := authtest.NewDecryptionKey(t, "k", "EC")
	v := newDecryptingVerifier(t, idp, key)
	jkt := strings.Repeat("A", 43)
	signed := idp.Token(t, authtest.Claims{Subject: "alice", Extra: map[string]any{"cnf": map[string]any{"jkt": jkt}}})
	p, err := v.Verify(t.Context(), authtest.Encrypt(t, signed, key, authtest.Encryption{}))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if p.JKT != jkt {
		t.Errorf("JKT = %q; want %q", p.JKT, jkt)
	}
}

// TestVerifyRefusesWycheproofJWE: Wycheproof's JWE vectors, decrypted in
// package jwe's test, are all refused by Verify with the vectors' EC key
// configured: the tampered ones as they fail to decrypt or are malformed,
// the valid one because its plaintext is no signed JWT. Only the valid
// one's reason is checked: the invalid ones are refused at various steps,
// which package jwe's test tells apart, and any refusal will do here.
func TestVerifyRefusesWycheproofJWE(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/wycheproof/json_web_crypto_test.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		TestGroups []struct {
			Comment string          `json:"comment"`
			Private json.RawMessage `json:"private"`
			Tests   []struct {
				TCID   int             `json:"tcId"`
				JWE    json.RawMessage `json:"jwe"`
				Result string          `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	idp := authtest.NewIdP(t)
	cfg := idp.Config()
	for _, g := range file.TestGroups {
		if g.Comment != "jwe_ec" {
			continue
		}
		var jwk map[string]any
		if err := json.Unmarshal(g.Private, &jwk); err != nil {
			t.Fatal(err)
		}
		delete(jwk, "kid") // the vectors name none, and a kid-less token fits only kid-less keys
		private, err := json.Marshal(jwk)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.DecryptionKeys, err = jwe.ParseKeys(private); err != nil {
			t.Fatal(err)
		}
	}
	v, err := auth.NewVerifier(cfg, authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range file.TestGroups {
		for _, tc := range g.Tests {
			var token string
			if !strings.HasPrefix(g.Comment, "jwe_") || json.Unmarshal(tc.JWE, &token) != nil {
				continue
			}
			_, err := v.Verify(t.Context(), token)
			var e *auth.Error
			switch {
			case !errors.As(err, &e):
				t.Errorf("vector %d: Verify = %v; want it refused", tc.TCID, err)
			case g.Comment == "jwe_ec" && tc.Result == "valid" && e.Reason != auth.ReasonJWENotNested:
				t.Errorf("vector %d (valid, its plaintext no JWS): Verify = %v; want %s", tc.TCID, err, auth.ReasonJWENotNested)
			}
		}
	}
}
