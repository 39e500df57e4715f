package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/clientauth"
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
	addr        string
	databaseURL string
	pool        repository.Pool
	// databaseStartTimeout is how long the commands wait for an
	// unreachable database at start.
	databaseStartTimeout time.Duration
	logLevel             string
	auth                 auth.Config
	api                  api.Config
	dev                  bool
	configFile           string
	devIssuerAddr        string
	docsClientID         string
	adminAddr            string
	pprofAddr            string
	tls                  tlsSettings
	payments             paymentSettings
	limits               limitSettings
	// redisURL, when set, is the Redis that keeps the DPoP proofs used,
	// shared by every replica.
	redisURL string
	// decryptionKeyFile names the API's decryption keys, which
	// loadDecryptionKeys reads into auth.DecryptionKeys; "" for none.
	decryptionKeyFile string
	// decryptionKeyReadable says that users other than the file's owner
	// and group may read decryptionKeyFile; serve warns about it.
	decryptionKeyReadable bool
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
		MaxConns         string `yaml:"max_conns"`
		ConnMaxLifetime  string `yaml:"conn_max_lifetime"`
		StatementTimeout string `yaml:"statement_timeout"`
		AcquireTimeout   string `yaml:"acquire_timeout"`
	} `yaml:"database_pool"`
	DatabaseStartTimeout string   `yaml:"database_start_timeout"`
	LogLevel             string   `yaml:"log_level"`
	CORSOrigins          []string `yaml:"cors_origins"`
	DevIssuerAddr        string   `yaml:"dev_issuer_addr"`
	DocsClientID         string   `yaml:"docs_client_id"`
	AdminAddr            string   `yaml:"admin_addr"`
	PprofAddr            string   `yaml:"pprof_addr"`
	PublicURL            string   `yaml:"public_url"`
	TLS                  struct {
		CertFile         string `yaml:"cert_file"`
		KeyFile          string `yaml:"key_file"`
		ClientAuth       string `yaml:"client_auth"`
		ClientCAFile     string `yaml:"client_ca_file"`
		ClientCertHeader string `yaml:"client_cert_header"`
	} `yaml:"tls"`
	TrustedProxies []string `yaml:"trusted_proxies"`
	RedisURL       string   `yaml:"redis_url"`
	Payments       struct {
		URL      string `yaml:"url"`
		Audience string `yaml:"audience"`
		Scope    string `yaml:"scope"`
		Timeout  string `yaml:"timeout"`
		Token    string `yaml:"token"`
	} `yaml:"payments"`
	Client struct {
		ID         string `yaml:"id"`
		Secret     string `yaml:"secret"`
		SecretFile string `yaml:"secret_file"`
		KeyFile    string `yaml:"key_file"`
		KeyID      string `yaml:"key_id"`
	} `yaml:"client"`
	DevPaymentsAddr string `yaml:"dev_payments_addr"`
	RequireIfMatch  string `yaml:"require_if_match"`
	IdempotencyTTL  string `yaml:"idempotency_ttl"`
	RateLimit       string `yaml:"rate_limit"`
	RateLimitBurst  string `yaml:"rate_limit_burst"`
	FailedAuthRate  string `yaml:"failed_auth_rate"`
	Auth            struct {
		Leeway                string           `yaml:"leeway"`
		CacheSize             string           `yaml:"cache_size"`
		CacheTTL              string           `yaml:"cache_ttl"`
		DPoP                  string           `yaml:"dpop"`
		DPoPAlgorithms        []string         `yaml:"dpop_algorithms"`
		DPoPMaxAge            string           `yaml:"dpop_max_age"`
		DPoPNonce             string           `yaml:"dpop_nonce"`
		DPoPNonceSecret       string           `yaml:"dpop_nonce_secret"`
		DecryptionKeyFile     string           `yaml:"decryption_key_file"`
		IntrospectionCacheTTL string           `yaml:"introspection_cache_ttl"`
		IntrospectionTimeout  string           `yaml:"introspection_timeout"`
		Issuers               []issuerSettings `yaml:"issuers"`
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
	// The introspection settings (RFC 7662); see introspection.
	IntrospectionClientID          string `yaml:"introspection_client_id"`
	IntrospectionClientSecret      string `yaml:"introspection_client_secret"`
	IntrospectionClientSecretFile  string `yaml:"introspection_client_secret_file"`
	IntrospectionClientKeyFile     string `yaml:"introspection_client_key_file"`
	IntrospectionClientKeyID       string `yaml:"introspection_client_key_id"`
	IntrospectionAssertionAudience string `yaml:"introspection_client_assertion_audience"`
	IntrospectionURL               string `yaml:"introspection_url"`
	IntrospectJWTs                 bool   `yaml:"introspect_jwts"`
	IntrospectJWTsOnly             bool   `yaml:"introspect_jwts_only"`
}

