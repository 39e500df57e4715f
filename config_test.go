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
		{"dpop defaults", hosted, nil, func(t *testing.T, c config) {
			d := c.auth.DPoP
			if d.Mode != auth.DPoPAllowed || d.MaxAge != time.Minute || d.PublicURL != "" || !cmp.Equal(d.Algorithms, []string{"ES256", "EdDSA", "Ed25519", "PS256", "RS256"}) {
				t.Errorf("dpop = %+v; want allowed, 1m, ES256 EdDSA Ed25519 PS256 RS256, no public URL", d)
			}
		}, ""},
		{"dpop settings", merge(hosted, map[string]string{"ORDERS_AUTH_DPOP": "required", "ORDERS_AUTH_DPOP_ALGORITHMS": "ES256",
			"ORDERS_AUTH_DPOP_MAX_AGE": "30s", "ORDERS_PUBLIC_URL": "https://orders.example.com/api"}), nil, func(t *testing.T, c config) {
			d := c.auth.DPoP
			if d.Mode != auth.DPoPRequired || d.MaxAge != 30*time.Second || d.PublicURL != "https://orders.example.com/api" || !cmp.Equal(d.Algorithms, []string{"ES256"}) {
				t.Errorf("dpop = %+v", d)
			}
		}, ""},
		{"dpop mode misspelt", merge(hosted, map[string]string{"ORDERS_AUTH_DPOP": "on"}), nil, nil, "ORDERS_AUTH_DPOP"},
		{"dpop symmetric algorithm", merge(hosted, map[string]string{"ORDERS_AUTH_DPOP_ALGORITHMS": "HS256"}), nil, nil, "dpop algorithm"},
		{"dpop max age too long", merge(hosted, map[string]string{"ORDERS_AUTH_DPOP_MAX_AGE": "1h"}), nil, nil, "ORDERS_AUTH_DPOP_MAX_AGE"},
		{"public url with a query", merge(hosted, map[string]string{"ORDERS_PUBLIC_URL": "https://orders.example.com/?x=1"}), nil, nil, "public url"},
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
		{"negative leeway", merge(hosted, map[string]string{"ORDERS_AUTH_LEEWAY": "-1s"}), nil, nil, `ORDERS_AUTH_LEEWAY: "-1s" is out of range: allowed is 0s to 5m0s`},
		{"cache ttl over the maximum", merge(hosted, map[string]string{"ORDERS_AUTH_CACHE_TTL": "2h"}), nil, nil, `ORDERS_AUTH_CACHE_TTL: "2h" is out of range: allowed is more than 0s, up to ` + auth.MaxCacheTTL.String()},
		{"negative connection lifetime", merge(hosted, map[string]string{"ORDERS_DATABASE_CONN_MAX_LIFETIME": "-1m"}), nil, nil, `ORDERS_DATABASE_CONN_MAX_LIFETIME: "-1m" is out of range: allowed is 0s or more`},
		{"require at+jwt flag", hosted, []string{"--auth-require-at-jwt", "yes"}, nil, `ORDERS_AUTH_REQUIRE_AT_JWT (--auth-require-at-jwt): "yes" is not true or false`},
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

