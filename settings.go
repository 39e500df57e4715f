package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coffeemesh/orders/auth"
)

// setting declares one configuration value, once: its environment
// variable, its flag, its key in the configuration file, its default, its
// documentation, and the function that checks a value and stores it.
// A flag wins over the environment, which wins over the file, which wins
// over the default; the empty string counts as not given.
type setting struct {
	env, flag, def, doc string
	// secret keeps the value out of error messages.
	secret bool
	// key names the value in the configuration file, for messages; within
	// an entry of auth.issuers for the issuer settings; "" when the file has
	// no such key.
	key string
	// file reads the value from the configuration file; nil when key is "".
	file func(*fileConfig) string
	// apply checks a value and stores it in v. A value it refuses is not
	// stored, and its error says what is allowed.
	apply func(v *values, s string) error
}

// values is what the settings fill.
type values struct {
	cfg config
	// issuer is the issuer the ORDERS_AUTH_* settings describe.
	issuer issuerSettings
}

// settings declares every setting, in the order of the documentation.
func settings() []setting {
	return slices.Concat(serverSettings(), operationSettings(), tlsSettingsDecl(), issuerSettingsDecl(), paymentSettingsDecl(), controlSettings())
}

// tlsSettingsDecl are the settings of TLS and client certificates, which
// loadConfig then checks together (tlsSettings.load).
func tlsSettingsDecl() []setting {
	return []setting{
		{env: "ORDERS_TLS_CERT_FILE", flag: "tls-cert-file", doc: "PEM certificate (chain) serve presents; with ORDERS_TLS_KEY_FILE, serve speaks HTTPS (TLS 1.2 or later) instead of HTTP",
			key: "tls.cert_file", file: func(f *fileConfig) string { return f.TLS.CertFile },
			apply: text(func(v *values) *string { return &v.cfg.tls.certFile })},
		{env: "ORDERS_TLS_KEY_FILE", flag: "tls-key-file", doc: "PEM private key of ORDERS_TLS_CERT_FILE",
			key: "tls.key_file", file: func(f *fileConfig) string { return f.TLS.KeyFile },
			apply: text(func(v *values) *string { return &v.cfg.tls.keyFile })},
		{env: "ORDERS_TLS_CLIENT_AUTH", flag: "tls-client-auth", def: clientAuthNone, doc: "client certificates: none, optional (verified if given) or required; certificate-bound tokens need one",
			key: "tls.client_auth", file: func(f *fileConfig) string { return f.TLS.ClientAuth },
			apply: oneOf(func(v *values) *string { return &v.cfg.tls.clientAuth }, clientAuthNone, clientAuthOptional, clientAuthRequired)},
		{env: "ORDERS_TLS_CLIENT_CA_FILE", flag: "tls-client-ca-file", doc: "PEM certificates of the CAs client certificates are verified against; required unless ORDERS_TLS_CLIENT_AUTH is none",
			key: "tls.client_ca_file", file: func(f *fileConfig) string { return f.TLS.ClientCAFile },
			apply: text(func(v *values) *string { return &v.cfg.tls.clientCAFile })},
		{env: "ORDERS_TLS_CLIENT_CERT_HEADER", flag: "tls-client-cert-header", doc: "header in which a TLS-terminating proxy sends the client certificate it verified, URL-encoded PEM (nginx $ssl_client_escaped_cert, AWS ALB X-Amzn-Mtls-Clientcert); read only from ORDERS_TRUSTED_PROXIES",
			key: "tls.client_cert_header", file: func(f *fileConfig) string { return f.TLS.ClientCertHeader },
			apply: text(func(v *values) *string { return &v.cfg.auth.ClientCerts.Header })},
		{env: "ORDERS_TRUSTED_PROXIES", flag: "trusted-proxies", doc: "comma-separated networks (CIDR, such as 10.0.0.0/8 or 127.0.0.1/32) of the proxies whose ORDERS_TLS_CLIENT_CERT_HEADER is believed; none by default",
			key: "trusted_proxies", file: func(f *fileConfig) string { return strings.Join(f.TrustedProxies, ",") },
			apply: prefixes(func(v *values) *[]netip.Prefix { return &v.cfg.auth.ClientCerts.TrustedProxies })},
	}
}

