package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/repository"
)

// devAudience is the audience of the dev issuer's tokens unless
// ORDERS_AUTH_AUDIENCE names another.
const devAudience = "orders-api"

// devDocsClient is the client id of the /docs page with --dev.
const devDocsClient = "orders-docs"

// scopeOff is the value of ORDERS_AUTH_READ_SCOPE or ORDERS_AUTH_WRITE_SCOPE
// that turns that scope check off, for providers that cannot issue scopes.
const scopeOff = "none"

// config is the effective configuration of serve.
type config struct {
	addr          string
	databaseURL   string
	pool          repository.Pool
	logLevel      string
	auth          auth.Config
	api           api.Config
	dev           bool
	devIssuerAddr string
	docsClientID  string
	adminAddr     string
	pprofAddr     string
	// scopeChecksOff lists, per issuer, the scopes every valid token gets
	// because its check was turned off; serve warns about each.
	scopeChecksOff map[string][]auth.Scope
}

// fileConfig is the configuration file (ORDERS_CONFIG), YAML or JSON. It
// holds what the environment expresses badly, several issuers above all.
type fileConfig struct {
	Addr         string `yaml:"addr"`
	DatabaseURL  string `yaml:"database_url"`
	DatabasePool struct {
		MaxConns        string `yaml:"max_conns"`
		ConnMaxLifetime string `yaml:"conn_max_lifetime"`
	} `yaml:"database_pool"`
	LogLevel      string   `yaml:"log_level"`
	CORSOrigins   []string `yaml:"cors_origins"`
	DevIssuerAddr string   `yaml:"dev_issuer_addr"`
	DocsClientID  string   `yaml:"docs_client_id"`
	AdminAddr     string   `yaml:"admin_addr"`
	PprofAddr     string   `yaml:"pprof_addr"`
	Auth          struct {
		Leeway    string           `yaml:"leeway"`
		CacheSize string           `yaml:"cache_size"`
		CacheTTL  string           `yaml:"cache_ttl"`
		Issuers   []issuerSettings `yaml:"issuers"`
	} `yaml:"auth"`
}

// issuerSettings describe one trusted issuer, as the file or the
// ORDERS_AUTH_* variables give it.
type issuerSettings struct {
	Provider      string   `yaml:"provider"`
	Issuer        string   `yaml:"issuer"`
	Audience      []string `yaml:"audience"`
	AudienceClaim string   `yaml:"audience_claim"`
	JWKSURL       string   `yaml:"jwks_url"`
	Algorithms    []string `yaml:"algorithms"`
	RequireATJWT  bool     `yaml:"require_at_jwt"`
	TokenTypes    []string `yaml:"token_types"`
	ScopeClaims   []string `yaml:"scope_claims"`
	ReadScope     string   `yaml:"read_scope"`
	WriteScope    string   `yaml:"write_scope"`
}

// setting is one configuration value: an environment variable that is also
// a flag of serve, the flag winning; both win over the configuration file.
type setting struct {
	env, flag, def, usage string
}

