package auth

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/clientauth"
	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/auth/introspect"
	"github.com/coffeemesh/orders/auth/jwe"
	"github.com/coffeemesh/orders/auth/jwks"
)

// Algorithms lists the signature algorithms a Verifier may accept: only
// asymmetric ones. HS256 and friends would let anyone holding the (public)
// key mint tokens, and "none" is no signature at all.
func Algorithms() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
}

// Defaults and bounds of a Config.
const (
	DefaultLeeway = 30 * time.Second
	MaxLeeway     = 5 * time.Minute
	// MaxTokenLength bounds a token's size, so that no oversized token is
	// decoded before it is refused.
	MaxTokenLength = 16 << 10
	// MaxCacheTTL bounds how long a verified token is remembered.
	MaxCacheTTL = time.Hour
	// DefaultIntrospectionCacheTTL and MaxIntrospectionCacheTTL bound how
	// long an issuer's answer that a token is active is believed.
	DefaultIntrospectionCacheTTL = 30 * time.Second
	MaxIntrospectionCacheTTL     = 5 * time.Minute
	// DefaultIntrospectionTimeout and MaxIntrospectionTimeout bound one
	// introspection request.
	DefaultIntrospectionTimeout = introspect.DefaultTimeout
	MaxIntrospectionTimeout     = introspect.MaxTimeout
)

// The audience claims an Issuer may name.
const (
	// AudienceClaimAud checks the registered aud claim (RFC 7519).
	AudienceClaimAud = "aud"
	// AudienceClaimClientID checks client_id, as AWS Cognito access tokens
	// carry no aud; such tokens must also say token_use "access".
	AudienceClaimClientID = "client_id"
)

// DefaultScopeClaims are the claims scopes are read from unless an Issuer
// names others: RFC 9068's scope, the scp of Okta, Entra and Hydra, and
// Auth0's RBAC permissions.
func DefaultScopeClaims() []string {
	return []string{"scope", "scp", "permissions"}
}

// DefaultTypes are the typ header values accepted unless an Issuer names
// others: none at all, the generic JWT, and RFC 9068's at+jwt.
func DefaultTypes() []string {
	return []string{"", "jwt", "at+jwt"}
}

// Config says which tokens a Verifier accepts. There is no setting that turns
// a signature, issuer, audience or expiry check off.
type Config struct {
	// Issuers are the trusted issuers; a token's iss picks one. At least one.
	Issuers []Issuer
	// Leeway is the clock skew allowed on exp, nbf and iat, at most
	// MaxLeeway. DefaultLeeway suits most deployments.
	Leeway time.Duration
	// Realm names the protection space in WWW-Authenticate challenges;
	// empty means "orders".
	Realm string
	// CacheSize is how many verified tokens are remembered, so that their
	// signatures are not checked again; 0 turns the cache off.
	CacheSize int
	// CacheTTL bounds how long a verified token is remembered, below its
	// exp; 0 means DefaultCacheTTL.
	CacheTTL time.Duration
	// Now tells the time that exp, nbf and iat are checked against; nil
	// means time.Now. Tests set it to move time without waiting.
	Now func() time.Time
	// DPoP says whether and how sender-constrained tokens are accepted.
	DPoP DPoPConfig
	// ClientCerts says where the client certificates that
	// certificate-bound tokens (RFC 8705) are checked against come from,
	// besides the connection's own TLS.
	ClientCerts ClientCertConfig
	// DecryptionKeys are the API's private keys that encrypted tokens
	// (JWE) are decrypted with; nil refuses every encrypted token.
	DecryptionKeys *jwe.Keys
	// IntrospectionCacheTTL bounds how long an issuer's answer that a token
	// is active is believed (never past the token's exp), at most
	// MaxIntrospectionCacheTTL; 0 asks the issuer on every request. The
	// answers live in the verified-token cache, so CacheSize 0 turns this
	// off too. DefaultIntrospectionCacheTTL suits most deployments.
	IntrospectionCacheTTL time.Duration
	// IntrospectionTimeout bounds one introspection request, at most
	// MaxIntrospectionTimeout; 0 means DefaultIntrospectionTimeout.
	IntrospectionTimeout time.Duration
}

