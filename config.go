package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth"
)

// devAudience is the audience of the dev issuer's tokens unless
// ORDERS_AUTH_AUDIENCE names another.
const devAudience = "orders-api"

// config is the effective configuration of serve.
type config struct {
	addr          string
	databaseURL   string
	logLevel      string
	auth          auth.Config
	api           api.Config
	dev           bool
	devIssuerAddr string
}

// setting is one configuration value: an environment variable that is also
// a flag of serve, the flag winning.
type setting struct {
	env, flag, def, usage string
}

// settings lists every setting of serve, in the order of the README's table.
func settings() []setting {
	return []setting{
		{"ORDERS_ADDR", "addr", "localhost:8000", "address the API listens on"},
		{"ORDERS_DATABASE_URL", "database-url", "sqlite:orders.db", "database, as sqlite:PATH"},
		{"ORDERS_AUTH_ISSUER", "auth-issuer", "", "issuer whose tokens are accepted (exact iss); required unless --dev"},
		{"ORDERS_AUTH_AUDIENCE", "auth-audience", "", "comma-separated audiences, one of which aud must hold; required unless --dev"},
		{"ORDERS_AUTH_JWKS_URL", "auth-jwks-url", "", "JWKS URL; default: jwks_uri from the issuer's OpenID discovery"},
		{"ORDERS_AUTH_ALGORITHMS", "auth-algorithms", "", "comma-separated accepted algorithms; default: " + strings.Join(auth.Algorithms(), ",")},
		{"ORDERS_AUTH_REQUIRE_AT_JWT", "auth-require-at-jwt", "false", "accept only tokens with typ at+jwt (RFC 9068): true or false"},
		{"ORDERS_AUTH_LEEWAY", "auth-leeway", auth.DefaultLeeway.String(), "clock skew allowed on exp, nbf and iat, at most " + auth.MaxLeeway.String()},
		{"ORDERS_CORS_ORIGINS", "cors-origins", "", "comma-separated origins browsers may call from; none by default"},
		{"ORDERS_LOG_LEVEL", "log-level", "info", "debug, info, warn or error"},
		{"ORDERS_DEV_ISSUER_ADDR", "dev-issuer-addr", "127.0.0.1:8001", "loopback address of the --dev issuer"},
	}
}

// loadConfig reads serve's configuration from the environment (getenv) and
// then from args, which override it. It fetches nothing and opens nothing.
func loadConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(usage)
	values := make(map[string]*string)
	for _, s := range settings() {
		def := getenv(s.env)
		if def == "" {
			def = s.def
		}
		values[s.env] = fs.String(s.flag, def, s.usage+" ($"+s.env+")")
	}
	dev := fs.Bool("dev", false, "run a local development issuer on loopback and accept its tokens")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	get := func(env string) string { return strings.TrimSpace(*values[env]) }

	cfg := config{
		addr:          get("ORDERS_ADDR"),
		databaseURL:   get("ORDERS_DATABASE_URL"),
		logLevel:      get("ORDERS_LOG_LEVEL"),
		dev:           *dev,
		devIssuerAddr: get("ORDERS_DEV_ISSUER_ADDR"),
		auth: auth.Config{
			Issuer:     get("ORDERS_AUTH_ISSUER"),
			JWKSURL:    get("ORDERS_AUTH_JWKS_URL"),
			Audiences:  splitList(get("ORDERS_AUTH_AUDIENCE")),
			Algorithms: splitList(get("ORDERS_AUTH_ALGORITHMS")),
		},
		api: api.Config{CORSOrigins: splitList(get("ORDERS_CORS_ORIGINS"))},
	}
	var errs []error
	leeway, err := time.ParseDuration(get("ORDERS_AUTH_LEEWAY"))
	if err != nil {
		errs = append(errs, fmt.Errorf("ORDERS_AUTH_LEEWAY: %q is not a duration like 30s", get("ORDERS_AUTH_LEEWAY")))
	}
	cfg.auth.Leeway = leeway
	switch v := get("ORDERS_AUTH_REQUIRE_AT_JWT"); v {
	case "true", "false":
		cfg.auth.RequireATJWT = v == "true"
	default:
		errs = append(errs, fmt.Errorf("ORDERS_AUTH_REQUIRE_AT_JWT: %q is not true or false", v))
	}
	if _, _, err := net.SplitHostPort(cfg.addr); err != nil {
		errs = append(errs, fmt.Errorf("ORDERS_ADDR: %q is not host:port", cfg.addr))
	}
	switch cfg.logLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("ORDERS_LOG_LEVEL: %q is not debug, info, warn or error", cfg.logLevel))
	}
	if cfg.dev {
		errs = append(errs, checkDev(cfg)...)
		// The dev issuer's URL is known once it listens; serve sets it then.
		cfg.auth.Issuer = "http://" + cfg.devIssuerAddr
		if len(cfg.auth.Audiences) == 0 {
			cfg.auth.Audiences = []string{devAudience}
		}
	}
	if cfg.auth.Issuer == "" {
		errs = append(errs, errors.New("ORDERS_AUTH_ISSUER is required (or run serve --dev to try the API with a local issuer)"))
	}
	if len(cfg.auth.Audiences) == 0 {
		errs = append(errs, errors.New("ORDERS_AUTH_AUDIENCE is required"))
	}
	if cfg.auth.Issuer != "" && len(cfg.auth.Audiences) > 0 {
		if err := cfg.auth.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := cfg.api.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// checkDev refuses settings that make no sense with the dev issuer.
func checkDev(cfg config) []error {
	var errs []error
	if cfg.auth.Issuer != "" || cfg.auth.JWKSURL != "" {
		errs = append(errs, errors.New("--dev runs its own issuer: unset ORDERS_AUTH_ISSUER and ORDERS_AUTH_JWKS_URL"))
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