// settings lists every setting of serve, in the order of the README's table.
func settings() []setting {
	return []setting{
		{"ORDERS_CONFIG", "config", "", "configuration file, YAML or JSON (see README)"},
		{"ORDERS_ADDR", "addr", "localhost:8000", "address the API listens on"},
		{"ORDERS_DATABASE_URL", "database-url", "sqlite:orders.db", "database, as sqlite:PATH or postgres://USER@HOST:PORT/DB"},
		{"ORDERS_DATABASE_MAX_CONNS", "database-max-conns", "10", "most database connections open at once"},
		{"ORDERS_DATABASE_CONN_MAX_LIFETIME", "database-conn-max-lifetime", "30m", "a database connection is closed after this long"},
		{"ORDERS_AUTH_PROVIDER", "auth-provider", "", "provider preset: " + strings.Join(auth.ProviderNames(), ", ")},
		{"ORDERS_AUTH_ISSUER", "auth-issuer", "", "issuer whose tokens are accepted (exact iss); required unless --dev"},
		{"ORDERS_AUTH_AUDIENCE", "auth-audience", "", "comma-separated audiences, one of which the token must hold; required unless --dev"},
		{"ORDERS_AUTH_AUDIENCE_CLAIM", "auth-audience-claim", "", "claim that holds the audience: aud (default) or client_id (Cognito)"},
		{"ORDERS_AUTH_JWKS_URL", "auth-jwks-url", "", "JWKS URL; default: jwks_uri from the issuer's OpenID discovery"},
		{"ORDERS_AUTH_ALGORITHMS", "auth-algorithms", "", "comma-separated accepted algorithms; default: " + strings.Join(auth.Algorithms(), ",")},
		{"ORDERS_AUTH_REQUIRE_AT_JWT", "auth-require-at-jwt", "", "accept only tokens with typ at+jwt (RFC 9068): true or false (default)"},
		{"ORDERS_AUTH_TOKEN_TYPES", "auth-token-types", "", "comma-separated accepted typ values (\"\" for none); default: none, JWT, at+jwt"},
		{"ORDERS_AUTH_SCOPE_CLAIMS", "auth-scope-claims", "", "comma-separated claims scopes are read from; default: scope,scp,permissions"},
		{"ORDERS_AUTH_READ_SCOPE", "auth-read-scope", "", "the issuer's name for the read scope (default orders:read), or none"},
		{"ORDERS_AUTH_WRITE_SCOPE", "auth-write-scope", "", "the issuer's name for the write scope (default orders:write), or none"},
		{"ORDERS_AUTH_CACHE_SIZE", "auth-cache-size", "10000", "verified tokens remembered, so their signatures are not checked again; 0 turns the cache off"},
		{"ORDERS_AUTH_CACHE_TTL", "auth-cache-ttl", auth.DefaultCacheTTL.String(), "longest a verified token is remembered (never past its exp)"},
		{"ORDERS_AUTH_LEEWAY", "auth-leeway", auth.DefaultLeeway.String(), "clock skew allowed on exp, nbf and iat, at most " + auth.MaxLeeway.String()},
		{"ORDERS_CORS_ORIGINS", "cors-origins", "", "comma-separated origins browsers may call from; none by default"},
		{"ORDERS_LOG_LEVEL", "log-level", "info", "debug, info, warn or error"},
		{"ORDERS_DOCS_CLIENT_ID", "docs-client-id", "", "OAuth client id of the /docs page (authorization code with PKCE); default with --dev: " + devDocsClient},
		{"ORDERS_PPROF_ADDR", "pprof-addr", "", "loopback address of a listener for Go's profiler (pprof); off by default"},
		{"ORDERS_ADMIN_ADDR", "admin-addr", "", "address of a separate listener for /metrics and (on loopback) pprof; default: /metrics on the API's address"},
		{"ORDERS_DEV_ISSUER_ADDR", "dev-issuer-addr", "127.0.0.1:8001", "loopback address of the --dev issuer"},
	}
}

// issuerEnv are the settings of a single issuer given by environment or
// flags; they conflict with issuers in the configuration file.
func issuerEnv() []string {
	return []string{"ORDERS_AUTH_PROVIDER", "ORDERS_AUTH_ISSUER", "ORDERS_AUTH_AUDIENCE", "ORDERS_AUTH_AUDIENCE_CLAIM",
		"ORDERS_AUTH_JWKS_URL", "ORDERS_AUTH_ALGORITHMS", "ORDERS_AUTH_REQUIRE_AT_JWT", "ORDERS_AUTH_TOKEN_TYPES",
		"ORDERS_AUTH_SCOPE_CLAIMS", "ORDERS_AUTH_READ_SCOPE", "ORDERS_AUTH_WRITE_SCOPE"}
}

// loadConfig reads serve's configuration: the file that ORDERS_CONFIG (or
// --config) names, then the environment (getenv), then args, each
// overriding the one before. It fetches nothing and opens nothing but that
// file, and reports every problem it finds at once.
func loadConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	cfg, rest, err := loadConfigFor("serve", args, getenv, usage)
	if err == nil && len(rest) > 0 {
		return config{}, fmt.Errorf("serve takes no arguments, got %q", rest)
	}
	return cfg, err
}