// devHints complete "ORDERS_AUTH_ISSUER is required" for each command that
// reads serve's configuration.
var devHints = map[string]string{
	"serve":         " (or run serve --dev to try the API with a local issuer)",
	"token inspect": ": token inspect checks a token as serve would, with serve's settings (or add --dev for a token of a running serve --dev)",
}

// loadConfig reads serve's configuration: the file that ORDERS_CONFIG (or
// --config) names, then the environment (getenv), then args, each
// overriding the one before. It fetches nothing and opens nothing but that
// file, the TLS and key files it names and the introspection client's
// secret or key file, and reports every problem it finds at once, one per line. Asked for
// help, it writes it to help and returns flag.ErrHelp.
func loadConfig(args []string, getenv func(string) string, help io.Writer) (config, error) {
	cfg, rest, err := loadConfigFor("serve", args, getenv, help)
	if err == nil && len(rest) > 0 {
		return config{}, fmt.Errorf("serve takes no arguments, got %q", rest)
	}
	return cfg, err
}

// loadConfigFor is loadConfig for the command name, which may take
// arguments after its flags; it returns them.
func loadConfigFor(name string, args []string, getenv func(string) string, help io.Writer) (config, []string, error) {
	fs, flags := newFlagSet(name, settings())
	dev := fs.Bool("dev", false, "run a local development issuer on loopback and accept its tokens")
	if err := parseFlags(fs, args, commandUsage[name], help); err != nil {
		return config{}, nil, err
	}
	src := sources{flags: flags, getenv: getenv}
	errs := src.readFile()
	var v values
	errs = append(errs, src.apply(settings(), &v)...)
	v.cfg.dev = *dev
	issuers, err := src.issuers(v.issuer)
	if err != nil {
		errs = append(errs, err)
	}
	if v.cfg.dev {
		errs = append(errs, applyDev(&v.cfg, issuers)...)
	}
	if issuers != nil {
		errs = append(errs, v.cfg.trust(issuers, src, devHints[name])...)
	}
	if err := v.cfg.api.Validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, v.cfg.tls.load()...)
	if err := v.cfg.loadDecryptionKeys(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, v.cfg.payments.load(v.cfg.dev)...)
	return v.cfg, fs.Args(), errors.Join(errs...)
}

// sources are where settings come from, in order of precedence: flags, the
// environment, the configuration file, the declared default.
type sources struct {
	flags  map[string]*string
	getenv func(string) string
	// file is nil when there is none or it could not be decoded at all;
	// path is its name.
	file *fileConfig
	path string
}

// lookup returns the value of s, and the name of the setting and where the
// value came from, for messages.
func (src sources) lookup(s setting) (value, from string) {
	if p := src.flags[s.flag]; p != nil && strings.TrimSpace(*p) != "" {
		return strings.TrimSpace(*p), s.env + " (--" + s.flag + ")"
	}
	if v := strings.TrimSpace(src.getenv(s.env)); v != "" {
		return v, s.env
	}
	if s.file != nil && src.file != nil {
		if v := strings.TrimSpace(s.file(src.file)); v != "" {
			return v, s.env + " (" + s.key + " in " + src.path + ")"
		}
	}
	return s.def, s.env + " (default)"
}

// given reports whether s was set by a flag or the environment.
func (src sources) given(s setting) bool {
	p := src.flags[s.flag]
	return (p != nil && strings.TrimSpace(*p) != "") || strings.TrimSpace(src.getenv(s.env)) != ""
}

// apply gives each setting its value and returns every value refused,
// each error naming its setting and its value.
func (src sources) apply(decls []setting, v *values) []error {
	var errs []error
	for _, s := range decls {
		value, from := src.lookup(s)
		if err := s.apply(v, value); err != nil {
			if s.secret {
				value = "(hidden)"
			}
			errs = append(errs, fmt.Errorf("%s: %q %w", from, value, err))
		}
	}
	return errs
}

