package tests

import (
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/ratelimit"
)

// BenchmarkControls measures what the controls of retries and greedy
// callers cost BenchmarkServe's requests: a point read without limits,
// with both rate limits in memory and in Redis (quotas never spent), and a
// create without and with an Idempotency-Key (a new key each time). Run it
// with -cpu 1, as the load script runs the server.
func BenchmarkControls(b *testing.B) {
	lavish := ratelimit.Limit{Rate: 1_000_000, Period: time.Second, Burst: 1_000_000}
	memory := func(policy string) *api.RateLimit {
		lim, err := ratelimit.NewMemory(lavish, 1000)
		if err != nil {
			b.Fatal(err)
		}
		return apiLimit(policy, lim)
	}
	configs := []struct {
		name string
		cfg  func() api.Config
	}{
		{"plain", func() api.Config { return api.Config{} }},
		{"limits=memory", func() api.Config {
			return api.Config{CallerLimit: memory("per-caller"), FailedAuthLimit: memory("failed-auth")}
		}},
	}
	if u, err := reachableRedis(b); err == nil {
		configs = append(configs, struct {
			name string
			cfg  func() api.Config
		}{"limits=redis", func() api.Config {
			opts, err := redis.ParseURL(u)
			if err != nil {
				b.Fatal(err)
			}
			client := redis.NewClient(opts)
			b.Cleanup(func() { client.Close() })
			prefix := "bench:" + rand.Text() + ":"
			redisLim := func(policy string) *api.RateLimit {
				lim, err := ratelimit.NewRedis(client, prefix+policy+":", lavish)
				if err != nil {
					b.Fatal(err)
				}
				return apiLimit(policy, lim)
			}
			return api.Config{CallerLimit: redisLim("per-caller"), FailedAuthLimit: redisLim("failed-auth")}
		}})
	}
	const body = `{"order":[{"product":"cappuccino","size":"big","quantity":2},{"product":"croissant","size":"small"},{"product":"latte","size":"medium"}]}`
	for _, c := range configs {
		idp, h := newBenchServerWith(b, c.cfg(), nil)
		token := idp.Token(b, authtest.Claims{Subject: "alice", Scope: rw})
		serve := func(b *testing.B, method, path, body, key string, want int) *httptest.ResponseRecorder {
			var r io.Reader
			if body != "" {
				r = strings.NewReader(body)
			}
			req := httptest.NewRequestWithContext(b.Context(), method, path, r)
			req.Header.Set("Authorization", "Bearer "+token)
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != want {
				b.Fatalf("%s %s: status %d; want %d: %s", method, path, w.Code, want, w.Body)
			}
			return w
		}
		var path string
		for range 100 {
			path = serve(b, "POST", "/orders", body, "", http.StatusCreated).Header().Get("Location")
		}
		b.Run(c.name+"/get", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				serve(b, "GET", path, "", "", http.StatusOK)
			}
		})
		if c.name != "plain" {
			continue
		}
		b.Run("create", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				serve(b, "POST", "/orders", body, "", http.StatusCreated)
			}
		})
		prefix := rand.Text()
		n := 0
		b.Run("create/idempotency-key", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n++
				serve(b, "POST", "/orders", body, prefix+strconv.Itoa(n), http.StatusCreated)
			}
		})
	}
}