// loadConfigFor is loadConfig for the command name, which may take
// arguments after its flags; it returns them.
func loadConfigFor(name string, args []string, getenv func(string) string, usage io.Writer) (config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	values := make(map[string]*string)
	for _, s := range settings() {
		usage := s.usage + " ($" + s.env + ")"
		if s.def != "" {
			usage += " (default " + s.def + ")"
		}
		values[s.env] = fs.String(s.flag, getenv(s.env), usage)
	}
	dev := fs.Bool("dev", false, "run a local development issuer on loopback and accept its tokens")
	if err := fs.Parse(args); err != nil {
		return config{}, nil, err
	}
	given := func(env string) string { return strings.TrimSpace(*values[env]) }

	var (
		file fileConfig
		errs []error
	)
	if path := given("ORDERS_CONFIG"); path != "" {
		var err error
		if file, err = readConfigFile(path); err != nil {
			return config{}, nil, err
		}
	}
	// get returns a setting from flags or environment, else the file's
	// value, else its default.
	get := func(env, fromFile string) string {
		if v := given(env); v != "" {
			return v
		}
		if fromFile != "" {
			return fromFile
		}
		for _, s := range settings() {
			if s.env == env {
				return s.def
			}
		}
		return ""
	}
	cfg := config{
		addr:          get("ORDERS_ADDR", file.Addr),
		databaseURL:   get("ORDERS_DATABASE_URL", file.DatabaseURL),
		logLevel:      get("ORDERS_LOG_LEVEL", file.LogLevel),
		dev:           *dev,
		devIssuerAddr: get("ORDERS_DEV_ISSUER_ADDR", file.DevIssuerAddr),
		docsClientID:  get("ORDERS_DOCS_CLIENT_ID", file.DocsClientID),
		adminAddr:     get("ORDERS_ADMIN_ADDR", file.AdminAddr),
		pprofAddr:     get("ORDERS_PPROF_ADDR", file.PprofAddr),
		api:           api.Config{CORSOrigins: file.CORSOrigins},
	}
	if v := given("ORDERS_CORS_ORIGINS"); v != "" {
		cfg.api.CORSOrigins = splitList(v)
	}
	maxConns, err := strconv.Atoi(get("ORDERS_DATABASE_MAX_CONNS", file.DatabasePool.MaxConns))
	if err != nil || maxConns < 1 {
		errs = append(errs, fmt.Errorf("ORDERS_DATABASE_MAX_CONNS: %q is not a positive number", get("ORDERS_DATABASE_MAX_CONNS", file.DatabasePool.MaxConns)))
	}
	lifetime, err := time.ParseDuration(get("ORDERS_DATABASE_CONN_MAX_LIFETIME", file.DatabasePool.ConnMaxLifetime))
	if err != nil || lifetime < 0 {
		errs = append(errs, fmt.Errorf("ORDERS_DATABASE_CONN_MAX_LIFETIME: %q is not a duration like 30m", get("ORDERS_DATABASE_CONN_MAX_LIFETIME", file.DatabasePool.ConnMaxLifetime)))
	}
	cfg.pool = repository.Pool{MaxOpenConns: maxConns, ConnMaxLifetime: lifetime}
	leeway, err := time.ParseDuration(get("ORDERS_AUTH_LEEWAY", file.Auth.Leeway))
	if err != nil {
		errs = append(errs, fmt.Errorf("ORDERS_AUTH_LEEWAY: %q is not a duration like 30s", get("ORDERS_AUTH_LEEWAY", file.Auth.Leeway)))
	}
	cfg.auth.Leeway = leeway
	if cfg.auth.CacheSize, err = strconv.Atoi(get("ORDERS_AUTH_CACHE_SIZE", file.Auth.CacheSize)); err != nil || cfg.auth.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("ORDERS_AUTH_CACHE_SIZE: %q is not a number of tokens, 0 or more", get("ORDERS_AUTH_CACHE_SIZE", file.Auth.CacheSize)))
	}
	if cfg.auth.CacheTTL, err = time.ParseDuration(get("ORDERS_AUTH_CACHE_TTL", file.Auth.CacheTTL)); err != nil || cfg.auth.CacheTTL <= 0 {
		errs = append(errs, fmt.Errorf("ORDERS_AUTH_CACHE_TTL: %q is not a positive duration like 5m", get("ORDERS_AUTH_CACHE_TTL", file.Auth.CacheTTL)))
	}
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		errs = append(errs, fmt.Errorf("ORDERS_ADDR: %q is not host:port", cfg.addr))
	}
	if host, _, err := net.SplitHostPort(cfg.pprofAddr); cfg.pprofAddr != "" && (err != nil || !auth.IsLoopback(host)) {
		errs = append(errs, fmt.Errorf("ORDERS_PPROF_ADDR: %q must be a loopback host:port", cfg.pprofAddr))
	}
	if _, _, err := net.SplitHostPort(cfg.adminAddr); cfg.adminAddr != "" && err != nil {
		errs = append(errs, fmt.Errorf("ORDERS_ADMIN_ADDR: %q is not host:port", cfg.adminAddr))
	}
	switch cfg.logLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("ORDERS_LOG_LEVEL: %q is not debug, info, warn or error", cfg.logLevel))
	}

	issuers := file.Auth.Issuers
	var fromEnv []string
	for _, env := range issuerEnv() {
		if given(env) != "" {
			fromEnv = append(fromEnv, env)
		}
	}
	switch {
	case len(fromEnv) > 0 && len(issuers) > 0:
		errs = append(errs, fmt.Errorf("%s: the configuration file lists the issuers; set these per issuer there", strings.Join(fromEnv, ", ")))
	case len(fromEnv) > 0 || len(issuers) == 0:
		s, err := envIssuer(given)
		if err != nil {
			errs = append(errs, err)
		}
		issuers = []issuerSettings{s}
	}
	if cfg.dev {
		errs = append(errs, checkDev(cfg, issuers)...)
		// The dev issuer's URL is known once it listens; serve sets it then.
		issuers[0].Issuer = "http://" + cfg.devIssuerAddr
		if cfg.docsClientID == "" {
			cfg.docsClientID = devDocsClient
		}
		if len(issuers[0].Audience) == 0 {
			issuers[0].Audience = []string{devAudience}
		}
	}
	cfg.scopeChecksOff = map[string][]auth.Scope{}
	for i, s := range issuers {
		iss, err := s.toIssuer()
		if err != nil {
			if len(issuers) > 1 {
				err = fmt.Errorf("issuer %d: %w", i+1, err)
			}
			errs = append(errs, err)
			continue
		}
		if len(iss.GrantScopes) > 0 {
			cfg.scopeChecksOff[iss.URL] = iss.GrantScopes
		}
		cfg.auth.Issuers = append(cfg.auth.Issuers, iss)
	}
	if len(cfg.auth.Issuers) == len(issuers) {
		if err := cfg.auth.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := cfg.api.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, fs.Args(), errors.Join(errs...)
}

