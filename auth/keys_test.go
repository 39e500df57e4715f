package auth_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/internal/devissuer"
)

func TestKeysAreFetchedOnceAndRotatedOnUnknownKID(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	v := idp.NewVerifier(t)
	for range 5 {
		if _, err := v.Verify(t.Context(), idp.Token(t, authtest.Claims{Subject: "alice"})); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	if got := idp.JWKSFetches(); got != 1 {
		t.Errorf("JWKS fetched %d times for five tokens; want 1", got)
	}

	next := authtest.NewKey(t, "rotated", "ES256")
	idp.SetKeys(next, idp.Keys()[0])
	if _, err := v.Verify(t.Context(), idp.Token(t, authtest.Claims{Subject: "alice"})); err != nil {
		t.Fatalf("Verify with the rotated key: %v", err)
	}
	if got := idp.JWKSFetches(); got != 2 {
		t.Errorf("JWKS fetched %d times after rotation; want 2", got)
	}
}

// TestUnknownKIDsFetchAHandful sends tokens that no key in hand may verify,
// one after another and from many goroutines at once, so that requests keep
// arriving as each fetch ends: none may start a fetch the limiter did not
// allow.
func TestUnknownKIDsFetchAHandful(t *testing.T) {
	t.Parallel()
	ec := authtest.NewKey(t, "x", "ES256")
	rs := authtest.NewKey(t, "x", "RS256")
	ps := authtest.NewKey(t, "x", "PS256")
	randomKID := func(i int) map[string]any { return map[string]any{"kid": fmt.Sprintf("random-%d", i)} }
	realKID := func(int) map[string]any { return nil }
	for _, tt := range []struct {
		name          string
		workers, each int
		// key signs the tokens, given the issuer's key, under header(i).
		key    func(real devissuer.Key) devissuer.Key
		header func(i int) map[string]any
	}{
		{"unknown kids, one after another", 1, 200, func(devissuer.Key) devissuer.Key { return ec }, randomKID},
		{"unknown kids from 16 goroutines at once", 16, 100, func(devissuer.Key) devissuer.Key { return ec }, randomKID},
		{"forged signatures under the real kid", 16, 50, func(real devissuer.Key) devissuer.Key {
			return devissuer.Key{ID: real.ID, Alg: real.Alg, Signer: rs.Signer}
		}, realKID},
		{"an alg the real kid's key does not fit", 16, 50, func(real devissuer.Key) devissuer.Key {
			return devissuer.Key{ID: real.ID, Alg: ps.Alg, Signer: ps.Signer}
		}, realKID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := authtest.NewIdP(t)
			v := idp.NewVerifier(t)
			start := time.Now()
			if _, err := v.Verify(t.Context(), idp.Token(t, authtest.Claims{Subject: "alice"})); err != nil {
				t.Fatal(err)
			}
			claims := idp.ClaimsMap(authtest.Claims{Subject: "alice"})
			key := tt.key(idp.Keys()[0])
			tokens := make([]string, tt.workers*tt.each)
			for i := range tokens {
				tokens[i] = idp.Sign(t, key, tt.header(i), claims)
			}
			var wg sync.WaitGroup
			for w := range tt.workers {
				wg.Go(func() {
					for _, tok := range tokens[w*tt.each : (w+1)*tt.each] {
						if _, err := v.Verify(t.Context(), tok); !errors.Is(err, auth.ErrInvalidToken) {
							t.Errorf("Verify = %v; want ErrInvalidToken", err)
							return
						}
					}
				})
			}
			wg.Wait()
			// The limiter's burst of 3, the first token's fetch among them,
			// and one more for each 10 s.
			allowed := 3 + int64(time.Since(start)/(10*time.Second))
			if got := idp.JWKSFetches(); got > allowed {
				t.Errorf("%d such tokens caused %d JWKS fetches; want at most %d", len(tokens), got, allowed)
			}
		})
	}
}

