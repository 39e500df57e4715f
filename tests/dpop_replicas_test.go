package tests

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/auth/dpop/dpoptest"
	"github.com/coffeemesh/orders/auth/dpop/redisstore"
	"github.com/coffeemesh/orders/repository/repotest"
)

// testRedisURL is the Redis the tests share, ORDERS_TEST_REDIS_URL or the
// machine's own; the test is skipped without one, except under CI=true,
// where it fails.
func testRedisURL(t *testing.T) string {
	t.Helper()
	u, err := reachableRedis(t)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: Redis tests must run)", err)
		}
		t.Skipf("%v; set ORDERS_TEST_REDIS_URL to run this test", err)
	}
	return u
}

// reachableRedis returns the URL of testRedisURL's Redis, or why it cannot
// be reached, for tests that use Redis where there is one.
func reachableRedis(t testing.TB) (string, error) {
	t.Helper()
	u := os.Getenv("ORDERS_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	if err := client.Ping(t.Context()).Err(); err != nil {
		return "", fmt.Errorf("Redis not reachable at %s: %w", u, err)
	}
	return u, nil
}

// redisReplay is a store of used DPoP proofs in the Redis at redisURL, as
// each replica opens its own.
func redisReplay(t *testing.T, redisURL string) dpop.ReplayStore {
	t.Helper()
	store, client, err := redisstore.Open(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() }) // a test's Redis client; nothing to report
	return store
}

// dpopGet sends GET /orders to base with token and proof.
func dpopGet(t *testing.T, base, token, proof string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "DPoP "+token)
	req.Header.Set("DPoP", proof)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestDPoPReplayAcrossReplicas: two servers that share a replay store, one
// PostgreSQL database or one Redis, each refuse a proof the other accepted.
// They are told one public URL, as replicas behind one proxy are, so that
// one proof names either.
func TestDPoPReplayAcrossReplicas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		store string
		env   func(t *testing.T) func() map[string]string
	}{
		{"postgres", "postgres", func(t *testing.T) func() map[string]string {
			db := repotest.Postgres(t)
			return func() map[string]string { return map[string]string{"ORDERS_DATABASE_URL": db.URL} }
		}},
		{"redis", "redis", func(t *testing.T) func() map[string]string {
			u := testRedisURL(t)
			return func() map[string]string { return map[string]string{"ORDERS_REDIS_URL": u} }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := authtest.NewIdP(t)
			replicaEnv := tt.env(t)
			var bases []string
			for range 2 {
				env := serverEnv(t, idp)
				env["ORDERS_PUBLIC_URL"] = "https://orders.example"
				for k, v := range replicaEnv() {
					env[k] = v
				}
				p := start(t, env, "serve")
				if got := p.waitFor(t, "DPoP replay store")["store"]; got != tt.store {
					t.Fatalf("replay store %v; want %s", got, tt.store)
				}
				bases = append(bases, "http://"+p.waitFor(t, "listening")["addr"].(string))
			}
			client := dpoptest.NewClient(t, "ES256")
			tok := idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw, Extra: map[string]any{"cnf": map[string]any{"jkt": client.Thumbprint}}})
			proof := client.Proof(t, http.MethodGet, "https://orders.example/orders", tok)
			if r := dpopGet(t, bases[0], tok, proof); r.StatusCode != http.StatusOK {
				t.Fatalf("first use on replica one: %d; want 200", r.StatusCode)
			}
			r := dpopGet(t, bases[1], tok, proof)
			if want := `error="invalid_dpop_proof"`; r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Header.Get("WWW-Authenticate"), want) {
				t.Errorf("replay on replica two: %d %q; want 401 with %s", r.StatusCode, r.Header.Get("WWW-Authenticate"), want)
			}
		})
	}
}

// TestDPoPReplayStoreDownFailsClosed: with its Redis down, a server
// answers DPoP requests 503 with Retry-After, and bearer requests as usual.
func TestDPoPReplayStoreDownFailsClosed(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	env := serverEnv(t, idp)
	env["ORDERS_REDIS_URL"] = fmt.Sprintf("redis://127.0.0.1:%d/0", unusedPort(t))
	p := start(t, env, "serve")
	base := "http://" + p.waitFor(t, "listening")["addr"].(string)
	client := dpoptest.NewClient(t, "ES256")
	tok := idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw, Extra: map[string]any{"cnf": map[string]any{"jkt": client.Thumbprint}}})
	r := dpopGet(t, base, tok, client.Proof(t, http.MethodGet, base+"/orders", tok))
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Errorf("DPoP request with the store down: %d, Retry-After %q; want 503 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if status, _ := call(t, http.MethodGet, base+"/orders", idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw}), ""); status != http.StatusOK {
		t.Errorf("bearer request with the store down: %d; want 200", status)
	}
}

// TestDPoPPostgresStoreDownFailsClosed: with the replay store in
// PostgreSQL and PostgreSQL killed, a DPoP request is answered 503 with
// Retry-After, never let through and never 401 or 500; once PostgreSQL is
// back, fresh proofs work again without a restart of the API, and a proof
// used before the crash is still refused, as the store is durable. The
// request during the outage is a POST with a read-only token: let through,
// it would be refused 403 by scope before it reached the database.
func TestDPoPPostgresStoreDownFailsClosed(t *testing.T) {
	t.Parallel()
	cluster := repotest.NewCluster(t)
	idp := authtest.NewIdP(t)
	env := serverEnv(t, idp)
	env["ORDERS_DATABASE_URL"] = cluster.Database(t).URL
	p := start(t, env, "serve")
	if got := p.waitFor(t, "DPoP replay store")["store"]; got != "postgres" {
		t.Fatalf("replay store %v; want postgres", got)
	}
	base := "http://" + p.waitFor(t, "listening")["addr"].(string)
	client := dpoptest.NewClient(t, "ES256")
	tok := idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw, Extra: map[string]any{"cnf": map[string]any{"jkt": client.Thumbprint}}})
	proof := func() string { return client.Proof(t, http.MethodGet, base+"/orders", tok) }
	used := proof()
	if r := dpopGet(t, base, tok, used); r.StatusCode != http.StatusOK {
		t.Fatalf("before the crash: %d; want 200", r.StatusCode)
	}

	reader := idp.Token(t, authtest.Claims{Subject: "alice", Scope: "orders:read", Extra: map[string]any{"cnf": map[string]any{"jkt": client.Thumbprint}}})
	cluster.Kill(t)
	for i := range 3 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/orders", strings.NewReader(`{"order":[{"product":"latte"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "DPoP "+reader)
		req.Header.Set("DPoP", client.Proof(t, http.MethodPost, base+"/orders", reader))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("DPoP request %d with PostgreSQL down: %d, Retry-After %q; want 503 with Retry-After", i+1, r.StatusCode, r.Header.Get("Retry-After"))
		}
	}

	cluster.Start(t)
	waitUntil(t, 15*time.Second, "a DPoP request answered 200 after PostgreSQL's return", func() bool {
		return dpopGet(t, base, tok, proof()).StatusCode == http.StatusOK
	})
	if r := dpopGet(t, base, tok, used); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a proof used before the crash, again: %d; want 401", r.StatusCode)
	}
}