// Introspection says how the API asks an issuer about its tokens (RFC
// 7662). It is on when ClientID is set, and then needs exactly one of
// ClientSecret and ClientKey.
type Introspection struct {
	// URL is the introspection endpoint; "" means the introspection_endpoint
	// of the issuer's OpenID configuration.
	URL string
	// ClientID is the API's client id at the issuer.
	ClientID string
	// ClientSecret authenticates the API with HTTP Basic
	// (client_secret_basic).
	ClientSecret string
	// ClientKey authenticates the API with a client assertion it signs
	// (private_key_jwt, RFC 7523); see clientauth.ParseKey. Without an ID
	// it is named by its RFC 7638 thumbprint.
	ClientKey *clientauth.Key
	// AssertionAudience is the aud of the client assertions; "" means the
	// issuer's identifier.
	AssertionAudience string
	// JWTs asks the issuer about every JWT too, after it is verified
	// locally, so that a revoked JWT is refused within
	// Config.IntrospectionCacheTTL.
	JWTs bool
	// JWTsOnly keeps opaque tokens from the issuer: its introspection
	// serves JWTs alone, which name their issuer, so any number of issuers
	// may have it. Needs JWTs.
	JWTsOnly bool
}

// enabled reports whether in turns introspection on.
func (in Introspection) enabled() bool {
	return in.ClientID != ""
}

// opaque reports whether in receives the tokens that name no issuer.
func (in Introspection) opaque() bool {
	return in.enabled() && !in.JWTsOnly
}

// validate refuses settings that contradict each other.
func (in Introspection) validate() error {
	var errs []error
	switch {
	case in.AssertionAudience != "" && in.ClientKey == nil:
		errs = append(errs, errors.New("an assertion audience needs a client key"))
	case !in.enabled() && (in.URL != "" || in.ClientSecret != "" || in.ClientKey != nil):
		errs = append(errs, errors.New("an introspection url, client secret or client key needs the introspection client id"))
	case in.enabled() && in.ClientSecret != "" && in.ClientKey != nil:
		errs = append(errs, errors.New("introspection takes a client secret or a client key, not both"))
	case in.enabled() && in.ClientSecret == "" && in.ClientKey == nil:
		errs = append(errs, errors.New("the introspection client id needs a client secret or a client key"))
	}
	if in.JWTs && !in.enabled() {
		errs = append(errs, errors.New("introspecting JWTs needs introspection (a client id and its secret or key)"))
	}
	if in.JWTsOnly && !in.JWTs {
		errs = append(errs, errors.New("introspecting JWTs only needs introspecting JWTs"))
	}
	if in.URL != "" {
		if err := CheckURL(in.URL); err != nil {
			errs = append(errs, fmt.Errorf("introspection url: %w", err))
		}
	}
	return errors.Join(errs...)
}

// ClientCertConfig lets a TLS-terminating proxy pass on the client
// certificate it verified. The zero value reads the connection's own
// verified certificate only.
type ClientCertConfig struct {
	// Header names the request header in which the proxy sends the client
	// certificate as URL-encoded PEM (nginx's $ssl_client_escaped_cert,
	// AWS ALB's X-Amzn-Mtls-Clientcert); "" for none.
	Header string
	// TrustedProxies are the networks of the proxies whose Header is
	// believed. From any other peer the header is ignored, since anyone can
	// send it. Required with Header.
	TrustedProxies []netip.Prefix
}

// validate checks that a header comes with proxies to trust.
func (c ClientCertConfig) validate() error {
	switch {
	case c.Header != "" && len(c.TrustedProxies) == 0:
		return errors.New("a client certificate header needs the trusted proxies that send it")
	case strings.ContainsAny(c.Header, " \t\r\n:,\"()/;<=>?@[]{}"):
		return fmt.Errorf("client certificate header %q is not a header name", c.Header)
	}
	return nil
}

// DPoPAlgorithms lists the algorithms DPoP proofs may be signed with.
func DPoPAlgorithms() []string { return dpop.Algorithms() }

// DefaultDPoPAlgorithms are the proof algorithms accepted unless configured
// otherwise.
func DefaultDPoPAlgorithms() []string { return dpop.DefaultAlgorithms() }

