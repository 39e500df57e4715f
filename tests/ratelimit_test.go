package tests

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/ratelimit"
)

// apiLimit is lim as the API's limit named policy, as main builds it.
func apiLimit(policy string, lim *ratelimit.Limiter) *api.RateLimit {
	l := lim.Limit()
	return &api.RateLimit{
		Policy: policy, Quota: l.Burst, Window: l.Window(),
		Take: func(ctx context.Context, key string, n int) (api.Quota, error) {
			r, err := lim.Take(ctx, key, n)
			return api.Quota{Allowed: r.Allowed, Remaining: r.Remaining, RetryAfter: r.RetryAfter, ResetAfter: r.ResetAfter}, err
		},
	}
}

// threePerMinute is a quota of 3 requests, one more every 20 seconds:
// none comes back during a test.
var threePerMinute = ratelimit.Limit{Rate: 3, Period: time.Minute, Burst: 3}

func memoryLimit(t *testing.T, policy string) *api.RateLimit {
	t.Helper()
	lim, err := ratelimit.NewMemory(threePerMinute, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return apiLimit(policy, lim)
}

// redisLimit is a limit in client's Redis under prefix, as each replica
// opens its own.
func redisLimit(t *testing.T, client *redis.Client, prefix string) *api.RateLimit {
	t.Helper()
	lim, err := ratelimit.NewRedis(client, prefix, threePerMinute)
	if err != nil {
		t.Fatal(err)
	}
	return apiLimit("per-caller", lim)
}

// wantLimited checks that r is a 429 problem with Retry-After and the
// RateLimit fields of policy.
func wantLimited(t *testing.T, r response, policy string) {
	t.Helper()
	r.wantProblem(t, http.StatusTooManyRequests)
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q; want a number of seconds", ra)
	}
	if got, want := r.header.Get("RateLimit-Policy"), `"`+policy+`";q=3;w=60`; got != want {
		t.Errorf("RateLimit-Policy = %q; want %q", got, want)
	}
	if got := r.header.Get("RateLimit"); !strings.HasPrefix(got, `"`+policy+`";r=0;t=`) {
		t.Errorf("RateLimit = %q; want none remaining", got)
	}
}

// TestRateLimitPerCaller: a caller over its quota is 429 with Retry-After
// and the RateLimit fields, and counted; another caller is not slowed.
func TestRateLimitPerCaller(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnvFor(t, nil, func(c *envConfig) { c.api.CallerLimit, c.api.Metrics = memoryLimit(t, "per-caller"), reg })
	alice, bob := e.token(t, "alice", rw), e.token(t, "bob", rw)
	for i := range 3 {
		r := e.do(t, request{method: http.MethodGet, path: "/orders", token: alice})
		r.wantStatus(t, http.StatusOK)
		if got, want := r.header.Get("RateLimit"), `"per-caller";r=`+string(rune('2'-i))+`;t=`; !strings.HasPrefix(got, want) {
			t.Errorf("request %d: RateLimit = %q; want it to start %q", i+1, got, want)
		}
	}
	wantLimited(t, e.do(t, request{method: http.MethodPost, path: "/orders", token: alice, body: `{"order":[{"product":"tea","size":"big"}]}`}), "per-caller")
	e.do(t, request{method: http.MethodGet, path: "/orders", token: bob}).wantStatus(t, http.StatusOK)
	if list, _ := e.list(t, bob, ""); len(list.Orders) != 0 {
		t.Errorf("bob sees %d orders", len(list.Orders))
	}
	if n := controlCount(t, reg, "rate_limited"); n != 1 {
		t.Errorf("rate_limited counted %v; want 1", n)
	}
}