// TestConcurrentRotationUnderTheSameKID: many requests at once with tokens
// of a key that replaced the old one under its kid are all accepted, after
// one fetch for all of them.
func TestConcurrentRotationUnderTheSameKID(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	old := authtest.NewKey(t, "same", "RS256")
	idp.SetKeys(old)
	v := idp.NewVerifier(t)
	claims := idp.ClaimsMap(authtest.Claims{Subject: "alice"})
	if _, err := v.Verify(t.Context(), idp.Sign(t, old, nil, claims)); err != nil {
		t.Fatal(err)
	}
	before := idp.JWKSFetches()
	next := authtest.NewKey(t, "same", "RS256")
	idp.SetKeys(next)
	tok := idp.Sign(t, next, nil, claims)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Errorf("Verify of a token of the new key = %v", err)
			}
		})
	}
	wg.Wait()
	if got := idp.JWKSFetches() - before; got != 1 {
		t.Errorf("64 tokens of the new key caused %d JWKS fetches; want 1", got)
	}
}

func TestIssuerDownThenBack(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	idp.SetFailing(true)
	v := idp.NewVerifier(t)
	tok := idp.Token(t, authtest.Claims{Subject: "alice"})
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Verify while the issuer is down = %v; want ErrUnavailable", err)
	}
	if v.Ready() {
		t.Error("Ready() = true with no keys")
	}
	idp.SetFailing(false)
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("Verify once the issuer is back: %v", err)
	}
	if !v.Ready() {
		t.Error("Ready() = false after keys were loaded")
	}

	idp.SetFailing(true)
	if _, err := v.Verify(t.Context(), idp.Token(t, authtest.Claims{Subject: "bob"})); err != nil {
		t.Errorf("Verify with keys in hand while the issuer fails: %v", err)
	}
}

// jwksServer serves a fixed discovery document and JWKS.
func jwksServer(t *testing.T, discovery func(base string) string, jwks string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case devissuer.DiscoveryPath:
			_, _ = w.Write([]byte(discovery(srv.URL)))
		case devissuer.JWKSPath:
			_, _ = w.Write([]byte(jwks))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func jwkOf(t *testing.T, k devissuer.Key) map[string]any {
	t.Helper()
	raw, err := k.JWK()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestKeySetRefusesBadIssuersAndKeys(t *testing.T) {
	t.Parallel()
	rs := authtest.NewKey(t, "rs", "RS256")
	good := jwkOf(t, rs)
	encKey := jwkOf(t, rs)
	encKey["use"] = "enc"
	oct := map[string]any{"kty": "oct", "kid": "rs", "k": "c2VjcmV0"}
	set := func(keys ...any) string {
		b, _ := json.Marshal(map[string]any{"keys": keys})
		return string(b)
	}
	discover := func(issuer string) func(string) string {
		return func(base string) string {
			if issuer == "" {
				issuer = base
			}
			return fmt.Sprintf(`{"issuer":%q,"jwks_uri":%q}`, issuer, base+devissuer.JWKSPath)
		}
	}
	tests := []struct {
		name      string
		discovery func(string) string
		jwks      string
		wantErr   error
	}{
		{"good issuer", discover(""), set(good), nil},
		{"discovery names another issuer", discover("https://evil.example"), set(good), auth.ErrUnavailable},
		{"jwks_uri over plain http to another host", func(base string) string {
			return fmt.Sprintf(`{"issuer":%q,"jwks_uri":"http://203.0.113.9/jwks.json"}`, base)
		}, set(good), auth.ErrUnavailable},
		{"key for encryption ignored", discover(""), set(encKey), auth.ErrUnavailable},
		{"symmetric key ignored", discover(""), set(oct), auth.ErrUnavailable},
		{"bad key beside a good one", discover(""), set(oct, "junk", good), nil},
		{"not JSON", discover(""), "<html>down</html>", auth.ErrUnavailable},
		{"empty set", discover(""), set(), auth.ErrUnavailable},
		{"oversized", discover(""), `{"keys":[` + strings.Repeat(" ", 1<<20) + `]}`, auth.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := jwksServer(t, tt.discovery, tt.jwks)
			v, err := auth.NewVerifier(one(auth.Issuer{URL: srv.URL, Audiences: []string{"api"}}), authtest.Discard())
			if err != nil {
				t.Fatal(err)
			}
			idp := authtest.NewIdP(t)
			claims := idp.ClaimsMap(authtest.Claims{Subject: "alice", Extra: map[string]any{"iss": srv.URL, "aud": "api"}})
			_, err = v.Verify(t.Context(), idp.Sign(t, rs, nil, claims))
			if !errors.Is(err, tt.wantErr) && !(tt.wantErr == nil && err == nil) {
				t.Errorf("Verify = %v; want %v", err, tt.wantErr)
			}
		})
	}
}

func TestWeakRSAKeyIgnored(t *testing.T) {
	t.Parallel()
	weak := map[string]any{"kty": "RSA", "kid": "weak", "alg": "RS256",
		// A 1024-bit modulus: too weak to trust, whatever signs with it.
		"n": strings.Repeat("q", 171) + "w", "e": "AQAB"}
	b, _ := json.Marshal(map[string]any{"keys": []any{weak}})
	srv := jwksServer(t, nil, string(b))
	v, err := auth.NewVerifier(one(auth.Issuer{URL: "https://issuer.test", JWKSURL: srv.URL + devissuer.JWKSPath, Audiences: []string{"api"}}), authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	idp := authtest.NewIdP(t)
	tok := idp.Token(t, authtest.Claims{Subject: "alice", Extra: map[string]any{"iss": "https://issuer.test", "aud": "api"}})
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("Verify = %v; want ErrUnavailable (no usable key)", err)
	}
}

// TestMetadataIsFetchedOnceAndFailuresWait: many concurrent callers cause
// one discovery fetch, and a failed one is not retried at once.
func TestMetadataIsFetchedOnceAndFailuresWait(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(50 * time.Millisecond) // a slow issuer, so that callers overlap
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	v, err := auth.NewVerifier(one(auth.Issuer{URL: srv.URL, JWKSURL: srv.URL + "/jwks", Audiences: []string{"a"}}), authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { _, _ = v.Metadata(t.Context()) }) // each fails; counted below
	}
	wg.Wait()
	if _, err := v.Metadata(t.Context()); err == nil {
		t.Error("Metadata of an issuer without discovery succeeded")
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("51 Metadata calls fetched discovery %d times; want 1", n)
	}
}