// The default and bound of DPoPConfig.MaxAge.
const (
	DefaultDPoPMaxAge = dpop.DefaultMaxAge
	MaxDPoPMaxAge     = dpop.MaxMaxAge
)

// DPoPMode says which schemes a Verifier accepts tokens with.
type DPoPMode string

// The DPoP modes. In every mode a token bound to a key (cnf.jkt) is
// refused without a proof by that key.
const (
	// DPoPOff accepts bearer tokens only, and refuses the DPoP scheme.
	DPoPOff DPoPMode = "off"
	// DPoPAllowed accepts bearer tokens and DPoP-bound tokens with proofs.
	DPoPAllowed DPoPMode = "allowed"
	// DPoPRequired accepts DPoP-bound tokens with proofs only.
	DPoPRequired DPoPMode = "required"
)

// DPoPConfig configures DPoP (RFC 9449).
type DPoPConfig struct {
	// Mode is DPoPOff, DPoPAllowed or DPoPRequired; "" means DPoPAllowed.
	Mode DPoPMode
	// Algorithms are the algorithms proofs may be signed with, a subset of
	// dpop.Algorithms(); empty means dpop.DefaultAlgorithms().
	Algorithms []string
	// MaxAge is how far a proof's iat may be from now, either way, at most
	// dpop.MaxMaxAge; 0 means dpop.DefaultMaxAge.
	MaxAge time.Duration
	// PublicURL is the URL clients call the API at (scheme, host and any
	// path prefix), which a proof's htu must name with the request's path.
	// Behind a proxy it is required, as the request's own scheme and Host
	// are then the proxy's. "" means the request's scheme and Host.
	PublicURL string
	// Replay remembers used proofs; nil means one in this process's memory.
	Replay dpop.ReplayStore
	// Nonce makes proofs carry a server nonce (RFC 9449, section 9), sent in
	// the DPoP-Nonce header and rotated every MaxAge.
	Nonce bool
	// NonceSecret, at least dpop.MinNonceSecretLength bytes, derives the
	// nonces; replicas that share it accept each other's. nil means a
	// random one per process.
	NonceSecret []byte
}

// Issuer is one trusted issuer and how to read its tokens.
type Issuer struct {
	// URL must equal the token's iss exactly. Required.
	URL string
	// Audiences must hold the token's audience claim, or one of its values.
	// Required.
	Audiences []string
	// AudienceClaim names the claim that holds the audience:
	// AudienceClaimAud (the default when empty) or AudienceClaimClientID.
	AudienceClaim string
	// JWKSURL is where the issuer publishes its keys. When empty, it is read
	// from the issuer's OpenID configuration.
	JWKSURL string
	// Algorithms are the signature algorithms accepted, a subset of
	// Algorithms(); empty means all of those.
	Algorithms []string
	// Types are the accepted typ header values, compared case-insensitively
	// without an "application/" prefix; "" stands for a token without typ.
	// Empty means DefaultTypes().
	Types []string
	// ScopeClaims name the claims scopes are read from: each a string of
	// space-separated scopes or an array of strings. A dotted name reaches
	// into objects, as realm_access.roles does. Empty means
	// DefaultScopeClaims().
	ScopeClaims []string
	// ScopeNames maps the issuer's scope names to the API's scopes (one name
	// may grant several); a name not in it grants nothing. Nil means every
	// name stands for itself.
	ScopeNames map[string][]Scope
	// GrantScopes are granted to every valid token of the issuer, for
	// providers that cannot issue scopes at all. Use with care.
	GrantScopes []Scope
	// RequiredClaims are string claims the issuer's access tokens carry
	// with exactly these values, such as Keycloak's typ "Bearer", which its
	// ID tokens lack. Introspection answers must carry them too.
	RequiredClaims map[string]string
	// Introspection, when enabled, sends the tokens that are neither a JWS
	// nor a JWE (and sealed JWEs) to the issuer's introspection endpoint,
	// unless JWTsOnly. Opaque tokens do not name their issuer, so only one
	// issuer may receive them; with two trusted issuers, the other's opaque
	// tokens go to that one too, which answers that it does not know them.
	Introspection Introspection
}

