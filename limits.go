package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth/dpop/redisstore"
	"github.com/coffeemesh/orders/ratelimit"
)

// limitSettings are the rate limits of ORDERS_RATE_LIMIT,
// ORDERS_RATE_LIMIT_BURST and ORDERS_FAILED_AUTH_RATE; 0 turns one off.
type limitSettings struct {
	perCaller           int
	perCallerBurst      int
	failedAuthPerMinute int
}

// burst is the per-caller burst: ORDERS_RATE_LIMIT_BURST, or twice the
// rate when that is 0.
func (s limitSettings) burst() int {
	if s.perCallerBurst == 0 {
		return 2 * s.perCaller
	}
	return s.perCallerBurst
}

// maxMemoryKeys bounds the keys an in-memory limiter holds (see
// ratelimit.NewMemory).
const maxMemoryKeys = 100_000

// Names of the limits in the RateLimit-Policy header, and in Redis keys.
const (
	callerPolicy     = "per-caller"
	failedAuthPolicy = "failed-auth"
)

// setRateLimits sets cfg.api's rate limits from cfg.limits: kept in Redis
// when ORDERS_REDIS_URL is set, so that replicas share them, else in
// memory. The Redis client closes when ctx ends.
func setRateLimits(ctx context.Context, cfg *config, log *slog.Logger) error {
	cfg.api.TrustedProxies = cfg.auth.ClientCerts.TrustedProxies
	s := cfg.limits
	if s.perCaller == 0 && s.failedAuthPerMinute == 0 {
		return nil
	}
	var client *redis.Client
	if cfg.redisURL != "" {
		var err error
		// redisstore's client is tuned for short waits: no retries,
		// short timeouts, so that a Redis down costs little before the
		// limits fail open.
		if _, client, err = redisstore.Open(cfg.redisURL); err != nil {
			return err
		}
		go func() {
			<-ctx.Done()
			_ = client.Close() // the process is stopping; nothing to do on error
		}()
	}
	limit := func(policy string, l ratelimit.Limit) (*api.RateLimit, error) {
		var (
			lim *ratelimit.Limiter
			err error
		)
		if client != nil {
			lim, err = ratelimit.NewRedis(client, "orders:ratelimit:"+policy+":", l)
		} else {
			lim, err = ratelimit.NewMemory(l, maxMemoryKeys)
		}
		if err != nil {
			return nil, err
		}
		return apiLimit(policy, lim), nil
	}
	var err error
	if s.perCaller > 0 {
		if cfg.api.CallerLimit, err = limit(callerPolicy, ratelimit.Limit{Rate: s.perCaller, Period: time.Second, Burst: s.burst()}); err != nil {
			return err
		}
	}
	if s.failedAuthPerMinute > 0 {
		n := s.failedAuthPerMinute
		if cfg.api.FailedAuthLimit, err = limit(failedAuthPolicy, ratelimit.Limit{Rate: n, Period: time.Minute, Burst: n}); err != nil {
			return err
		}
	}
	log.InfoContext(ctx, "rate limits", "store", map[bool]string{true: "redis", false: "memory"}[client != nil])
	return nil
}

// apiLimit is lim as the API's limit named policy.
func apiLimit(policy string, lim *ratelimit.Limiter) *api.RateLimit {
	l := lim.Limit()
	return &api.RateLimit{
		Policy: policy,
		Quota:  l.Burst,
		Window: l.Window(),
		Take: func(ctx context.Context, key string, n int) (api.Quota, error) {
			r, err := lim.Take(ctx, key, n)
			return api.Quota{Allowed: r.Allowed, Remaining: r.Remaining, RetryAfter: r.RetryAfter, ResetAfter: r.ResetAfter}, err
		},
	}
}
