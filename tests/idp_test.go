package tests

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/repository/repotest"
)

// TestKeysInHandSurviveOutages breaks the identity provider in every way
// it can break: tokens under the keys already fetched keep working, a token
// under a kid not in hand is answered 503 with Retry-After within a second
// or so (its key may exist; the client should retry, not drop the token),
// each 503 is logged with its reason, and each failed fetch is logged once.
func TestKeysInHandSurviveOutages(t *testing.T) {
	t.Parallel()
	var evilHits atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	t.Cleanup(evil.Close)
	// Checked once every parallel subtest has finished.
	t.Cleanup(func() {
		if n := evilHits.Load(); n != 0 {
			t.Errorf("a redirect to another origin was followed %d times", n)
		}
	})

	faults := []struct {
		name  string
		fault http.HandlerFunc
	}{
		{"500", authtest.Status(http.StatusInternalServerError)},
		{"503", authtest.Status(http.StatusServiceUnavailable)},
		{"timeout", authtest.Hang},
		{"connection reset", authtest.Reset},
		{"invalid JSON", authtest.Body("application/json", `{"keys": [`)},
		{"HTML", authtest.Body("text/html", "<html><body>Maintenance</body></html>")},
		{"empty key set", authtest.Body("application/json", `{"keys": []}`)},
		{"redirect to another origin", authtest.Redirect(evil.URL + "/jwks.json")},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
				t.Parallel()
				e := newEnvOn(t, db)
				tok := e.token(t, "alice", rw)
				e.do(t, request{method: http.MethodGet, path: "/orders", token: tok}).wantStatus(t, http.StatusOK)

				e.idp.SetFault(f.fault)
				stranger := authtest.NewKey(t, "not-yet-published", "ES256")
				for i := range 10 {
					e.do(t, request{method: http.MethodGet, path: "/orders", token: e.token(t, fmt.Sprintf("user-%d", i), rw)}).wantStatus(t, http.StatusOK)
					start := time.Now()
					unknown := e.idp.Sign(t, stranger, nil, e.idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: rw}))
					r := e.do(t, request{method: http.MethodGet, path: "/orders", token: unknown})
					r.wantProblem(t, http.StatusServiceUnavailable)
					if r.header.Get("Retry-After") == "" {
						t.Error("503 without Retry-After")
					}
					if d := time.Since(start); d > 3*time.Second {
						t.Errorf("a token under an unknown kid waited %v for the failing issuer", d)
					}
				}
				if n := strings.Count(e.log.String(), `"reason":"keys_unavailable"`); n < 10 {
					t.Errorf("%d of 10 answers 503 logged with their reason", n)
				}
				// A fetch that times out is logged when its 5 s are up.
				logged := 0
				for deadline := time.Now().Add(8 * time.Second); logged == 0 && time.Now().Before(deadline); {
					time.Sleep(100 * time.Millisecond) // polling the log of a fetch still running
					logged = strings.Count(e.log.String(), `"msg":"jwks refresh failed"`)
				}
				if logged < 1 || logged > 4 {
					t.Errorf("%d refresh failures logged for 10 unknown kids; want one per (rate-limited) refresh, 1 to 4", logged)
				}
				e.idp.SetFault(nil)
			})
		})
	}
}

// TestRotation publishes a new key: the first token under its kid triggers
// one fetch and is accepted at once.
func TestRotation(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		e.do(t, request{method: http.MethodGet, path: "/orders", token: e.token(t, "alice", rw)}).wantStatus(t, http.StatusOK)
		before := e.idp.JWKSFetches()

		next := authtest.NewKey(t, "2026-rotation", "ES256")
		old := e.idp.Keys()[0]
		e.idp.SetKeys(next, old)
		e.do(t, request{method: http.MethodGet, path: "/orders", token: e.token(t, "alice", rw)}).wantStatus(t, http.StatusOK)
		if got := e.idp.JWKSFetches() - before; got != 1 {
			t.Errorf("rotation caused %d JWKS fetches; want 1", got)
		}
		oldToken := e.idp.Sign(t, old, nil, e.idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: rw}))
		e.do(t, request{method: http.MethodGet, path: "/orders", token: oldToken}).wantStatus(t, http.StatusOK)
	})
}

