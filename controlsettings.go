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
			apply: boolean(func(v *values) *bool { return &v.cfg.api.RequireIfMatch })},
		{env: "ORDERS_IDEMPOTENCY_TTL", flag: "idempotency-ttl", def: api.DefaultIdempotencyTTL.String(), doc: "how long an Idempotency-Key and its answer are kept and replayed, from 1m to 720h",
			apply: duration(func(v *values) *time.Duration { return &v.cfg.api.IdempotencyTTL }, time.Minute, 720*time.Hour, "24h")},
	}
}