// prefixes stores a comma-separated list of networks in CIDR notation.
func prefixes(field func(*values) *[]netip.Prefix) func(*values, string) error {
	return func(v *values, s string) error {
		var out []netip.Prefix
		for _, cidr := range splitList(s) {
			p, err := netip.ParsePrefix(cidr)
			if err != nil {
				return fmt.Errorf("holds %q, which is not a network like 10.0.0.0/8", cidr)
			}
			out = append(out, p.Masked())
		}
		*field(v) = out
		return nil
	}
}

// serverSettings are the settings of the server itself.
func serverSettings() []setting {
	return []setting{
		{env: "ORDERS_CONFIG", flag: "config", doc: "configuration file, YAML or JSON (see docs/configuration.md)",
			apply: text(func(v *values) *string { return &v.cfg.configFile })},
		{env: "ORDERS_ADDR", flag: "addr", def: "localhost:8000", doc: "address the API listens on",
			key: "addr", file: func(f *fileConfig) string { return f.Addr },
			apply: hostPort(func(v *values) *string { return &v.cfg.addr }, false)},
		{env: "ORDERS_DATABASE_URL", flag: "database-url", def: "sqlite:orders.db", doc: "database, as sqlite:PATH or postgres://USER@HOST:PORT/DB",
			key: "database_url", file: func(f *fileConfig) string { return f.DatabaseURL },
			apply: text(func(v *values) *string { return &v.cfg.databaseURL })},
		{env: "ORDERS_DATABASE_MAX_CONNS", flag: "database-max-conns", def: "10", doc: "most database connections open at once",
			key: "database_pool.max_conns", file: func(f *fileConfig) string { return f.DatabasePool.MaxConns },
			apply: atLeast(func(v *values) *int { return &v.cfg.pool.MaxOpenConns }, 1, "is not a positive number")},
		{env: "ORDERS_DATABASE_CONN_MAX_LIFETIME", flag: "database-conn-max-lifetime", def: "30m", doc: "a database connection is closed after this long",
			key: "database_pool.conn_max_lifetime", file: func(f *fileConfig) string { return f.DatabasePool.ConnMaxLifetime },
			apply: duration(func(v *values) *time.Duration { return &v.cfg.pool.ConnMaxLifetime }, 0, 0, "30m")},
		{env: "ORDERS_DATABASE_STATEMENT_TIMEOUT", flag: "database-statement-timeout", def: "5s", doc: "PostgreSQL cancels a statement that runs longer (statement_timeout, unless the URL sets one); 0 means never",
			key: "database_pool.statement_timeout", file: func(f *fileConfig) string { return f.DatabasePool.StatementTimeout },
			apply: duration(func(v *values) *time.Duration { return &v.cfg.pool.StatementTimeout }, 0, 0, "5s")},
		{env: "ORDERS_DATABASE_ACQUIRE_TIMEOUT", flag: "database-acquire-timeout", def: "2s", doc: "longest a PostgreSQL request waits for a free connection before it is answered 503; 0 means no limit",
			key: "database_pool.acquire_timeout", file: func(f *fileConfig) string { return f.DatabasePool.AcquireTimeout },
			apply: duration(func(v *values) *time.Duration { return &v.cfg.pool.AcquireTimeout }, 0, 0, "2s")},
		{env: "ORDERS_DATABASE_START_TIMEOUT", flag: "database-start-timeout", def: "60s", doc: "how long serve and migrate wait for an unreachable database at start before they give up",
			key: "database_start_timeout", file: func(f *fileConfig) string { return f.DatabaseStartTimeout },
			apply: duration(func(v *values) *time.Duration { return &v.cfg.databaseStartTimeout }, 0, 0, "60s")},
		{env: "ORDERS_AUTH_CACHE_SIZE", flag: "auth-cache-size", def: "10000", doc: "verified tokens remembered, so their signatures are not checked again; 0 turns the cache off",
			key: "auth.cache_size", file: func(f *fileConfig) string { return f.Auth.CacheSize },
			apply: atLeast(func(v *values) *int { return &v.cfg.auth.CacheSize }, 0, "is not a number of tokens, 0 or more")},
		{env: "ORDERS_AUTH_CACHE_TTL", flag: "auth-cache-ttl", def: auth.DefaultCacheTTL.String(), doc: "longest a verified token is remembered (never past its exp), at most " + auth.MaxCacheTTL.String(),
			key: "auth.cache_ttl", file: func(f *fileConfig) string { return f.Auth.CacheTTL },
			apply: duration(func(v *values) *time.Duration { return &v.cfg.auth.CacheTTL }, time.Nanosecond, auth.MaxCacheTTL, "5m")},
		{env: "ORDERS_AUTH_INTROSPECTION_CACHE_TTL", flag: "auth-introspection-cache-ttl", def: auth.DefaultIntrospectionCacheTTL.String(), doc: "longest an issuer's answer that a token is active is believed (never past its exp), at most " + auth.MaxIntrospectionCacheTTL.String() + "; 0 asks on every request",
			key: "auth.introspection_cache_ttl", file: func(f *fileConfig) string { return f.Auth.IntrospectionCacheTTL },
			apply: duration(func(v *values) *time.Duration { return &v.cfg.auth.IntrospectionCacheTTL }, 0, auth.MaxIntrospectionCacheTTL, "30s")},
		{env: "ORDERS_AUTH_INTROSPECTION_TIMEOUT", flag: "auth-introspection-timeout", def: auth.DefaultIntrospectionTimeout.String(), doc: "longest one introspection request may take before the request is answered 503, at most " + auth.MaxIntrospectionTimeout.String(),
			key: "auth.introspection_timeout", file: func(f *fileConfig) string { return f.Auth.IntrospectionTimeout },
			apply: duration(func(v *values) *time.Duration { return &v.cfg.auth.IntrospectionTimeout }, time.Nanosecond, auth.MaxIntrospectionTimeout, "5s")},
		{env: "ORDERS_AUTH_LEEWAY", flag: "auth-leeway", def: auth.DefaultLeeway.String(), doc: "clock skew allowed on exp, nbf and iat, at most " + auth.MaxLeeway.String(),
			key: "auth.leeway", file: func(f *fileConfig) string { return f.Auth.Leeway },
			apply: duration(func(v *values) *time.Duration { return &v.cfg.auth.Leeway }, 0, auth.MaxLeeway, "30s")},
		{env: "ORDERS_AUTH_DECRYPTION_KEY_FILE", flag: "auth-decryption-key-file", doc: "the API's private keys that issuers encrypt access tokens (JWE) to: PEM (PKCS#8, PKCS#1, SEC1) or a JWK set, chosen by kid (a token without kid only by keys without one); RSA of 2048 to 4096 bits (each decryption costs about 1.4 ms at 2048 bits, 7.8 ms at 4096), or EC on P-256, P-384, P-521; encrypted tokens are refused without it",
			key: "auth.decryption_key_file", file: func(f *fileConfig) string { return f.Auth.DecryptionKeyFile },
			apply: text(func(v *values) *string { return &v.cfg.decryptionKeyFile })},
		{env: "ORDERS_AUTH_DPOP", flag: "auth-dpop", def: string(auth.DPoPAllowed), doc: "DPoP-bound tokens (RFC 9449): off (Bearer only), allowed (both schemes) or required (DPoP only); a token bound to a key is never accepted as Bearer",
			key: "auth.dpop", file: func(f *fileConfig) string { return f.Auth.DPoP },
			apply: dpopMode(func(v *values) *auth.DPoPMode { return &v.cfg.auth.DPoP.Mode })},
		{env: "ORDERS_AUTH_DPOP_ALGORITHMS", flag: "auth-dpop-algorithms", def: strings.Join(auth.DefaultDPoPAlgorithms(), ","), doc: "comma-separated algorithms DPoP proofs may use, of " + strings.Join(auth.DPoPAlgorithms(), ","),
			key: "auth.dpop_algorithms", file: func(f *fileConfig) string { return strings.Join(f.Auth.DPoPAlgorithms, ",") },
			apply: list(func(v *values) *[]string { return &v.cfg.auth.DPoP.Algorithms })},
		{env: "ORDERS_AUTH_DPOP_MAX_AGE", flag: "auth-dpop-max-age", def: auth.DefaultDPoPMaxAge.String(), doc: "how far a DPoP proof's iat may be from now, either way, at most " + auth.MaxDPoPMaxAge.String(),
			key: "auth.dpop_max_age", file: func(f *fileConfig) string { return f.Auth.DPoPMaxAge },
			apply: duration(func(v *values) *time.Duration { return &v.cfg.auth.DPoP.MaxAge }, time.Nanosecond, auth.MaxDPoPMaxAge, "60s")},
		{env: "ORDERS_AUTH_DPOP_NONCE", flag: "auth-dpop-nonce", def: "off", doc: "on makes DPoP proofs carry a server nonce (RFC 9449, section 9) from the DPoP-Nonce header, rotated every max age",
			key: "auth.dpop_nonce", file: func(f *fileConfig) string { return f.Auth.DPoPNonce },
			apply: onOff(func(v *values) *bool { return &v.cfg.auth.DPoP.Nonce })},
		{env: "ORDERS_AUTH_DPOP_NONCE_SECRET", flag: "auth-dpop-nonce-secret", secret: true, doc: "secret of at least 32 bytes the DPoP nonces derive from, the same on every replica so that each accepts the others' nonces; default: random per process",
			key: "auth.dpop_nonce_secret", file: func(f *fileConfig) string { return f.Auth.DPoPNonceSecret },
			apply: secret(func(v *values) *[]byte { return &v.cfg.auth.DPoP.NonceSecret })},
	}
}

