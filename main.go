// Command orders serves the CoffeeMesh orders API: every route behind OAuth
// 2.0 bearer tokens verified against the issuer's JWKS, every order visible
// to its owner only.
//
//	orders serve [--dev] [flags]   serve the API (migrates the database first)
//	orders migrate [up|status]     apply or list database migrations
//	orders token inspect|mint      inspect a token, or mint one in dev mode
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gorm.io/gorm"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/internal/devissuer"
	"github.com/coffeemesh/orders/internal/devpayments"
	"github.com/coffeemesh/orders/migrations"
	"github.com/coffeemesh/orders/payments"
	"github.com/coffeemesh/orders/repository"
)

// Timeouts of the HTTP server. A client that sends its headers slowly is cut
// off after readHeaderTimeout.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	shutdownTimeout   = 15 * time.Second
	// maxHeaderBytes leaves room for a token of auth.MaxTokenLength; larger
	// headers are answered 431 by net/http.
	maxHeaderBytes = 32 << 10
)

// openAPI is the contract, served at /openapi.yaml and /openapi.json.
//
//go:embed openapi.yaml
var openAPI []byte

const usage = `usage:
  orders serve [--dev] [flags]   serve the API (run "orders serve -h" for flags)
  orders migrate [up|status]     apply or list database migrations
  orders token inspect [TOKEN|-] decode a token and say whether the API accepts it
  orders token mint --sub S      get a token from the running --dev issuer
  orders help                    this text; every command also takes -h
`

func main() {
	// gin's mode is process-wide; main owns the process. Release mode keeps
	// gin from printing its own lines beside our structured log.
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errRefused):
		os.Exit(1) // token inspect has said why
	case err != nil:
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, "orders:", line)
		}
		os.Exit(1)
	}
}

