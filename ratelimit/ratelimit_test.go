package ratelimit_test

import (
	"crypto/rand"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coffeemesh/orders/ratelimit"
)

// testRedisURL is the Redis the tests use: ORDERS_TEST_REDIS_URL, else the
// machine's own.
func testRedisURL() string {
	if u := os.Getenv("ORDERS_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// newRedis returns a client of the test Redis, skipping the test if there
// is none, except under CI=true, where it fails.
func newRedis(t *testing.T) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(testRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { client.Close() })
	if err := client.Ping(t.Context()).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s: %v (CI=true: Redis tests must run)", testRedisURL(), err)
		}
		t.Skipf("Redis not reachable at %s (%v); set ORDERS_TEST_REDIS_URL to run these tests", testRedisURL(), err)
	}
	return client
}

// perMinute is 3 requests a minute in bursts of 3: slow enough that no
// request comes back during a test.
var perMinute = ratelimit.Limit{Rate: 3, Period: time.Minute, Burst: 3}

// TestLimiters runs the same quota on both stores: a burst is allowed,
// the next request refused with a time to wait, a look takes nothing, and
// keys are apart. Two limiters on one Redis, as two replicas have, share
// their quotas.
func TestLimiters(t *testing.T) {
	t.Parallel()
	memory, err := ratelimit.NewMemory(perMinute, 100)
	if err != nil {
		t.Fatal(err)
	}
	prefix := "test:" + rand.Text() + ":"
	one, err := ratelimit.NewRedis(newRedis(t), prefix, perMinute)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ratelimit.NewRedis(newRedis(t), prefix, perMinute)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name        string
		first, then *ratelimit.Limiter
	}{
		{"memory", memory, memory},
		{"redis, two replicas", one, other},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			look, err := tt.first.Take(ctx, "alice", 0)
			if err != nil || !look.Allowed || look.Remaining != 3 {
				t.Fatalf("look at a new quota = %+v, %v; want allowed, 3 remaining", look, err)
			}
			for i, lim := range []*ratelimit.Limiter{tt.first, tt.then, tt.first} {
				res, err := lim.Take(ctx, "alice", 1)
				if err != nil || !res.Allowed || res.Remaining != 2-i {
					t.Fatalf("request %d = %+v, %v; want allowed with %d remaining", i+1, res, err, 2-i)
				}
			}
			refused, err := tt.then.Take(ctx, "alice", 1)
			if err != nil || refused.Allowed || refused.RetryAfter < 15*time.Second || refused.RetryAfter > 20*time.Second {
				t.Errorf("request 4 = %+v, %v; want refused, retry after about 20s", refused, err)
			}
			if look, err := tt.first.Take(ctx, "alice", 0); err != nil || look.Allowed {
				t.Errorf("look at a spent quota = %+v, %v; want not allowed", look, err)
			}
			if res, err := tt.first.Take(ctx, "bob", 1); err != nil || !res.Allowed {
				t.Errorf("bob's first request = %+v, %v; want allowed beside alice's spent quota", res, err)
			}
		})
	}
}

// TestRedisDown: a limiter whose Redis cannot be reached returns ErrStore,
// for its caller to decide.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { client.Close() })
	lim, err := ratelimit.NewRedis(client, "test:", perMinute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lim.Take(t.Context(), "alice", 1); !errors.Is(err, ratelimit.ErrStore) {
		t.Errorf("Take with Redis down = %v; want ErrStore", err)
	}
}

// TestMemoryBound: the memory limiter holds at most its number of keys;
// full of spent quotas, it starts over, and then limits the new keys.
func TestMemoryBound(t *testing.T) {
	t.Parallel()
	lim, err := ratelimit.NewMemory(ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 1}, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if res, _ := lim.Take(ctx, "spent", 1); !res.Allowed {
		t.Fatal("first request refused")
	}
	for _, k := range []string{"a", "b", "c"} {
		if res, _ := lim.Take(ctx, k, 1); !res.Allowed {
			t.Fatalf("first request of %s refused", k)
		}
	}
	if res, _ := lim.Take(ctx, "c", 1); res.Allowed {
		t.Errorf("c's second request allowed; want its spent quota kept")
	}
}

// TestLimitValidate refuses limits that allow nothing.
func TestLimitValidate(t *testing.T) {
	t.Parallel()
	for _, l := range []ratelimit.Limit{{}, {Rate: 1, Period: time.Second}, {Rate: 0, Period: time.Second, Burst: 1}, {Rate: 1, Burst: 1}} {
		if _, err := ratelimit.NewMemory(l, 10); err == nil {
			t.Errorf("NewMemory(%+v) accepted a limit that allows nothing", l)
		}
	}
	if w := (ratelimit.Limit{Rate: 10, Period: time.Second, Burst: 20}).Window(); w != 2*time.Second {
		t.Errorf("Window of 10/s in bursts of 20 = %s; want 2s", w)
	}
}