// TestAllErrorsInOnePass: every problem of the flags, the environment, the
// configuration file and the provider preset is reported at once, one per
// line, each naming its setting.
func TestAllErrorsInOnePass(t *testing.T) {
	t.Parallel()
	issuer := map[string]string{"ORDERS_AUTH_ISSUER": "https://i.example.com/", "ORDERS_AUTH_AUDIENCE": "orders"}
	tests := []struct {
		name string
		file string // content of the file ORDERS_CONFIG names; none when ""
		env  map[string]string
		args []string
		want []string // the error's lines, PATH standing for the file's
	}{
		{"unknown key in file and a bad environment value", "adr: 127.0.0.1:9000\n",
			merge(issuer, map[string]string{"ORDERS_LOG_LEVEL": "loud"}), nil, []string{
				`ORDERS_CONFIG PATH: [1:1] unknown field "adr"`,
				`ORDERS_LOG_LEVEL: "loud" is not debug, info, warn or error`,
			}},
		{"file, environment and provider preset", "database_url: sqlite:x.db\nadr: x\n",
			merge(issuer, map[string]string{"ORDERS_AUTH_LEEWAY": "soon", "ORDERS_AUTH_PROVIDER": "ping"}), nil, []string{
				`ORDERS_CONFIG PATH: [2:1] unknown field "adr"`,
				`ORDERS_AUTH_LEEWAY: "soon" is not a duration like 30s`,
				`ORDERS_AUTH_PROVIDER=ping: `,
			}},
		{"a bad value in the file and a bad flag", "addr: \"8000\"\n",
			issuer, []string{"--database-max-conns", "0"}, []string{
				`ORDERS_ADDR (addr in PATH): "8000" is not host:port`,
				`ORDERS_DATABASE_MAX_CONNS (--database-max-conns): "0" is not a positive number`,
			}},
		{"a short nonce secret is not quoted, a bad nonce switch is", "",
			merge(issuer, map[string]string{"ORDERS_AUTH_DPOP_NONCE_SECRET": "hunter2", "ORDERS_AUTH_DPOP_NONCE": "yes"}), nil, []string{
				`ORDERS_AUTH_DPOP_NONCE: "yes" is not on or off`,
				`ORDERS_AUTH_DPOP_NONCE_SECRET: "(hidden)" is shorter than 32 bytes`,
			}},
		{"a file that is not YAML is the only error", "auth: [", nil, nil, []string{
			`ORDERS_CONFIG PATH: [1:7] sequence end token ']' not found`,
		}},
		{"every error of every issuer", "auth:\n  issuers:\n    - audience: [x]\n    - issuer: https://b.example.com\n      provider: ping\n", nil, nil, []string{
			`issuer 1 in PATH: issuer is required`,
			`issuer 2 in PATH: audience is required`,
			`issuer 2 in PATH: provider=ping: provider "ping" is not one of`,
		}},
		{"no settings at all", "", nil, nil, []string{
			`ORDERS_AUTH_ISSUER is required (or run serve --dev to try the API with a local issuer)`,
			`ORDERS_AUTH_AUDIENCE is required`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := merge(tt.env, nil)
			path := ""
			if tt.file != "" {
				path = writeFile(t, "orders.yaml", tt.file)
				env["ORDERS_CONFIG"] = path
			}
			_, err := loadConfig(tt.args, func(k string) string { return env[k] }, io.Discard)
			if err == nil {
				t.Fatal("loadConfig succeeded; want errors")
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(tt.want) {
				t.Fatalf("loadConfig errors:\n%s\nwant %d lines:\n%s", err, len(tt.want), strings.Join(tt.want, "\n"))
			}
			for i, want := range tt.want {
				if want = strings.ReplaceAll(want, "PATH", path); !strings.HasPrefix(got[i], want) {
					t.Errorf("line %d = %q; want %q", i+1, got[i], want)
				}
			}
		})
	}
}

// TestPrecedence: a flag wins over the environment, which wins over the
// file, which wins over the declared default, for serve and for migrate.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "orders.yaml", "addr: 127.0.0.1:3\ndatabase_url: sqlite:file.db\n")
	issuer := map[string]string{"ORDERS_AUTH_ISSUER": "https://i.example.com/", "ORDERS_AUTH_AUDIENCE": "orders"}
	tests := []struct {
		name             string
		env              map[string]string
		args             []string
		wantAddr, wantDB string
	}{
		{"defaults", nil, nil, "localhost:8000", "sqlite:orders.db"},
		{"file over default", map[string]string{"ORDERS_CONFIG": file}, nil, "127.0.0.1:3", "sqlite:file.db"},
		{"environment over file", map[string]string{"ORDERS_CONFIG": file, "ORDERS_ADDR": "127.0.0.1:2", "ORDERS_DATABASE_URL": "sqlite:env.db"}, nil, "127.0.0.1:2", "sqlite:env.db"},
		{"flag over environment", map[string]string{"ORDERS_CONFIG": file, "ORDERS_ADDR": "127.0.0.1:2", "ORDERS_DATABASE_URL": "sqlite:env.db"},
			[]string{"--addr", "127.0.0.1:1", "--database-url", "sqlite:flag.db"}, "127.0.0.1:1", "sqlite:flag.db"},
		{"empty counts as not given", map[string]string{"ORDERS_CONFIG": file, "ORDERS_ADDR": " "}, []string{"--database-url", ""}, "127.0.0.1:3", "sqlite:file.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			getenv := env(merge(issuer, tt.env))
			c, err := loadConfig(tt.args, getenv, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.addr != tt.wantAddr || c.databaseURL != tt.wantDB {
				t.Errorf("serve: addr %q, database %q; want %q, %q", c.addr, c.databaseURL, tt.wantAddr, tt.wantDB)
			}
			var dbArgs []string
			for i := 0; i+1 < len(tt.args); i += 2 {
				if tt.args[i] == "--database-url" {
					dbArgs = append(dbArgs, tt.args[i:i+2]...)
				}
			}
			action, db, err := migrateArgs(append([]string{"status"}, dbArgs...), getenv, io.Discard)
			if err != nil || action != "status" || db.databaseURL != tt.wantDB {
				t.Errorf("migrate: %q, %q, %v; want status of %q", action, db.databaseURL, err, tt.wantDB)
			}
		})
	}
}