// operationSettings are the settings of how serve runs beside the API
// itself: its public URL, Redis, CORS, logs, the docs client, pprof, the
// admin listener and the dev issuer.
func operationSettings() []setting {
	return []setting{
		{env: "ORDERS_PUBLIC_URL", flag: "public-url", doc: "URL clients call the API at, which DPoP proofs name (htu); required behind a proxy; default: each request's scheme and Host",
			key: "public_url", file: func(f *fileConfig) string { return f.PublicURL },
			apply: text(func(v *values) *string { return &v.cfg.auth.DPoP.PublicURL })},
		{env: "ORDERS_REDIS_URL", flag: "redis-url", doc: "Redis (redis:// or rediss://) that keeps the DPoP proofs used, shared by replicas; default: the PostgreSQL database, or this process's memory on SQLite",
			key: "redis_url", file: func(f *fileConfig) string { return f.RedisURL },
			apply: text(func(v *values) *string { return &v.cfg.redisURL })},
		{env: "ORDERS_CORS_ORIGINS", flag: "cors-origins", doc: "comma-separated origins browsers may call from; none by default",
			key: "cors_origins", file: func(f *fileConfig) string { return strings.Join(f.CORSOrigins, ",") },
			apply: list(func(v *values) *[]string { return &v.cfg.api.CORSOrigins })},
		{env: "ORDERS_LOG_LEVEL", flag: "log-level", def: "info", doc: "debug, info, warn or error",
			key: "log_level", file: func(f *fileConfig) string { return f.LogLevel },
			apply: oneOf(func(v *values) *string { return &v.cfg.logLevel }, "debug", "info", "warn", "error")},
		{env: "ORDERS_DOCS_CLIENT_ID", flag: "docs-client-id", doc: "OAuth client id of the /docs page (authorization code with PKCE); default with --dev: " + devDocsClient,
			key: "docs_client_id", file: func(f *fileConfig) string { return f.DocsClientID },
			apply: text(func(v *values) *string { return &v.cfg.docsClientID })},
		{env: "ORDERS_PPROF_ADDR", flag: "pprof-addr", doc: "loopback address of a listener for Go's profiler (pprof); off by default",
			key: "pprof_addr", file: func(f *fileConfig) string { return f.PprofAddr },
			apply: hostPort(func(v *values) *string { return &v.cfg.pprofAddr }, true)},
		{env: "ORDERS_ADMIN_ADDR", flag: "admin-addr", doc: "address of a separate listener for /metrics and (on loopback) pprof; default: /metrics on the API's address",
			key: "admin_addr", file: func(f *fileConfig) string { return f.AdminAddr },
			apply: hostPort(func(v *values) *string { return &v.cfg.adminAddr }, false)},
		{env: "ORDERS_DEV_ISSUER_ADDR", flag: "dev-issuer-addr", def: "127.0.0.1:8001", doc: "loopback address of the --dev issuer",
			key: "dev_issuer_addr", file: func(f *fileConfig) string { return f.DevIssuerAddr },
			apply: hostPort(func(v *values) *string { return &v.cfg.devIssuerAddr }, false)},
	}
}