// TestOutageTurnsUncertainRefusalsInto503: while the issuer cannot be
// reached, a token that no key in hand verifies may be under a key the
// issuer has since published (a kid not in hand, a key replaced under its
// kid, another alg under it): it is answered keys_unavailable (503), never
// a 401 that would make its client drop it.
func TestOutageTurnsUncertainRefusalsInto503(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	v := idp.NewVerifier(t)
	real := idp.Keys()[0]
	claims := idp.ClaimsMap(authtest.Claims{Subject: "alice"})
	if _, err := v.Verify(t.Context(), idp.Sign(t, real, nil, claims)); err != nil {
		t.Fatal(err)
	}
	idp.SetFailing(true)
	other := authtest.NewKey(t, "other", "ES256")
	for name, tok := range map[string]string{
		"kid not in hand":           idp.Sign(t, other, nil, claims),
		"another key under the kid": idp.Sign(t, devissuer.Key{ID: real.ID, Alg: "RS256", Signer: authtest.NewKey(t, "x", "RS256").Signer}, nil, claims),
		"another alg under the kid": idp.Sign(t, devissuer.Key{ID: real.ID, Alg: "ES256", Signer: other.Signer}, nil, claims),
	} {
		var e *auth.Error
		if _, err := v.Verify(t.Context(), tok); !errors.As(err, &e) || e.Reason != auth.ReasonKeysUnavailable {
			t.Errorf("%s while the issuer fails: %v; want keys_unavailable", name, err)
		}
	}
	if _, err := v.Verify(t.Context(), idp.Sign(t, real, nil, idp.ClaimsMap(authtest.Claims{Subject: "bob"}))); err != nil {
		t.Errorf("a token under the key in hand while the issuer fails: %v", err)
	}
}