// TestUnknownEnv: an ORDERS_ variable that no setting reads is found, with
// the setting nearest to it; the tests' own variables are not.
func TestUnknownEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		want    []unknownVariable
	}{
		{"misspelt address", []string{"ORDERS_ADRR=:8000"}, []unknownVariable{{"ORDERS_ADRR", "ORDERS_ADDR"}}},
		{"misspelt audience", []string{"ORDERS_AUTH_AUDIENCES=x"}, []unknownVariable{{"ORDERS_AUTH_AUDIENCES", "ORDERS_AUTH_AUDIENCE"}}},
		{"a word too many", []string{"ORDERS_DATABASE_POOL_MAX_CONNS=3"}, []unknownVariable{{"ORDERS_DATABASE_POOL_MAX_CONNS", "ORDERS_DATABASE_MAX_CONNS"}}},
		{"every setting is known", func() []string {
			var e []string
			for _, s := range settings() {
				e = append(e, s.env+"=x")
			}
			return e
		}(), nil},
		{"the tests' variables", []string{"ORDERS_TEST_POSTGRES_URL=postgres://x", "ORDERS_TEST_ANYTHING=1"}, nil},
		{"other variables", []string{"PATH=/bin", "GOGC=100", "XORDERS_ADRR=1", "ORDERS=1", "ORDERS_=1"}, []unknownVariable{{"ORDERS_", "ORDERS_ADDR"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := unknownEnv(tt.environ)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(unknownVariable{})); diff != "" {
				t.Errorf("unknownEnv(%q) (-want +got):\n%s", tt.environ, diff)
			}
		})
	}
}

// TestSettingsDeclarations: every declared setting has its own variable and
// flag, a doc, a default that its own check accepts, and a key where the
// file can hold it.
func TestSettingsDeclarations(t *testing.T) {
	t.Parallel()
	envs, flags := map[string]bool{}, map[string]bool{}
	for _, s := range settings() {
		t.Run(s.env, func(t *testing.T) {
			if !strings.HasPrefix(s.env, envPrefix) || strings.HasPrefix(s.env, testEnvPrefix) || envs[s.env] || flags[s.flag] {
				t.Errorf("%s (--%s): want a unique ORDERS_ variable and a unique flag", s.env, s.flag)
			}
			envs[s.env], flags[s.flag] = true, true
			if s.doc == "" || (s.file != nil && s.key == "") {
				t.Errorf("%s: doc %q, key %q; want a doc, and a key for the file's value", s.env, s.doc, s.key)
			}
			var v values
			if err := s.apply(&v, s.def); err != nil {
				t.Errorf("%s: its default %q is refused: %v", s.env, s.def, err)
			}
		})
	}
}

// TestDPoPSettingsFromTheFile: the DPoP settings and the public URL come
// from the configuration file too, under the environment.
func TestDPoPSettingsFromTheFile(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "orders.yaml", "public_url: https://orders.example.com\nauth:\n  dpop: required\n  dpop_algorithms: [ES256, EdDSA]\n  dpop_max_age: 30s\n")
	env := map[string]string{"ORDERS_CONFIG": path, "ORDERS_AUTH_ISSUER": "https://issuer.example.com/", "ORDERS_AUTH_AUDIENCE": "orders"}
	cfg, err := loadConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.auth.DPoP
	if d.Mode != auth.DPoPRequired || strings.Join(d.Algorithms, ",") != "ES256,EdDSA" || d.MaxAge != 30*time.Second || d.PublicURL != "https://orders.example.com" {
		t.Errorf("DPoP settings from the file = %+v", d)
	}
	env["ORDERS_AUTH_DPOP"] = "off"
	if cfg, err = loadConfig(nil, func(k string) string { return env[k] }, io.Discard); err != nil || cfg.auth.DPoP.Mode != auth.DPoPOff {
		t.Errorf("the environment over the file: %+v, %v; want off", cfg.auth.DPoP, err)
	}
}

// TestDPoPStoreAndNonceSettings: the Redis URL and the nonce settings reach
// the configuration from the environment, flags and file.
func TestDPoPStoreAndNonceSettings(t *testing.T) {
	t.Parallel()
	hosted := map[string]string{"ORDERS_AUTH_ISSUER": "https://i.example.com/", "ORDERS_AUTH_AUDIENCE": "orders"}
	secret := strings.Repeat("k", 32)
	tests := []struct {
		name        string
		env         map[string]string
		args        []string
		redis       string
		nonce       bool
		nonceSecret string
	}{
		{"defaults", hosted, nil, "", false, ""},
		{"environment", merge(hosted, map[string]string{"ORDERS_REDIS_URL": "redis://r:6379/0", "ORDERS_AUTH_DPOP_NONCE": "on", "ORDERS_AUTH_DPOP_NONCE_SECRET": secret}), nil,
			"redis://r:6379/0", true, secret},
		{"flags", hosted, []string{"--redis-url", "redis://f:6379/1", "--auth-dpop-nonce", "on"}, "redis://f:6379/1", true, ""},
	}
	for _, tt := range tests {
		c, err := loadConfig(tt.args, env(tt.env), io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if c.redisURL != tt.redis || c.auth.DPoP.Nonce != tt.nonce || string(c.auth.DPoP.NonceSecret) != tt.nonceSecret {
			t.Errorf("%s: redis %q, nonce %v, secret set %v; want %q, %v, %v", tt.name, c.redisURL, c.auth.DPoP.Nonce, c.auth.DPoP.NonceSecret != nil, tt.redis, tt.nonce, tt.nonceSecret != "")
		}
	}
}