// issuerSettingsDecl are the settings of the single issuer the environment
// (or the flags) can describe. The configuration file lists issuers
// instead, each with these settings under their keys.
func issuerSettingsDecl() []setting {
	return []setting{
		{env: "ORDERS_AUTH_PROVIDER", key: "provider", flag: "auth-provider", doc: "provider preset: " + strings.Join(auth.ProviderNames(), ", "),
			apply: text(func(v *values) *string { return &v.issuer.Provider })},
		{env: "ORDERS_AUTH_ISSUER", key: "issuer", flag: "auth-issuer", doc: "issuer whose tokens are accepted (exact iss); required unless --dev",
			apply: text(func(v *values) *string { return &v.issuer.Issuer })},
		{env: "ORDERS_AUTH_AUDIENCE", key: "audience", flag: "auth-audience", doc: "comma-separated audiences, one of which the token must hold; required unless --dev",
			apply: list(func(v *values) *[]string { return &v.issuer.Audience })},
		{env: "ORDERS_AUTH_AUDIENCE_CLAIM", key: "audience_claim", flag: "auth-audience-claim", doc: "claim that holds the audience: aud (default) or client_id (Cognito)",
			apply: text(func(v *values) *string { return &v.issuer.AudienceClaim })},
		{env: "ORDERS_AUTH_JWKS_URL", key: "jwks_url", flag: "auth-jwks-url", doc: "JWKS URL; default: jwks_uri from the issuer's OpenID discovery",
			apply: text(func(v *values) *string { return &v.issuer.JWKSURL })},
		{env: "ORDERS_AUTH_ALGORITHMS", key: "algorithms", flag: "auth-algorithms", doc: "comma-separated accepted algorithms; default: " + strings.Join(auth.Algorithms(), ","),
			apply: list(func(v *values) *[]string { return &v.issuer.Algorithms })},
		{env: "ORDERS_AUTH_REQUIRE_AT_JWT", key: "require_at_jwt", flag: "auth-require-at-jwt", doc: "accept only tokens with typ at+jwt (RFC 9068): true or false (default)",
			apply: boolean(func(v *values) *bool { return &v.issuer.RequireATJWT })},
		{env: "ORDERS_AUTH_TOKEN_TYPES", key: "token_types", flag: "auth-token-types", doc: "comma-separated accepted typ values (\"\" for none); default: none, JWT, at+jwt",
			apply: list(func(v *values) *[]string { return &v.issuer.TokenTypes })},
		{env: "ORDERS_AUTH_SCOPE_CLAIMS", key: "scope_claims", flag: "auth-scope-claims", doc: "comma-separated claims scopes are read from; default: scope,scp,permissions",
			apply: list(func(v *values) *[]string { return &v.issuer.ScopeClaims })},
		{env: "ORDERS_AUTH_READ_SCOPE", key: "read_scope", flag: "auth-read-scope", doc: "the issuer's name for the read scope (default orders:read), or " + scopeOff,
			apply: text(func(v *values) *string { return &v.issuer.ReadScope })},
		{env: "ORDERS_AUTH_WRITE_SCOPE", key: "write_scope", flag: "auth-write-scope", doc: "the issuer's name for the write scope (default orders:write), or " + scopeOff,
			apply: text(func(v *values) *string { return &v.issuer.WriteScope })},
		{env: "ORDERS_AUTH_INTROSPECTION_CLIENT_ID", key: "introspection_client_id", flag: "auth-introspection-client-id", doc: "the API's client id at the issuer; turns introspection (RFC 7662) of opaque tokens on; needs a client secret or key",
			apply: text(func(v *values) *string { return &v.issuer.IntrospectionClientID })},
		{env: "ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET", key: "introspection_client_secret", flag: "auth-introspection-client-secret", secret: true, doc: "the API's client secret, sent with HTTP Basic (client_secret_basic)",
			apply: text(func(v *values) *string { return &v.issuer.IntrospectionClientSecret })},
		{env: "ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET_FILE", key: "introspection_client_secret_file", flag: "auth-introspection-client-secret-file", doc: "file holding the API's client secret (its one line), instead of ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET",
			apply: text(func(v *values) *string { return &v.issuer.IntrospectionClientSecretFile })},
		{env: "ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE", key: "introspection_client_key_file", flag: "auth-introspection-client-key-file", doc: "PEM private key (RSA, EC or Ed25519) the API signs client assertions with (private_key_jwt, RFC 7523), instead of a secret",
			apply: text(func(v *values) *string { return &v.issuer.IntrospectionClientKeyFile })},
		{env: "ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_ID", key: "introspection_client_key_id", flag: "auth-introspection-client-key-id", doc: "kid of ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE at the issuer; default: its RFC 7638 thumbprint",
			apply: text(func(v *values) *string { return &v.issuer.IntrospectionClientKeyID })},
		{env: "ORDERS_AUTH_INTROSPECTION_CLIENT_ASSERTION_AUDIENCE", key: "introspection_client_assertion_audience", flag: "auth-introspection-client-assertion-audience", doc: "aud of the client assertions signed with ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE, one string; default: the issuer",
			apply: text(func(v *values) *string { return &v.issuer.IntrospectionAssertionAudience })},
		{env: "ORDERS_AUTH_INTROSPECTION_URL", key: "introspection_url", flag: "auth-introspection-url", doc: "introspection endpoint; default: introspection_endpoint from the issuer's OpenID discovery",
			apply: text(func(v *values) *string { return &v.issuer.IntrospectionURL })},
		{env: "ORDERS_AUTH_INTROSPECT_JWTS", key: "introspect_jwts", flag: "auth-introspect-jwts", doc: "ask the issuer about JWTs too, after local verification, so revoked ones are refused: true or false (default); needs introspection",
			apply: boolean(func(v *values) *bool { return &v.issuer.IntrospectJWTs })},
		{env: "ORDERS_AUTH_INTROSPECT_JWTS_ONLY", key: "introspect_jwts_only", flag: "auth-introspect-jwts-only", doc: "keep opaque tokens from this issuer: its introspection serves ORDERS_AUTH_INTROSPECT_JWTS alone, so any number of issuers may have it: true or false (default)",
			apply: boolean(func(v *values) *bool { return &v.issuer.IntrospectJWTsOnly })},
	}
}