// Validate checks c and fills in its defaults.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Issuers) == 0 {
		errs = append(errs, errors.New("issuer is required"))
	}
	seen := map[string]bool{}
	var introspecting []string
	for i := range c.Issuers {
		if c.Issuers[i].Introspection.opaque() {
			introspecting = append(introspecting, c.Issuers[i].URL)
		}
		iss := &c.Issuers[i]
		if seen[iss.URL] {
			errs = append(errs, fmt.Errorf("issuer %q is configured twice", iss.URL))
		}
		seen[iss.URL] = true
		if err := iss.validate(); err != nil {
			if len(c.Issuers) > 1 {
				err = fmt.Errorf("issuer %d (%s): %w", i+1, iss.URL, err)
			}
			errs = append(errs, err)
		}
	}
	if len(introspecting) > 1 {
		errs = append(errs, fmt.Errorf("issuers %s would all receive opaque tokens, which do not name their issuer: give only one issuer introspection of opaque tokens, and the others JWT introspection alone", strings.Join(introspecting, ", ")))
	}
	if c.IntrospectionCacheTTL < 0 || c.IntrospectionCacheTTL > MaxIntrospectionCacheTTL {
		errs = append(errs, fmt.Errorf("introspection cache TTL must be between 0s and %s", MaxIntrospectionCacheTTL))
	}
	if c.IntrospectionTimeout < 0 || c.IntrospectionTimeout > MaxIntrospectionTimeout {
		errs = append(errs, fmt.Errorf("introspection timeout must be between 0s and %s", MaxIntrospectionTimeout))
	}
	if c.IntrospectionTimeout == 0 {
		c.IntrospectionTimeout = DefaultIntrospectionTimeout
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("leeway must be between 0s and %s", MaxLeeway))
	}
	if c.Realm == "" {
		c.Realm = "orders"
	}
	if c.CacheSize < 0 || c.CacheTTL < 0 || c.CacheTTL > MaxCacheTTL {
		errs = append(errs, fmt.Errorf("cache size must not be negative, and cache TTL between 0 and %s", MaxCacheTTL))
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if strings.ContainsAny(c.Realm, "\"\\\r\n") {
		errs = append(errs, errors.New("realm must not hold quotes, backslashes or line breaks"))
	}
	if err := c.DPoP.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.ClientCerts.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validate checks d and fills in its defaults.
func (d *DPoPConfig) validate() error {
	var errs []error
	switch d.Mode {
	case "":
		d.Mode = DPoPAllowed
	case DPoPOff, DPoPAllowed, DPoPRequired:
	default:
		errs = append(errs, fmt.Errorf("dpop mode %q is not off, allowed or required", d.Mode))
	}
	if len(d.Algorithms) == 0 {
		d.Algorithms = dpop.DefaultAlgorithms()
	}
	for _, a := range d.Algorithms {
		if !slices.Contains(dpop.Algorithms(), a) {
			errs = append(errs, fmt.Errorf("dpop algorithm %q is not allowed; choose from %s", a, strings.Join(dpop.Algorithms(), ", ")))
		}
	}
	if d.MaxAge == 0 {
		d.MaxAge = dpop.DefaultMaxAge
	}
	if d.MaxAge < 0 || d.MaxAge > dpop.MaxMaxAge {
		errs = append(errs, fmt.Errorf("dpop max age must be more than 0s, up to %s", dpop.MaxMaxAge))
	}
	if d.NonceSecret != nil && len(d.NonceSecret) < dpop.MinNonceSecretLength {
		errs = append(errs, fmt.Errorf("dpop nonce secret must be at least %d bytes", dpop.MinNonceSecretLength))
	}
	if d.PublicURL != "" {
		u, err := url.Parse(d.PublicURL)
		if _, nerr := dpop.NormalizeURL(d.PublicURL); err != nil || nerr != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
			errs = append(errs, errors.New("public url must be an absolute http or https URL without user, query or fragment"))
		}
	}
	return errors.Join(errs...)
}

