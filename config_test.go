package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	hosted := map[string]string{"ORDERS_AUTH_ISSUER": "https://tenant.eu.auth0.com/", "ORDERS_AUTH_AUDIENCE": "https://orders.example.com, orders"}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(t *testing.T, c config)
		wantErr string
	}{
		{"hosted defaults", hosted, nil, func(t *testing.T, c config) {
			if c.addr != "localhost:8000" || c.databaseURL != "sqlite:orders.db" || c.auth.Leeway != 30*time.Second || c.dev {
				t.Errorf("defaults = %+v", c)
			}
			iss := c.auth.Issuers[0]
			if diff := cmp.Diff([]string{"https://orders.example.com", "orders"}, iss.Audiences); diff != "" {
				t.Errorf("audiences (-want +got):\n%s", diff)
			}
			want := map[string][]auth.Scope{"orders:read": {api.ScopeRead}, "orders:write": {api.ScopeWrite}}
			if diff := cmp.Diff(want, iss.ScopeNames); diff != "" || len(iss.GrantScopes) != 0 {
				t.Errorf("scope names (-want +got):\n%s; grants %v", diff, iss.GrantScopes)
			}
		}, ""},
		{"flags override env", hosted, []string{"--addr", "127.0.0.1:9000", "--auth-leeway", "0s"}, func(t *testing.T, c config) {
			if c.addr != "127.0.0.1:9000" || c.auth.Leeway != 0 {
				t.Errorf("addr %q leeway %v; want the flags' values", c.addr, c.auth.Leeway)
			}
		}, ""},
		{"dev needs nothing", nil, []string{"--dev"}, func(t *testing.T, c config) {
			if !c.dev || c.auth.Issuers[0].Audiences[0] != devAudience || c.devIssuerAddr != "127.0.0.1:8001" {
				t.Errorf("dev config = %+v", c)
			}
		}, ""},
		{"algorithms list", merge(hosted, map[string]string{"ORDERS_AUTH_ALGORITHMS": "RS256, ES256"}), nil, func(t *testing.T, c config) {
			if diff := cmp.Diff([]string{"RS256", "ES256"}, c.auth.Issuers[0].Algorithms); diff != "" {
				t.Errorf("algorithms (-want +got):\n%s", diff)
			}
		}, ""},
		{"require at+jwt", merge(hosted, map[string]string{"ORDERS_AUTH_REQUIRE_AT_JWT": "true"}), nil, func(t *testing.T, c config) {
			if diff := cmp.Diff([]string{"at+jwt"}, c.auth.Issuers[0].Types); diff != "" {
				t.Errorf("types (-want +got):\n%s", diff)
			}
		}, ""},
		{"require at+jwt not a bool", merge(hosted, map[string]string{"ORDERS_AUTH_REQUIRE_AT_JWT": "yes"}), nil, nil, "ORDERS_AUTH_REQUIRE_AT_JWT"},
		{"pprof off loopback", merge(hosted, map[string]string{"ORDERS_PPROF_ADDR": "0.0.0.0:6060"}), nil, nil, "ORDERS_PPROF_ADDR"},
		{"nothing set", nil, nil, nil, "ORDERS_AUTH_ISSUER is required (or run serve --dev to try the API with a local issuer)\nORDERS_AUTH_AUDIENCE is required"},
		{"no audience", map[string]string{"ORDERS_AUTH_ISSUER": "https://i.example.com"}, nil, nil, "ORDERS_AUTH_AUDIENCE is required"},
		{"empty audience in list", merge(hosted, map[string]string{"ORDERS_AUTH_AUDIENCE": "a,,b"}), nil, nil, "audience"},
		{"bad leeway", merge(hosted, map[string]string{"ORDERS_AUTH_LEEWAY": "soon"}), nil, nil, "ORDERS_AUTH_LEEWAY"},
		{"negative leeway", merge(hosted, map[string]string{"ORDERS_AUTH_LEEWAY": "-1s"}), nil, nil, "leeway"},
		{"bad addr", merge(hosted, map[string]string{"ORDERS_ADDR": "8000"}), nil, nil, "ORDERS_ADDR"},
		{"bad log level", merge(hosted, map[string]string{"ORDERS_LOG_LEVEL": "loud"}), nil, nil, "ORDERS_LOG_LEVEL"},
		{"bad origin", merge(hosted, map[string]string{"ORDERS_CORS_ORIGINS": "app.example.com"}), nil, nil, "cors"},
		{"origin with path", merge(hosted, map[string]string{"ORDERS_CORS_ORIGINS": "https://app.example.com/x"}), nil, nil, "cors"},
		{"unknown flag", hosted, []string{"--verify=false"}, nil, "flag provided but not defined"},
		{"stray argument", hosted, []string{"now"}, nil, "no arguments"},
		{"dev with jwks url", map[string]string{"ORDERS_AUTH_JWKS_URL": "https://k.example.com"}, []string{"--dev"}, nil, "--dev runs its own issuer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadConfig = %v; want an error about %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func merge(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	if got := redactURL("postgres://app:s3cret@db:5432/orders"); strings.Contains(got, "s3cret") {
		t.Errorf("redactURL kept the password: %q", got)
	}
	if got := redactURL("sqlite:orders.db"); got != "sqlite:orders.db" {
		t.Errorf("redactURL(sqlite) = %q", got)
	}
}

func TestGCSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		env              map[string]string
		percent, limited bool
	}{
		{"defaults", nil, true, true},
		{"GOGC set", map[string]string{"GOGC": "100"}, false, true},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, true, false},
		{"both set", map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gc := gcSettingsFor(func(k string) string { return tt.env[k] })
			if (gc.percent != 0) != tt.percent || (gc.memoryLimit != 0) != tt.limited {
				t.Errorf("gcSettingsFor(%v) sets percent %v, limit %v; want %v, %v", tt.env, gc.percent != 0, gc.memoryLimit != 0, tt.percent, tt.limited)
			}
			if gc.percent != 0 && gc.percent != defaultGCPercent {
				t.Errorf("GOGC = %d; want %d", gc.percent, defaultGCPercent)
			}
			if gc.memoryLimit != 0 && gc.memoryLimit != defaultMemoryLimit {
				t.Errorf("memory limit = %d; want %d", gc.memoryLimit, defaultMemoryLimit)
			}
		})
	}
}