// run is the whole program; main only adds the process around it. environ
// is the environment, as os.Environ gives it. Help, asked for in any way a
// command accepts (help, -h, --help), goes to stdout and is no error.
func run(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, environ, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// dispatch runs the command args name. Commands return flag.ErrHelp once
// they have printed the help asked for.
func dispatch(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	getenv, unknown := lookupIn(environ), unknownEnv(environ)
	switch {
	case args[0] == "serve":
		return serve(ctx, args[1:], getenv, unknown, stdout, stderr)
	case args[0] == "migrate":
		warnUnknownEnv(stderr, unknown)
		return migrate(ctx, args[1:], getenv, stdout, stderr)
	case args[0] == "token":
		warnUnknownEnv(stderr, unknown)
		return tokenCommand(ctx, args[1:], getenv, stdin, stdout, stderr)
	case isHelp(args[0]):
		fmt.Fprint(stdout, usage)
		return flag.ErrHelp
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// serve serves the API until ctx ends. The ORDERS_ variables in unknown are
// warned about in the log.
func serve(ctx context.Context, args []string, getenv func(string) string, unknown []unknownVariable, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stdout)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			warnUnknownEnv(stderr, unknown)
		}
		return err
	}
	log := newLogger(stdout, cfg.logLevel)
	for _, u := range unknown {
		log.WarnContext(ctx, "unknown environment variable: no setting reads it", "name", u.name, "did_you_mean", u.closest)
	}
	applyGCSettings(ctx, getenv, log)

	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeDatabase(db, log)
	warnIfRowSecurityBypassed(ctx, db, log)

	if cfg.dev {
		issuerURL, err := startDevIssuer(ctx, cfg, log)
		if err != nil {
			return err
		}
		cfg.auth.Issuers[0].URL = issuerURL
		if cfg.payments.devAddr != "" {
			if err := startDevPayments(ctx, cfg, issuerURL, log); err != nil {
				return err
			}
		}
	}
	replay, replayName, closeReplay, err := replayStore(cfg, db)
	if err != nil {
		return err
	}
	defer closeReplay()
	cfg.auth.DPoP.Replay = replay
	logConfig(ctx, log, cfg)
	log.InfoContext(ctx, "DPoP replay store", "store", replayName)
	verifier, err := auth.NewVerifier(cfg.auth, log)
	if err != nil {
		return err
	}
	go verifier.Run(ctx)
	handler, err := newHandler(ctx, cfg, db, verifier, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	srv := newServer(handler, log)
	srv.TLSConfig = cfg.tls.config
	log.InfoContext(ctx, "listening", "addr", ln.Addr().String(), "tls", srv.TLSConfig != nil)
	return serveUntilDone(ctx, "api", srv, ln, log)
}

// newHandler builds the API's handler, with its metrics, readiness check
// and documentation page, and starts the admin and pprof listeners when
// configured; they stop with ctx.
func newHandler(ctx context.Context, cfg config, db *gorm.DB, verifier *auth.Verifier, log *slog.Logger) (http.Handler, error) {
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	reg, err := newRegistry(sqlDB, verifier)
	if err != nil {
		return nil, err
	}
	cfg.api.Metrics = reg
	cfg.api.Ready = readiness(sqlDB, verifier)
	cfg.api.Docs = &api.Docs{OpenAPI: openAPI, ClientID: cfg.docsClientID, Scopes: docsScopes(cfg.auth.Issuers[0]), OAuth: docsEndpoints(verifier)}
	if p := cfg.payments.config; p != nil {
		p.TokenEndpoint = tokenEndpoint(verifier)
		payer, err := payments.New(*p)
		if err != nil {
			return nil, err
		}
		cfg.api.Payer = payer
	}
	if err := setRateLimits(ctx, &cfg, log); err != nil {
		return nil, err
	}
	if cfg.pprofAddr != "" {
		if err := startPprof(ctx, cfg.pprofAddr, log); err != nil {
			return nil, err
		}
	}
	if cfg.adminAddr != "" {
		if err := startAdmin(ctx, cfg.adminAddr, reg, log); err != nil {
			return nil, err
		}
	} else {
		cfg.api.MetricsHandler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	return api.New(cfg.api, verifier, repository.NewOrders(db), log)
}

// docsEndpoints returns the authorization and token endpoints the
// documentation page sends a reader to: those of the first issuer's
// metadata, once checked.
func docsEndpoints(verifier *auth.Verifier) func(context.Context) (string, string, error) {
	return func(ctx context.Context) (string, string, error) {
		m, err := verifier.Metadata(ctx)
		if err == nil {
			err = errors.Join(auth.CheckURL(m.AuthorizationEndpoint), auth.CheckURL(m.TokenEndpoint))
		}
		return m.AuthorizationEndpoint, m.TokenEndpoint, err
	}
}

// tokenEndpoint returns the token endpoint of the trusted issuer iss's
// metadata, once checked, where the API exchanges the tokens iss signed
// for tokens for the payments service: a caller's token goes to its own
// issuer only.
func tokenEndpoint(verifier *auth.Verifier) func(ctx context.Context, iss string) (string, error) {
	return func(ctx context.Context, iss string) (string, error) {
		m, err := verifier.IssuerMetadata(ctx, iss)
		if err == nil {
			err = auth.CheckURL(m.TokenEndpoint)
		}
		return m.TokenEndpoint, err
	}
}

func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// The garbage collector's settings unless GOGC or GOMEMLIMIT say otherwise.
// Collecting half as often (GOGC=200) buys list throughput for a few MB of
// resident set (docs/performance.md has the measurements); the soft limit on
// the Go runtime's memory bounds what that costs should the live heap grow:
// near it the collector runs sooner.
const (
	defaultGCPercent   = 200
	defaultMemoryLimit = 16 << 20
)

// gcSettings are the collector settings serve applies; zero leaves the
// runtime's own, as the environment set them.
type gcSettings struct {
	percent     int
	memoryLimit int64
}

// applyGCSettings applies the collector's settings and logs them.
func applyGCSettings(ctx context.Context, getenv func(string) string, log *slog.Logger) {
	gc, gogc := gcSettingsFor(getenv), getenv("GOGC")
	if gc.percent != 0 {
		debug.SetGCPercent(gc.percent)
		gogc = strconv.Itoa(gc.percent)
	}
	if gc.memoryLimit != 0 {
		debug.SetMemoryLimit(gc.memoryLimit)
	}
	// SetMemoryLimit with a negative limit only reads it.
	log.InfoContext(ctx, "garbage collector", "gogc", gogc, "memory_limit_bytes", debug.SetMemoryLimit(-1))
}

func gcSettingsFor(getenv func(string) string) gcSettings {
	var s gcSettings
	if getenv("GOGC") == "" {
		s.percent = defaultGCPercent
	}
	if getenv("GOMEMLIMIT") == "" {
		s.memoryLimit = defaultMemoryLimit
	}
	return s
}

// serveUntilDone serves on ln until ctx ends, then lets in-flight requests
// finish within shutdownTimeout. It speaks TLS when srv has a TLSConfig,
// whose Certificates it presents.
func serveUntilDone(ctx context.Context, name string, srv *http.Server, ln net.Listener, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "server", name)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// startDevIssuer starts the local issuer of --dev on loopback and returns its
// URL. It stops with ctx.
func startDevIssuer(ctx context.Context, cfg config, log *slog.Logger) (string, error) {
	ln, err := net.Listen("tcp", cfg.devIssuerAddr)
	if err != nil {
		return "", fmt.Errorf("dev issuer: listen on %s: %w", cfg.devIssuerAddr, err)
	}
	issuerURL := "http://" + ln.Addr().String()
	audience := cfg.auth.Issuers[0].Audiences[0]
	iss, err := devissuer.New(issuerURL, audience, []string{string(api.ScopeRead), string(api.ScopeWrite)})
	if err != nil {
		return "", errors.Join(err, ln.Close())
	}
	if p := cfg.payments.config; p != nil {
		// Only the API's own client, with its secret, may exchange the
		// issuer's tokens for the orders API, and only for the payments
		// service's audience and scopes.
		iss.SetExchangePolicy(devissuer.ExchangePolicy{Client: p.Client.ID, Secret: p.Client.Secret, Audience: p.Audience, Scopes: strings.Fields(p.Scope)})
	}
	srv := newServer(iss.Handler(), log)
	go func() {
		if err := serveUntilDone(ctx, "dev issuer", srv, ln, log); err != nil {
			log.Error("dev issuer stopped", "error", err)
		}
	}()
	log.WarnContext(ctx, "DEV MODE: accepting tokens from a local development issuer; never use this in production",
		"issuer", issuerURL, "token_endpoint", issuerURL+devissuer.TokenPath, "audience", audience)
	return issuerURL, nil
}

// startDevPayments starts the payments stand-in of --dev on loopback: a
// resource server that accepts only the dev issuer's tokens for its
// audience and scope that name the API's client as their actor. It stops
// with ctx.
func startDevPayments(ctx context.Context, cfg config, issuerURL string, log *slog.Logger) error {
	p := cfg.payments
	ln, err := net.Listen("tcp", p.devAddr)
	if err != nil {
		return fmt.Errorf("dev payments: listen on %s: %w", p.devAddr, err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.Issuer{{URL: issuerURL, Audiences: []string{p.audience}}}, Leeway: auth.DefaultLeeway}, log)
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	go v.Run(ctx)
	srv := newServer(devpayments.New(v, auth.Scope(p.scope), p.clientID).Handler(), log)
	go func() {
		if err := serveUntilDone(ctx, "dev payments", srv, ln, log); err != nil {
			log.Error("dev payments stopped", "error", err)
		}
	}()
	log.WarnContext(ctx, "DEV MODE: paying through a local payments stand-in",
		"payments_url", "http://"+ln.Addr().String(), "audience", p.audience, "scope", p.scope, "actor", p.clientID)
	return nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // loadConfig has checked it
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// logConfig logs the effective configuration, and warns about each scope
// check turned off and a decryption key file others may read; it holds no
// secret: the database URL's password and the introspection URL's query,
// if any, are redacted.
func logConfig(ctx context.Context, log *slog.Logger, cfg config) {
	log.InfoContext(ctx, "config",
		"addr", cfg.addr,
		"database_url", redactURL(cfg.databaseURL),
		"database_max_conns", cfg.pool.MaxOpenConns,
		"database_conn_max_lifetime", cfg.pool.ConnMaxLifetime.String(),
		"database_statement_timeout", cfg.pool.StatementTimeout.String(),
		"database_acquire_timeout", cfg.pool.AcquireTimeout.String(),
		"database_start_timeout", cfg.databaseStartTimeout.String(),
		"auth_leeway", cfg.auth.Leeway.String(),
		"auth_cache_size", cfg.auth.CacheSize,
		"auth_cache_ttl", cfg.auth.CacheTTL.String(),
		"auth_dpop", cfg.auth.DPoP.Mode,
		"auth_dpop_algorithms", cfg.auth.DPoP.Algorithms,
		"auth_dpop_max_age", cfg.auth.DPoP.MaxAge.String(),
		"auth_dpop_nonce", cfg.auth.DPoP.Nonce,
		"auth_dpop_nonce_secret_set", cfg.auth.DPoP.NonceSecret != nil,
		"auth_introspection_cache_ttl", cfg.auth.IntrospectionCacheTTL.String(),
		"auth_introspection_timeout", cfg.auth.IntrospectionTimeout.String(),
		"public_url", cfg.auth.DPoP.PublicURL,
		"redis_url", redactURL(cfg.redisURL),
		"cors_origins", cfg.api.CORSOrigins,
		"require_if_match", cfg.api.RequireIfMatch,
		"idempotency_ttl", cfg.api.IdempotencyTTL.String(),
		"rate_limit", cfg.limits.perCaller,
		"rate_limit_burst", cfg.limits.burst(),
		"failed_auth_rate", cfg.limits.failedAuthPerMinute,
		"docs_client_id", cfg.docsClientID,
		"admin_addr", cfg.adminAddr,
		"auth_decryption_key_file", cfg.decryptionKeyFile,
		"auth_decryption_kids", decryptionKIDs(cfg.auth.DecryptionKeys),
		"tls_cert_file", cfg.tls.certFile,
		"tls_client_auth", cfg.tls.clientAuth,
		"tls_client_ca_file", cfg.tls.clientCAFile,
		"tls_client_cert_header", cfg.auth.ClientCerts.Header,
		"trusted_proxies", cfg.auth.ClientCerts.TrustedProxies,
		"payments_url", cfg.payments.url,
		"payments_audience", cfg.payments.audience,
		"payments_scope", cfg.payments.scope,
		"payments_timeout", cfg.payments.timeout.String(),
		"payments_token", cfg.payments.mode,
		"client_id", cfg.payments.clientID,
		"client_key_file", cfg.payments.clientKeyFile,
		"dev", cfg.dev,
		"config_file", cfg.configFile,
	)
	for _, iss := range cfg.auth.Issuers {
		log.InfoContext(ctx, "trusted issuer",
			"issuer", iss.URL,
			"audience", iss.Audiences,
			"audience_claim", iss.AudienceClaim,
			"jwks_url", iss.JWKSURL,
			"algorithms", iss.Algorithms,
			"token_types", iss.Types,
			"scope_claims", iss.ScopeClaims,
			"scope_names", iss.ScopeNames,
			"introspection_client_id", iss.Introspection.ClientID,
			"introspection_url", redactEndpoint(iss.Introspection.URL),
			"introspection_private_key_jwt", iss.Introspection.ClientKey != nil,
			"introspect_jwts", iss.Introspection.JWTs,
			"introspect_jwts_only", iss.Introspection.JWTsOnly,
		)
	}
	if cfg.decryptionKeyReadable {
		log.WarnContext(ctx, "the decryption key file is readable by every user of this machine; make it readable by the API's user only (chmod 600 or 640)", "file", cfg.decryptionKeyFile)
	}
	for iss, scopes := range cfg.scopeChecksOff {
		log.WarnContext(ctx, "scope check off: every valid token of this issuer holds these scopes", "issuer", iss, "scopes", scopes)
	}
}

// docsScopes are the first issuer's names for the API's scopes, which the
// documentation page asks for; nil when they are the API's own.
func docsScopes(iss auth.Issuer) map[string]string {
	out := map[string]string{}
	custom := false
	for name, granted := range iss.ScopeNames {
		var grants []string
		for _, s := range granted {
			grants = append(grants, string(s))
		}
		out[name] = "grants " + strings.Join(grants, " and ")
		custom = custom || len(granted) != 1 || string(granted[0]) != name
	}
	if !custom {
		return nil
	}
	return out
}

// warnIfRowSecurityBypassed warns when the API's PostgreSQL role escapes
// row-level security (a superuser or BYPASSRLS role), which would leave the
// owner filter of each query as the only guard.
func warnIfRowSecurityBypassed(ctx context.Context, db *gorm.DB, log *slog.Logger) {
	if db.Dialector.Name() != "postgres" {
		return
	}
	var bypass bool
	err := db.WithContext(ctx).Raw("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user").Row().Scan(&bypass)
	if err == nil && bypass {
		log.WarnContext(ctx, "the database role bypasses row-level security (superuser or BYPASSRLS); connect as an ordinary role so the policy guards every query")
	}
}

func closeDatabase(db *gorm.DB, log *slog.Logger) {
	sqlDB, err := db.DB()
	if err == nil {
		err = sqlDB.Close()
	}
	if err != nil {
		log.Error("close database", "error", err)
	}
}

// migrate applies the migrations (up, the default) or lists them (status).
// While the database does not answer, it retries as serve does, saying so
// on stderr.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	action, cfg, err := migrateArgs(args, getenv, stdout)
	if err != nil {
		return err
	}
	retrying := func(attempt int, delay time.Duration, err error) {
		fmt.Fprintf(stderr, "orders: database %s not reachable (attempt %d): %v; retrying in %s\n",
			databaseLabel(cfg.databaseURL), attempt, err, delay.Round(time.Millisecond))
	}
	sqlDB, dialect, err := openForMigrations(ctx, cfg.databaseURL, cfg.databaseStartTimeout, retrying)
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	if action == "up" {
		if err := migrations.Up(ctx, sqlDB, dialect); err != nil {
			return err
		}
	}
	versions, err := migrations.Status(ctx, sqlDB, dialect)
	if err != nil {
		return err
	}
	for _, v := range versions {
		state := "pending"
		if v.Applied {
			state = "applied"
		}
		fmt.Fprintf(stdout, "%04d  %-8s %s\n", v.Version, state, v.Name)
	}
	return nil
}

// migrateArgs reads migrate's action, its database and how long to wait
// for it, which the declared settings give with serve's precedence: flag,
// environment, file, default. Flags may come before the action or after it.
func migrateArgs(args []string, getenv func(string) string, help io.Writer) (action string, cfg config, err error) {
	decls := only("config", "database-url", "database-start-timeout")
	fs, flags := newFlagSet("migrate", decls)
	if err := parseFlags(fs, args, commandUsage["migrate"], help); err != nil {
		return "", config{}, err
	}
	action = "up"
	if fs.NArg() > 0 {
		action = fs.Arg(0)
		if err := parseFlags(fs, fs.Args()[1:], commandUsage["migrate"], help); err != nil {
			return "", config{}, err
		}
		if fs.NArg() > 0 {
			return "", config{}, fmt.Errorf("migrate takes one action, up or status; got %q", append([]string{action}, fs.Args()...))
		}
	}
	if action != "up" && action != "status" {
		return "", config{}, fmt.Errorf("unknown migrate action %q: use up or status", action)
	}
	src := sources{flags: flags, getenv: getenv}
	errs := src.readFile()
	var v values
	errs = append(errs, src.apply(decls, &v)...)
	return action, v.cfg, errors.Join(errs...)
}
