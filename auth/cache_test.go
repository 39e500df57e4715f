package auth_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
)

// TestCacheDropsTokensOfRemovedKeys: a token stays accepted while its key
// is published, and is refused once a refresh shows the key gone, even
// though it was cached.
func TestCacheDropsTokensOfRemovedKeys(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	v := idp.NewVerifier(t)
	old := idp.Token(t, authtest.Claims{Subject: "alice"})
	for range 3 {
		if _, err := v.Verify(t.Context(), old); err != nil {
			t.Fatal(err)
		}
	}
	next := authtest.NewKey(t, "next", "ES256")
	idp.SetKeys(next)
	if _, err := v.Verify(t.Context(), old); err != nil {
		t.Fatalf("before any refresh, the cached token: %v", err)
	}
	if _, err := v.Verify(t.Context(), idp.Token(t, authtest.Claims{Subject: "bob"})); err != nil {
		t.Fatalf("a token under the new key: %v", err)
	}
	if _, err := v.Verify(t.Context(), old); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("after its key left the JWKS, the cached token = %v; want refused", err)
	}
}

// TestCacheChecksExpiryOnHit: a cached token is refused once it expires.
func TestCacheChecksExpiryOnHit(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	cfg := idp.Config()
	cfg.Leeway = 0
	var later atomic.Bool
	cfg.Now = func() time.Time {
		if later.Load() {
			return time.Now().Add(time.Minute)
		}
		return time.Now()
	}
	v, err := auth.NewVerifier(cfg, authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	tok := idp.Token(t, authtest.Claims{Subject: "alice", Extra: map[string]any{"exp": time.Now().Add(30 * time.Second).Unix()}})
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	later.Store(true)
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("an expired token from the cache = %v; want refused", err)
	}
}

// BenchmarkVerifyCached measures a cache hit: a token seen before.
func BenchmarkVerifyCached(b *testing.B) {
	idp := authtest.NewIdP(b)
	v := idp.NewVerifier(b)
	tok := idp.Token(b, authtest.Claims{Subject: "alice", Scope: "orders:read orders:write"})
	if _, err := v.Verify(b.Context(), tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCachedOpaque measures BenchmarkVerifyCached's cache hit
// for an opaque token whose introspection answer is cached.
func BenchmarkVerifyCachedOpaque(b *testing.B) {
	idp := authtest.NewIdP(b)
	cfg := idp.Config()
	cfg.Issuers = []auth.Issuer{idp.TrustIntrospecting()}
	cfg.IntrospectionCacheTTL = auth.MaxIntrospectionCacheTTL
	v, err := auth.NewVerifier(cfg, authtest.Discard())
	if err != nil {
		b.Fatal(err)
	}
	tok := idp.OpaqueToken(b, authtest.Claims{Subject: "alice", Scope: "orders:read orders:write"})
	if _, err := v.Verify(b.Context(), tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(b.Context(), tok); err != nil {
			b.Fatal(err)
		}
	}
}