// only returns the declared settings named by their flags, for the
// commands that read a few of them.
func only(flags ...string) []setting {
	var out []setting
	for _, s := range settings() {
		for _, f := range flags {
			if s.flag == f {
				out = append(out, s)
			}
		}
	}
	return out
}

// dpopMode stores off, allowed or required.
func dpopMode(field func(*values) *auth.DPoPMode) func(*values, string) error {
	return func(v *values, s string) error {
		switch m := auth.DPoPMode(s); m {
		case auth.DPoPOff, auth.DPoPAllowed, auth.DPoPRequired:
			*field(v) = m
			return nil
		}
		return errors.New("is not off, allowed or required")
	}
}

// onOff stores on as true and off (or nothing) as false.
func onOff(field func(*values) *bool) func(*values, string) error {
	return func(v *values, s string) error {
		switch s {
		case "", "off":
			*field(v) = false
		case "on":
			*field(v) = true
		default:
			return errors.New("is not on or off")
		}
		return nil
	}
}

// secret stores a secret of at least 32 bytes, or nil for none; errors
// never quote it.
func secret(field func(*values) *[]byte) func(*values, string) error {
	return func(v *values, s string) error {
		switch {
		case s == "":
			*field(v) = nil
			return nil
		case len(s) < 32:
			return errors.New("is shorter than 32 bytes")
		}
		*field(v) = []byte(s)
		return nil
	}
}

