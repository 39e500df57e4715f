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