func (iss *Issuer) validate() error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(iss.ScopeNames)) {
		if !isScopeToken(name) {
			errs = append(errs, fmt.Errorf("scope name %q is not a scope (RFC 6749, section 3.3: printable ASCII without spaces, quotes or backslashes)", name))
		}
	}
	if iss.URL == "" {
		errs = append(errs, errors.New("issuer is required"))
	} else if err := CheckURL(iss.URL); err != nil {
		errs = append(errs, fmt.Errorf("issuer: %w", err))
	}
	if len(iss.Audiences) == 0 || slices.Contains(iss.Audiences, "") {
		errs = append(errs, errors.New("audience is required and must not be empty"))
	}
	switch iss.AudienceClaim {
	case "":
		iss.AudienceClaim = AudienceClaimAud
	case AudienceClaimAud, AudienceClaimClientID:
	default:
		errs = append(errs, fmt.Errorf("audience claim %q is not %s or %s", iss.AudienceClaim, AudienceClaimAud, AudienceClaimClientID))
	}
	if iss.JWKSURL != "" {
		if err := CheckURL(iss.JWKSURL); err != nil {
			errs = append(errs, fmt.Errorf("jwks url: %w", err))
		}
	}
	if len(iss.Algorithms) == 0 {
		iss.Algorithms = Algorithms()
	}
	for _, a := range iss.Algorithms {
		if !slices.Contains(Algorithms(), a) {
			errs = append(errs, fmt.Errorf("algorithm %q is not allowed; choose from %s", a, strings.Join(Algorithms(), ", ")))
		}
	}
	if len(iss.Types) == 0 {
		iss.Types = DefaultTypes()
	}
	for i, t := range iss.Types {
		iss.Types[i] = normalizeType(t)
	}
	if len(iss.ScopeClaims) == 0 {
		iss.ScopeClaims = DefaultScopeClaims()
	}
	for _, sc := range iss.ScopeClaims {
		if slices.Contains(splitPath(sc), "") || strings.Count(sc, "[") != strings.Count(sc, "]") {
			errs = append(errs, fmt.Errorf("scope claim %q is not a claim name or a dotted path (brackets around a part holding dots)", sc))
		}
	}
	if err := iss.Introspection.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// normalizeType lowers a typ value and drops its "application/" prefix
// (RFC 7515, section 4.1.9).
func normalizeType(typ string) string {
	return strings.TrimPrefix(strings.ToLower(typ), "application/")
}

// CheckURL accepts an https URL, or an http URL whose host is loopback: keys
// and discovery must never travel in the clear over a network.
func CheckURL(raw string) error {
	return jwks.CheckURL(raw)
}

// IsLoopback reports whether host is localhost or a loopback IP address.
func IsLoopback(host string) bool {
	return jwks.IsLoopback(host)
}

// strictPSS are the RSASSA-PSS methods with the salt as long as the hash,
// as RFC 7518 (section 3.5) requires. golang-jwt's own PS256, PS384 and
// PS512 verify with any salt length, for tokens of old signers; Wycheproof's
// SaltLenChanged vectors show the difference. They are values the verifier
// sets on each token it checks, rather than golang-jwt's registry, which is
// shared by the whole process.
var strictPSS = map[string]jwt.SigningMethod{
	"PS256": &jwt.SigningMethodRSAPSS{SigningMethodRSA: jwt.SigningMethodPS256.SigningMethodRSA, Options: &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}},
	"PS384": &jwt.SigningMethodRSAPSS{SigningMethodRSA: jwt.SigningMethodPS384.SigningMethodRSA, Options: &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}},
	"PS512": &jwt.SigningMethodRSAPSS{SigningMethodRSA: jwt.SigningMethodPS512.SigningMethodRSA, Options: &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}},
}

// signingMethod returns the method that verifies signatures of alg, one of
// Algorithms().
func signingMethod(alg string) jwt.SigningMethod {
	if m, ok := strictPSS[alg]; ok {
		return m
	}
	return jwt.GetSigningMethod(alg)
}

// isScopeToken reports whether s is a scope-token of RFC 6749 (section
// 3.3): one or more of %x21 / %x23-5B / %x5D-7E, so it can stand quoted in
// a challenge's scope parameter.
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