// readConfigFile reads a YAML or JSON configuration file; an unknown or
// misspelt key is an error, not a silently ignored setting.
func readConfigFile(path string) (fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return fileConfig{}, fmt.Errorf("ORDERS_CONFIG: %w", err)
	}
	var fc fileConfig
	if err := yaml.UnmarshalWithOptions(b, &fc, yaml.DisallowUnknownField()); err != nil {
		return fileConfig{}, fmt.Errorf("ORDERS_CONFIG %s: %s", path, yaml.FormatError(err, false, true))
	}
	return fc, nil
}

// envIssuer reads the single issuer of the ORDERS_AUTH_* settings.
func envIssuer(given func(string) string) (issuerSettings, error) {
	s := issuerSettings{
		Provider:      given("ORDERS_AUTH_PROVIDER"),
		Issuer:        given("ORDERS_AUTH_ISSUER"),
		Audience:      splitList(given("ORDERS_AUTH_AUDIENCE")),
		AudienceClaim: given("ORDERS_AUTH_AUDIENCE_CLAIM"),
		JWKSURL:       given("ORDERS_AUTH_JWKS_URL"),
		Algorithms:    splitList(given("ORDERS_AUTH_ALGORITHMS")),
		TokenTypes:    splitList(given("ORDERS_AUTH_TOKEN_TYPES")),
		ScopeClaims:   splitList(given("ORDERS_AUTH_SCOPE_CLAIMS")),
		ReadScope:     given("ORDERS_AUTH_READ_SCOPE"),
		WriteScope:    given("ORDERS_AUTH_WRITE_SCOPE"),
	}
	if v := given("ORDERS_AUTH_REQUIRE_AT_JWT"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil || (v != "true" && v != "false") {
			return s, fmt.Errorf("ORDERS_AUTH_REQUIRE_AT_JWT: %q is not true or false", v)
		}
		s.RequireATJWT = b
	}
	return s, nil
}