// readFile reads the configuration file that ORDERS_CONFIG names, if any.
// A file with an unknown key is an error, and its known keys still count,
// so that the other errors are found in the same pass.
func (src *sources) readFile() []error {
	configSetting := only("config")[0]
	path, _ := src.lookup(configSetting)
	if path == "" {
		return nil
	}
	src.path = path
	b, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("ORDERS_CONFIG: %w", err)}
	}
	var strict, lenient fileConfig
	err = yaml.UnmarshalWithOptions(b, &strict, yaml.DisallowUnknownField())
	if err == nil {
		src.file = &strict
		return nil
	}
	if yaml.Unmarshal(b, &lenient) == nil {
		src.file = &lenient
	}
	return []error{fmt.Errorf("ORDERS_CONFIG %s: %s", path, yaml.FormatError(err, false, false))}
}

// issuers returns the issuers to trust: the file's list, or else the one
// the ORDERS_AUTH_* settings describe; nil when the file could not be read
// and the environment names no issuer, as the file may have listed them.
func (src sources) issuers(env issuerSettings) ([]issuerSettings, error) {
	var fromEnv []string
	for _, s := range issuerSettingsDecl() {
		if src.given(s) {
			fromEnv = append(fromEnv, s.env)
		}
	}
	switch {
	case src.file != nil && len(src.file.Auth.Issuers) > 0 && len(fromEnv) > 0:
		return nil, fmt.Errorf("%s: the configuration file lists the issuers; set these per issuer there", strings.Join(fromEnv, ", "))
	case src.file != nil && len(src.file.Auth.Issuers) > 0:
		return src.file.Auth.Issuers, nil
	case src.file == nil && src.path != "" && len(fromEnv) == 0:
		return nil, nil
	}
	return []issuerSettings{env}, nil
}

// applyDev sets what --dev implies, and refuses what contradicts it.
func applyDev(cfg *config, issuers []issuerSettings) []error {
	errs := checkDev(*cfg, issuers)
	if len(issuers) == 0 {
		return errs
	}
	// The dev issuer's URL is known once it listens; serve sets it then.
	issuers[0].Issuer = "http://" + cfg.devIssuerAddr
	if cfg.docsClientID == "" {
		cfg.docsClientID = devDocsClient
	}
	if len(issuers[0].Audience) == 0 {
		issuers[0].Audience = []string{devAudience}
	}
	return errs
}