// text stores a value as it is.
func text(field func(*values) *string) func(*values, string) error {
	return func(v *values, s string) error {
		*field(v) = s
		return nil
	}
}

// list stores a comma-separated list.
func list(field func(*values) *[]string) func(*values, string) error {
	return func(v *values, s string) error {
		*field(v) = splitList(s)
		return nil
	}
}

// hostPort stores a host:port address, or "" for none; loopback refuses
// any host but this machine's.
func hostPort(field func(*values) *string, loopback bool) func(*values, string) error {
	return func(v *values, s string) error {
		host, _, err := net.SplitHostPort(s)
		switch {
		case s != "" && err != nil:
			return errors.New("is not host:port")
		case s != "" && loopback && !auth.IsLoopback(host):
			return errors.New("must be a loopback host:port")
		}
		*field(v) = s
		return nil
	}
}

// atLeast stores a whole number of lowest or more; the error says what the
// number counts.
func atLeast(field func(*values) *int, lowest int, what string) func(*values, string) error {
	return func(v *values, s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < lowest {
			return errors.New(what)
		}
		*field(v) = n
		return nil
	}
}

// duration stores a duration of at least lowest and, unless highest is 0,
// at most highest; example is shown in the error.
func duration(field func(*values) *time.Duration, lowest, highest time.Duration, example string) func(*values, string) error {
	return func(v *values, s string) error {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			return fmt.Errorf("is not a duration like %s", example)
		case d < lowest || (highest != 0 && d > highest):
			return fmt.Errorf("is out of range: allowed is %s", durationRange(lowest, highest))
		}
		*field(v) = d
		return nil
	}
}

// durationRange says in words which durations are allowed.
func durationRange(lowest, highest time.Duration) string {
	switch {
	case highest == 0 && lowest == 0:
		return "0s or more"
	case highest == 0:
		return "more than 0s"
	case lowest == 0:
		return "0s to " + highest.String()
	}
	return "more than 0s, up to " + highest.String()
}

// boolean stores true or false; other spellings are refused, so that a
// typo does not silently mean false.
func boolean(field func(*values) *bool) func(*values, string) error {
	return func(v *values, s string) error {
		switch s {
		case "", "false":
			*field(v) = false
		case "true":
			*field(v) = true
		default:
			return errors.New("is not true or false")
		}
		return nil
	}
}

// oneOf stores one of the allowed words.
func oneOf(field func(*values) *string, allowed ...string) func(*values, string) error {
	return func(v *values, s string) error {
		for _, a := range allowed {
			if s == a {
				*field(v) = s
				return nil
			}
		}
		last := len(allowed) - 1
		return fmt.Errorf("is not %s or %s", strings.Join(allowed[:last], ", "), allowed[last])
	}
}
