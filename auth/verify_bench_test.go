package auth_test

import (
	"strings"
	"testing"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
)

// BenchmarkVerify measures the verification of a valid token seen for the
// first time (a cold token: the cache is off), with the issuer's keys
// already fetched, for each kind of key.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"RS256", "PS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			idp := authtest.NewIdP(b)
			key := authtest.NewKey(b, "bench-"+alg, alg)
			idp.SetKeys(key)
			cfg := idp.Config()
			cfg.CacheSize = 0
			v, err := auth.NewVerifier(cfg, authtest.Discard())
			if err != nil {
				b.Fatal(err)
			}
			tok := idp.Sign(b, key, nil, idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: "orders:read orders:write"}))
			if _, err := v.Verify(b.Context(), tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRefuses measures how fast hostile tokens are refused: none
// may cost more than a valid one.
func BenchmarkVerifyRefuses(b *testing.B) {
	idp := authtest.NewIdP(b)
	v := idp.NewVerifier(b)
	good := idp.Token(b, authtest.Claims{Subject: "alice"})
	if _, err := v.Verify(b.Context(), good); err != nil {
		b.Fatal(err)
	}
	parts := strings.Split(good, ".")
	for name, tok := range map[string]string{
		"thousands of dots": strings.Repeat(".", 16<<10),
		"16 KB of letters":  strings.Repeat("A", 16<<10),
		"bad signature":     parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"huge payload":      parts[0] + "." + strings.Repeat("e", 15<<10) + "." + parts[2],
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), tok); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// FuzzVerify mutates valid tokens: no mutation may be accepted, and none may
// panic.
func FuzzVerify(f *testing.F) {
	idp := authtest.NewIdP(f)
	v := idp.NewVerifier(f)
	valid := map[string]bool{}
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		key := authtest.NewKey(f, "fuzz-"+alg, alg)
		idp.SetKeys(append(idp.Keys(), key)...)
		tok := idp.Sign(f, key, nil, idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: "orders:read"}))
		valid[tok] = true
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := v.Verify(t.Context(), tok); err == nil && !valid[tok] {
			t.Fatalf("accepted a token no key signed: %q", tok)
		}
	})
}

// BenchmarkVerifyEncrypted measures an encrypted token (a JWE holding an
// RS256 token) seen for the first time, for each kind of decryption, and
// seen again, when the cache answers before any decryption: "cached"
// should cost what a cached plain token ("JWS cached") does.
func BenchmarkVerifyEncrypted(b *testing.B) {
	idp := authtest.NewIdP(b)
	rsaKey := authtest.NewDecryptionKey(b, "rsa", "RSA")
	ecKey := authtest.NewDecryptionKey(b, "ec", "EC")
	signed := idp.Token(b, authtest.Claims{Subject: "alice", Scope: "orders:read orders:write"})
	verifier := func(cacheSize int) *auth.Verifier {
		cfg := idp.Config()
		cfg.CacheSize = cacheSize
		cfg.DecryptionKeys = authtest.KeySet(b, rsaKey, ecKey)
		v, err := auth.NewVerifier(cfg, authtest.Discard())
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	cold, warm := verifier(0), verifier(auth.DefaultCacheSize)
	cases := []struct {
		name string
		v    *auth.Verifier
		tok  string
	}{
		{"JWS first use", cold, signed},
		{"RSA-OAEP-256 A256GCM first use", cold, authtest.Encrypt(b, signed, rsaKey, authtest.Encryption{})},
		{"ECDH-ES A256GCM first use", cold, authtest.Encrypt(b, signed, ecKey, authtest.Encryption{})},
		{"ECDH-ES+A128KW A128CBC-HS256 first use", cold, authtest.Encrypt(b, signed, ecKey, authtest.Encryption{Alg: "ECDH-ES+A128KW", Enc: "A128CBC-HS256"})},
		{"JWS cached", warm, signed},
		{"RSA-OAEP-256 A256GCM cached", warm, authtest.Encrypt(b, signed, rsaKey, authtest.Encryption{})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if _, err := c.v.Verify(b.Context(), c.tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.v.Verify(b.Context(), c.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzVerifyEncrypted mutates valid encrypted tokens: no mutation may be
// accepted, and none may panic.
func FuzzVerifyEncrypted(f *testing.F) {
	idp := authtest.NewIdP(f)
	rsaKey := authtest.NewDecryptionKey(f, "rsa", "RSA")
	ecKey := authtest.NewDecryptionKey(f, "", "EC")
	cfg := idp.Config()
	cfg.CacheSize = 0
	cfg.DecryptionKeys = authtest.KeySet(f, rsaKey, ecKey)
	v, err := auth.NewVerifier(cfg, authtest.Discard())
	if err != nil {
		f.Fatal(err)
	}
	signed := idp.Token(f, authtest.Claims{Subject: "alice", Scope: "orders:read"})
	valid := map[string]bool{}
	for _, e := range []struct {
		to  authtest.DecryptionKey
		enc authtest.Encryption
	}{
		{rsaKey, authtest.Encryption{}},
		{rsaKey, authtest.Encryption{Alg: "RSA-OAEP", Enc: "A128CBC-HS256"}},
		{ecKey, authtest.Encryption{}},
		{ecKey, authtest.Encryption{Alg: "ECDH-ES+A256KW", Enc: "A256CBC-HS512"}},
	} {
		tok := authtest.Encrypt(f, signed, e.to, e.enc)
		valid[tok] = true
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := v.Verify(t.Context(), tok); err == nil && !valid[tok] {
			t.Fatalf("accepted an encrypted token nobody made: %q", tok)
		}
	})
}