// trust turns the issuers' settings into the verifier's, and checks the
// whole. Errors of the file's issuers name the issuer and the file's keys;
// hint completes the error of the environment's missing issuer.
func (cfg *config) trust(issuers []issuerSettings, src sources, hint string) []error {
	var errs []error
	fromFile := src.file != nil && len(src.file.Auth.Issuers) > 0
	name := func(env string) string { return env }
	if fromFile {
		name, hint = fileKey, ""
	}
	cfg.scopeChecksOff = map[string][]auth.Scope{}
	for i, s := range issuers {
		iss, issErrs := s.toIssuer(name, hint)
		for _, err := range issErrs {
			if fromFile {
				err = fmt.Errorf("issuer %d in %s: %w", i+1, src.path, err)
			}
			errs = append(errs, err)
		}
		if len(issErrs) > 0 {
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
	return errs
}

// fileKey names an issuer setting by its key in the configuration file.
func fileKey(env string) string {
	for _, s := range issuerSettingsDecl() {
		if s.env == env {
			return s.key
		}
	}
	return env
}

// toIssuer applies the provider preset, then the explicit settings, and
// maps the issuer's scope names to the API's scopes. Its errors name each
// setting by name(its environment variable); hint completes the error of
// a missing issuer.
func (s issuerSettings) toIssuer(name func(string) string, hint string) (auth.Issuer, []error) {
	var errs []error
	if s.Issuer == "" {
		errs = append(errs, errors.New(name("ORDERS_AUTH_ISSUER")+" is required"+hint))
	}
	if len(s.Audience) == 0 {
		errs = append(errs, errors.New(name("ORDERS_AUTH_AUDIENCE")+" is required"))
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
			errs = append(errs, fmt.Errorf("%s=%s: %w", name("ORDERS_AUTH_PROVIDER"), s.Provider, err))
		}
	}
	if s.RequireATJWT {
		if len(s.TokenTypes) > 0 {
			errs = append(errs, fmt.Errorf("%s and %s exclude each other", name("ORDERS_AUTH_REQUIRE_AT_JWT"), name("ORDERS_AUTH_TOKEN_TYPES")))
		}
		iss.Types = []string{"at+jwt"}
	}
	in, inErrs := s.introspection(name)
	iss.Introspection = in
	errs = append(errs, inErrs...)
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
	return iss, errs
}

// introspection returns the issuer's introspection settings, with the
// secret or key read from its file, and refuses contradictory ones, each
// error naming its settings by name(its environment variable).
func (s issuerSettings) introspection(name func(string) string) (auth.Introspection, []error) {
	in := auth.Introspection{URL: s.IntrospectionURL, ClientID: s.IntrospectionClientID, ClientSecret: s.IntrospectionClientSecret,
		AssertionAudience: s.IntrospectionAssertionAudience, JWTs: s.IntrospectJWTs, JWTsOnly: s.IntrospectJWTsOnly}
	var errs []error
	refuse := func(format string, envs ...string) {
		names := make([]any, len(envs))
		for i, e := range envs {
			names[i] = name(e)
		}
		errs = append(errs, fmt.Errorf(format, names...))
	}
	const (
		id, secretEnv, secretFile = "ORDERS_AUTH_INTROSPECTION_CLIENT_ID", "ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET", "ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET_FILE"
		keyFile, keyID            = "ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE", "ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_ID"
		assertionAud              = "ORDERS_AUTH_INTROSPECTION_CLIENT_ASSERTION_AUDIENCE"
		jwts, jwtsOnly            = "ORDERS_AUTH_INTROSPECT_JWTS", "ORDERS_AUTH_INTROSPECT_JWTS_ONLY"
	)
	given := map[string]bool{
		"ORDERS_AUTH_INTROSPECTION_URL": s.IntrospectionURL != "", secretEnv: s.IntrospectionClientSecret != "",
		secretFile: s.IntrospectionClientSecretFile != "", keyFile: s.IntrospectionClientKeyFile != "",
		keyID: s.IntrospectionClientKeyID != "", assertionAud: s.IntrospectionAssertionAudience != "", jwts: s.IntrospectJWTs, jwtsOnly: s.IntrospectJWTsOnly,
	}
	if s.IntrospectionClientID == "" {
		for _, env := range []string{"ORDERS_AUTH_INTROSPECTION_URL", secretEnv, secretFile, keyFile, keyID, assertionAud, jwts, jwtsOnly} {
			if given[env] {
				refuse("%s needs %s: introspection is on only with the API's client credentials", env, id)
			}
		}
		return auth.Introspection{}, errs
	}
	switch {
	case given[secretEnv] && given[secretFile]:
		refuse("%s and %s exclude each other", secretEnv, secretFile)
	case (given[secretEnv] || given[secretFile]) && given[keyFile]:
		refuse("%s and a client secret exclude each other: the API authenticates with one", keyFile)
	case !given[secretEnv] && !given[secretFile] && !given[keyFile]:
		refuse("%s needs %s, %s or %s", id, secretEnv, secretFile, keyFile)
	case given[keyID] && !given[keyFile]:
		refuse("%s needs %s", keyID, keyFile)
	case given[assertionAud] && !given[keyFile]:
		refuse("%s needs %s", assertionAud, keyFile)
	case given[jwtsOnly] && !given[jwts]:
		refuse("%s needs %s", jwtsOnly, jwts)
	}
	if len(errs) > 0 {
		// The files are not read: they would only add errors about a
		// setting already refused.
		return auth.Introspection{}, errs
	}
	if given[secretFile] {
		b, err := os.ReadFile(s.IntrospectionClientSecretFile)
		in.ClientSecret = strings.TrimRight(string(b), "\r\n")
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", name(secretFile), err))
		case in.ClientSecret == "":
			refuse("%s: the file is empty", secretFile)
		}
	}
	if given[keyFile] {
		b, err := os.ReadFile(s.IntrospectionClientKeyFile)
		if err == nil {
			in.ClientKey, err = clientauth.ParseKey(b, s.IntrospectionClientKeyID)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name(keyFile), err))
		}
	}
	return in, errs
}

// checkDev refuses settings that make no sense with the dev issuer.
func checkDev(cfg config, issuers []issuerSettings) []error {
	var errs []error
	if len(issuers) > 1 || len(issuers) == 1 && (issuers[0].Issuer != "" || issuers[0].JWKSURL != "" || issuers[0].Provider != "") {
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

// redactEndpoint hides the query of an endpoint's URL, which may carry a
// credential, for the log; auth.CheckURL has refused user info already.
func redactEndpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// redactURL hides the password of a database URL, for the log.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