// TestRotationWithoutANewKID: an issuer that replaces its key under the
// same kid (with the same algorithm or another), or whose keys name no kid,
// is fetched again when no key in hand verifies a token's signature, and
// the token is accepted at once.
func TestRotationWithoutANewKID(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, kid, from, to string
	}{
		{"same kid", "same-kid", "RS256", "RS256"},
		{"same kid, another algorithm", "same-kid", "RS256", "ES256"},
		{"no kid", "", "RS256", "RS256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvOn(t, repotest.SQLite(t))
			first := authtest.NewKey(t, tt.kid, tt.from)
			e.idp.SetKeys(first)
			header := map[string]any{}
			if tt.kid == "" {
				header["kid"] = authtest.Omit
			}
			claims := e.idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: rw})
			e.do(t, request{method: http.MethodGet, path: "/orders", token: e.idp.Sign(t, first, header, claims)}).wantStatus(t, http.StatusOK)
			before := e.idp.JWKSFetches()

			second := authtest.NewKey(t, tt.kid, tt.to)
			e.idp.SetKeys(second)
			e.do(t, request{method: http.MethodGet, path: "/orders", token: e.idp.Sign(t, second, header, claims)}).wantStatus(t, http.StatusOK)
			if got := e.idp.JWKSFetches() - before; got != 1 {
				t.Errorf("the rotation caused %d JWKS fetches; want 1", got)
			}
			e.do(t, request{method: http.MethodGet, path: "/orders", token: e.idp.Sign(t, first, header, claims)}).wantProblem(t, http.StatusUnauthorized)
		})
	}
}

// TestUnknownKIDFlood sends 1,000 tokens under random kids from 50
// connections: they cost the issuer a handful of fetches, and none waits.
func TestUnknownKIDFlood(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		e.do(t, request{method: http.MethodGet, path: "/orders", token: e.token(t, "alice", rw)}).wantStatus(t, http.StatusOK)
		before := e.idp.JWKSFetches()

		stranger := authtest.NewKey(t, "x", "ES256")
		claims := e.idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: rw})
		tokens := make(chan string, 1000)
		for i := range 1000 {
			tokens <- e.idp.Sign(t, stranger, map[string]any{"kid": fmt.Sprintf("random-%d", i)}, claims)
		}
		close(tokens)
		var (
			wg      sync.WaitGroup
			slowest atomic.Int64
			wrong   atomic.Int64
		)
		for range 50 {
			wg.Go(func() {
				for tok := range tokens {
					start := time.Now()
					req, _ := http.NewRequest(http.MethodGet, e.url+"/orders", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := http.DefaultClient.Do(req)
					if err != nil || resp.StatusCode != http.StatusUnauthorized {
						wrong.Add(1)
					}
					if err == nil {
						resp.Body.Close()
					}
					if d := int64(time.Since(start)); d > slowest.Load() {
						slowest.Store(d)
					}
				}
			})
		}
		wg.Wait()
		if n := wrong.Load(); n != 0 {
			t.Errorf("%d of 1000 flood requests were not answered 401", n)
		}
		if got := e.idp.JWKSFetches() - before; got > 5 {
			t.Errorf("1000 unknown kids caused %d JWKS fetches; want at most 5", got)
		}
		if d := time.Duration(slowest.Load()); d > 2*time.Second {
			t.Errorf("the slowest flood request took %v; none may wait on the refresh limiter", d)
		}
	})
}

// TestStartWhileIssuerDown starts the API while the issuer is down: it
// answers 503 with Retry-After, and accepts tokens within 10 seconds of the
// issuer's return.
func TestStartWhileIssuerDown(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		idp := authtest.NewIdP(t)
		idp.SetFailing(true)
		e := newEnvFor(t, idp, func(c *envConfig) { c.db = db })
		tok := e.token(t, "alice", rw)
		for range 3 {
			r := e.do(t, request{method: http.MethodGet, path: "/orders", token: tok})
			r.wantProblem(t, http.StatusServiceUnavailable)
			if r.header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		}
		// Let the back-off grow before the issuer returns.
		time.Sleep(3 * time.Second) // simulated outage length; nothing to synchronize with
		e.idp.SetFailing(false)
		back := time.Now()
		for {
			// Requests are spaced beyond the on-demand refresh budget, so it is the
			// background retry that must bring the keys.
			r := e.do(t, request{method: http.MethodGet, path: "/healthz"})
			r.wantStatus(t, http.StatusOK)
			if e.idp.JWKSFetches() > 0 {
				break
			}
			if time.Since(back) > 10*time.Second {
				t.Fatal("no JWKS fetch within 10s of the issuer's return")
			}
			time.Sleep(100 * time.Millisecond) // polling the background retry
		}
		e.do(t, request{method: http.MethodGet, path: "/orders", token: tok}).wantStatus(t, http.StatusOK)
		if d := time.Since(back); d > 10*time.Second {
			t.Errorf("tokens accepted %v after the issuer's return; want within 10s", d)
		}
	})
}