// controlCount returns the orders_request_controls_total count of
// control in reg.
func controlCount(t *testing.T, reg *prometheus.Registry, control string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "orders_request_controls_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == control {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestRateLimitSharedByReplicas: two replicas on one Redis share each
// caller's quota.
func TestRateLimitSharedByReplicas(t *testing.T) {
	t.Parallel()
	opts, err := redis.ParseURL(testRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	prefix := "test:" + rand.Text() + ":"
	idp := authtest.NewIdP(t)
	replica := func() *env {
		client := redis.NewClient(opts)
		t.Cleanup(func() { client.Close() })
		return newEnvFor(t, idp, func(c *envConfig) { c.api.CallerLimit = redisLimit(t, client, prefix) })
	}
	one, other := replica(), replica()
	alice := one.token(t, "alice", rw)
	for _, e := range []*env{one, other, one} {
		e.do(t, request{method: http.MethodGet, path: "/orders", token: alice}).wantStatus(t, http.StatusOK)
	}
	wantLimited(t, other.do(t, request{method: http.MethodGet, path: "/orders", token: alice}), "per-caller")
	other.do(t, request{method: http.MethodGet, path: "/orders", token: one.token(t, "bob", rw)}).wantStatus(t, http.StatusOK)
}

// TestRateLimitRedisDown: with Redis unreachable, requests go through, and
// the failure is counted and logged as a warning.
func TestRateLimitRedisDown(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { client.Close() })
	reg := prometheus.NewRegistry()
	e := newEnvFor(t, nil, func(c *envConfig) {
		c.api.CallerLimit, c.api.Metrics = redisLimit(t, client, "test:"), reg
		c.api.FailedAuthLimit = redisLimit(t, client, "test:")
	})
	alice := e.token(t, "alice", rw)
	for range 5 {
		e.do(t, request{method: http.MethodGet, path: "/orders", token: alice}).wantStatus(t, http.StatusOK)
	}
	e.do(t, request{method: http.MethodGet, path: "/orders", token: "not.a.token"}).wantProblem(t, http.StatusUnauthorized)
	e.do(t, request{method: http.MethodGet, path: "/orders", token: alice}).wantStatus(t, http.StatusOK)
	// 5 per-caller takes; the failure's take; then the look at the
	// address that failed, and the per-caller take.
	if n := controlCount(t, reg, "limiter_unavailable"); n != 8 {
		t.Errorf("limiter_unavailable counted %v; want 8", n)
	}
	if log := e.log.String(); strings.Count(log, "rate limiter unavailable") != 1 {
		t.Errorf("the log warns %d times of the limiter; want once", strings.Count(log, "rate limiter unavailable"))
	}
}

// TestFailedAuthenticationLimit: after its quota of failed
// authentications, an address is refused 429 before its token is
// checked, a valid one too; X-Forwarded-For names the client only from a
// trusted proxy.
func TestFailedAuthenticationLimit(t *testing.T) {
	t.Parallel()
	t.Run("direct", func(t *testing.T) {
		t.Parallel()
		reg := prometheus.NewRegistry()
		e := newEnvFor(t, nil, func(c *envConfig) { c.api.FailedAuthLimit, c.api.Metrics = memoryLimit(t, "failed-auth"), reg })
		good := e.token(t, "alice", rw)
		e.do(t, request{method: http.MethodGet, path: "/orders"}).wantProblem(t, http.StatusUnauthorized)
		e.do(t, request{method: http.MethodGet, path: "/orders", token: good}).wantStatus(t, http.StatusOK)
		for i := range 3 {
			// A forged X-Forwarded-For from an untrusted peer changes nothing.
			header := http.Header{"X-Forwarded-For": {netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}).String()}}
			e.do(t, request{method: http.MethodGet, path: "/orders", token: "not.a.token", header: header}).wantProblem(t, http.StatusUnauthorized)
		}
		wantLimited(t, e.do(t, request{method: http.MethodGet, path: "/orders", token: good}), "failed-auth")
		if n := controlCount(t, reg, "failed_auth_limited"); n != 1 {
			t.Errorf("failed_auth_limited counted %v; want 1", n)
		}
	})
	t.Run("replicas on one Redis", func(t *testing.T) {
		t.Parallel()
		opts, err := redis.ParseURL(testRedisURL(t))
		if err != nil {
			t.Fatal(err)
		}
		prefix := "test:" + rand.Text() + ":"
		idp := authtest.NewIdP(t)
		replica := func() *env {
			client := redis.NewClient(opts)
			t.Cleanup(func() { client.Close() })
			lim, err := ratelimit.NewRedis(client, prefix, threePerMinute)
			if err != nil {
				t.Fatal(err)
			}
			return newEnvFor(t, idp, func(c *envConfig) { c.api.FailedAuthLimit = apiLimit("failed-auth", lim) })
		}
		one, other := replica(), replica()
		good := one.token(t, "alice", rw)
		for range 3 {
			one.do(t, request{method: http.MethodGet, path: "/orders", token: "not.a.token"}).wantProblem(t, http.StatusUnauthorized)
		}
		wantLimited(t, one.do(t, request{method: http.MethodGet, path: "/orders", token: good}), "failed-auth")
		// The other replica has seen no failure from the address: it checks
		// one bad token, and from then on it too refuses unchecked.
		other.do(t, request{method: http.MethodGet, path: "/orders", token: "not.a.token"}).wantProblem(t, http.StatusUnauthorized)
		wantLimited(t, other.do(t, request{method: http.MethodGet, path: "/orders", token: "not.a.token"}), "failed-auth")
		wantLimited(t, other.do(t, request{method: http.MethodGet, path: "/orders", token: good}), "failed-auth")
	})
	t.Run("behind a trusted proxy", func(t *testing.T) {
		t.Parallel()
		e := newEnvFor(t, nil, func(c *envConfig) {
			c.api.FailedAuthLimit = memoryLimit(t, "failed-auth")
			c.api.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
		})
		good := e.token(t, "alice", rw)
		from := func(chain string) http.Header { return http.Header{"X-Forwarded-For": {chain}} }
		for range 3 {
			// The client's own entry, left of the proxies', may be forged; the last untrusted one counts.
			r := e.do(t, request{method: http.MethodGet, path: "/orders", token: "not.a.token", header: from(rand.Text()[:4] + ", 198.51.100.7, 10.1.2.3")})
			r.wantProblem(t, http.StatusUnauthorized)
		}
		wantLimited(t, e.do(t, request{method: http.MethodGet, path: "/orders", token: good, header: from("198.51.100.7")}), "failed-auth")
		e.do(t, request{method: http.MethodGet, path: "/orders", token: good, header: from("198.51.100.8")}).wantStatus(t, http.StatusOK)
		e.do(t, request{method: http.MethodGet, path: "/orders", token: good}).wantStatus(t, http.StatusOK)
	})
}
