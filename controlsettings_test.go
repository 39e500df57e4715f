package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestControlSettingsFromTheFile: If-Match, Idempotency-Key and rate-limit
// settings come from the configuration file too, under the environment and
// the flags, and a bad value in the file is refused with its key.
func TestControlSettingsFromTheFile(t *testing.T) {
	t.Parallel()
	hosted := map[string]string{"ORDERS_AUTH_ISSUER": "https://i.example.com/", "ORDERS_AUTH_AUDIENCE": "orders"}
	file := writeFile(t, "orders.yaml", "require_if_match: true\nidempotency_ttl: 2h\nrate_limit: 20\nrate_limit_burst: 40\nfailed_auth_rate: 60\n")
	type got struct {
		ifMatch                          bool
		ttl                              time.Duration
		rate, burst, failedAuthPerMinute int
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want got
	}{
		{"defaults", hosted, nil, got{false, 24 * time.Hour, 0, 0, 0}},
		{"from the file", merge(hosted, map[string]string{"ORDERS_CONFIG": file}), nil, got{true, 2 * time.Hour, 20, 40, 60}},
		{"environment over file", merge(hosted, map[string]string{"ORDERS_CONFIG": file, "ORDERS_REQUIRE_IF_MATCH": "false", "ORDERS_IDEMPOTENCY_TTL": "1h",
			"ORDERS_RATE_LIMIT": "5", "ORDERS_RATE_LIMIT_BURST": "6", "ORDERS_FAILED_AUTH_RATE": "7"}), nil, got{false, time.Hour, 5, 6, 7}},
		{"flag over environment", merge(hosted, map[string]string{"ORDERS_CONFIG": file, "ORDERS_RATE_LIMIT": "5"}),
			[]string{"--rate-limit", "9", "--idempotency-ttl", "3m"}, got{true, 3 * time.Minute, 9, 40, 60}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(tt.args, env(tt.env), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			g := got{c.api.RequireIfMatch, c.api.IdempotencyTTL, c.limits.perCaller, c.limits.perCallerBurst, c.limits.failedAuthPerMinute}
			if g != tt.want {
				t.Errorf("got %+v; want %+v", g, tt.want)
			}
		})
	}
	t.Run("bad value in the file names its key", func(t *testing.T) {
		t.Parallel()
		bad := writeFile(t, "orders.yaml", "rate_limit: -1\nidempotency_ttl: 1s\n")
		_, err := loadConfig(nil, env(merge(hosted, map[string]string{"ORDERS_CONFIG": bad})), io.Discard)
		if err == nil {
			t.Fatal("loadConfig accepted rate_limit -1 and idempotency_ttl 1s")
		}
		for _, want := range []string{"ORDERS_RATE_LIMIT (rate_limit in " + bad + ")", "ORDERS_IDEMPOTENCY_TTL (idempotency_ttl in " + bad + ")"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
	})
}
