package main

import (
	"time"

	"github.com/coffeemesh/orders/api"
)

// controlSettings are the settings that protect orders from retries,
// concurrent edits and greedy callers (docs/configuration.md).
func controlSettings() []setting {
	return []setting{
		{env: "ORDERS_REQUIRE_IF_MATCH", flag: "require-if-match", def: "false", doc: "true makes a change of an order (PUT, DELETE, pay, cancel) without If-Match a 428",
			key: "require_if_match", file: func(f *fileConfig) string { return f.RequireIfMatch },
			apply: boolean(func(v *values) *bool { return &v.cfg.api.RequireIfMatch })},
		{env: "ORDERS_IDEMPOTENCY_TTL", flag: "idempotency-ttl", def: api.DefaultIdempotencyTTL.String(), doc: "how long an Idempotency-Key and its answer are kept and replayed, from 1m to 720h",
			key: "idempotency_ttl", file: func(f *fileConfig) string { return f.IdempotencyTTL },
			apply: duration(func(v *values) *time.Duration { return &v.cfg.api.IdempotencyTTL }, time.Minute, 720*time.Hour, "24h")},
		{env: "ORDERS_RATE_LIMIT", flag: "rate-limit", def: "0", doc: "requests a second each caller (token owner) may make, shared by replicas through ORDERS_REDIS_URL; over it, 429; 0 (default) turns the limit off",
			key: "rate_limit", file: func(f *fileConfig) string { return f.RateLimit },
			apply: atLeast(func(v *values) *int { return &v.cfg.limits.perCaller }, 0, "is not a number of requests a second, 0 or more")},
		{env: "ORDERS_RATE_LIMIT_BURST", flag: "rate-limit-burst", def: "0", doc: "requests a caller may make at once, above ORDERS_RATE_LIMIT; 0 means twice ORDERS_RATE_LIMIT",
			key: "rate_limit_burst", file: func(f *fileConfig) string { return f.RateLimitBurst },
			apply: atLeast(func(v *values) *int { return &v.cfg.limits.perCallerBurst }, 0, "is not a number of requests, 0 or more")},
		{env: "ORDERS_FAILED_AUTH_RATE", flag: "failed-auth-rate", def: "0", doc: "requests a minute from one client address that may fail authentication (401) before its requests are refused 429 unchecked (0, the default, is off; 60 is a sensible value behind a proxy that is not already limiting); the address comes from X-Forwarded-For only from ORDERS_TRUSTED_PROXIES",
			key: "failed_auth_rate", file: func(f *fileConfig) string { return f.FailedAuthRate },
			apply: atLeast(func(v *values) *int { return &v.cfg.limits.failedAuthPerMinute }, 0, "is not a number of requests a minute, 0 or more")},
	}
}