// toIssuer applies the provider preset, then the explicit settings, and
// maps the issuer's scope names to the API's scopes.
func (s issuerSettings) toIssuer() (auth.Issuer, error) {
	var errs []error
	if s.Issuer == "" {
		errs = append(errs, errors.New("ORDERS_AUTH_ISSUER is required (or run serve --dev to try the API with a local issuer)"))
	}
	if len(s.Audience) == 0 {
		errs = append(errs, errors.New("ORDERS_AUTH_AUDIENCE is required"))
	}
	iss := auth.Issuer{
		URL:           s.Issuer,
		Audiences:     s.Audience,
		AudienceClaim: s.AudienceClaim,
		JWKSURL:       s.JWKSURL,
		Algorithms:    s.Algorithms,
		Types:         s.TokenTypes,
		ScopeClaims:   s.ScopeClaims,
	}
	if s.Provider != "" {
		if err := auth.ApplyProvider(s.Provider, &iss); err != nil {
			errs = append(errs, fmt.Errorf("ORDERS_AUTH_PROVIDER=%s: %w", s.Provider, err))
		}
	}
	if s.RequireATJWT {
		if len(s.TokenTypes) > 0 {
			errs = append(errs, errors.New("ORDERS_AUTH_REQUIRE_AT_JWT and ORDERS_AUTH_TOKEN_TYPES exclude each other"))
		}
		iss.Types = []string{"at+jwt"}
	}
	iss.ScopeNames = map[string][]auth.Scope{}
	for _, sc := range []struct {
		name  string
		scope auth.Scope
	}{{s.ReadScope, api.ScopeRead}, {s.WriteScope, api.ScopeWrite}} {
		switch sc.name {
		case "":
			iss.ScopeNames[string(sc.scope)] = append(iss.ScopeNames[string(sc.scope)], sc.scope)
		case scopeOff:
			iss.GrantScopes = append(iss.GrantScopes, sc.scope)
		default:
			iss.ScopeNames[sc.name] = append(iss.ScopeNames[sc.name], sc.scope)
		}
	}
	return iss, errors.Join(errs...)
}

// checkDev refuses settings that make no sense with the dev issuer.
func checkDev(cfg config, issuers []issuerSettings) []error {
	var errs []error
	if len(issuers) != 1 || issuers[0].Issuer != "" || issuers[0].JWKSURL != "" || issuers[0].Provider != "" {
		errs = append(errs, errors.New("--dev runs its own issuer: unset ORDERS_AUTH_ISSUER, ORDERS_AUTH_JWKS_URL, ORDERS_AUTH_PROVIDER and the file's issuers"))
	}
	host, _, err := net.SplitHostPort(cfg.devIssuerAddr)
	if err != nil || !auth.IsLoopback(host) {
		errs = append(errs, fmt.Errorf("ORDERS_DEV_ISSUER_ADDR: %q must be a loopback host:port", cfg.devIssuerAddr))
	}
	return errs
}

// splitList splits a comma-separated list, trimming spaces.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// redactURL hides the password of a database URL, for the log.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
