package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
)

// Config says which tokens a Verifier accepts. There is no setting that turns
// a check off.
type Config struct {
	// Issuer must equal the token's iss exactly. Required.
	Issuer string
	// Audiences must hold the token's aud, or one of its values. Required.
	Audiences []string
	// JWKSURL is where the issuer publishes its keys. When empty, it is read
	// from the issuer's OpenID configuration.
	JWKSURL string
	// Algorithms are the signature algorithms accepted, a subset of
	// Algorithms(); empty means all of those.
	Algorithms []string
	// Leeway is the clock skew allowed on exp, nbf and iat, at most
	// MaxLeeway. DefaultLeeway suits most deployments.
	Leeway time.Duration
	// Realm names the protection space in WWW-Authenticate challenges;
	// empty means "orders".
	Realm string
	// RequireATJWT accepts only tokens whose typ header is at+jwt (or
	// application/at+jwt), as RFC 9068 access tokens are. Without it, a
	// missing typ or typ JWT is accepted too, since many providers send those.
	RequireATJWT bool
}

// Validate checks c and fills in its defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("issuer is required"))
	} else if err := CheckURL(c.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("issuer: %w", err))
	}
	if len(c.Audiences) == 0 || slices.Contains(c.Audiences, "") {
		errs = append(errs, errors.New("audience is required and must not be empty"))
	}
	if c.JWKSURL != "" {
		if err := CheckURL(c.JWKSURL); err != nil {
			errs = append(errs, fmt.Errorf("jwks url: %w", err))
		}
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = Algorithms()
	}
	for _, a := range c.Algorithms {
		if !slices.Contains(Algorithms(), a) {
			errs = append(errs, fmt.Errorf("algorithm %q is not allowed; choose from %s", a, strings.Join(Algorithms(), ", ")))
		}
	}
	if c.Leeway < 0 || c.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("leeway must be between 0s and %s", MaxLeeway))
	}
	if c.Realm == "" {
		c.Realm = "orders"
	}
	if strings.ContainsAny(c.Realm, "\"\\\r\n") {
		errs = append(errs, errors.New("realm must not hold quotes, backslashes or line breaks"))
	}
	return errors.Join(errs...)
}

// Verifier verifies access tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
	keys   *keySet
}

// NewVerifier returns a Verifier for cfg, or the reasons cfg is unusable. It
// fetches nothing: keys are fetched on first use and by Run, so the API
// starts even while the issuer is down.
func NewVerifier(cfg Config, log *slog.Logger) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	return &Verifier{
		cfg: cfg,
		parser: jwt.NewParser(
			jwt.WithValidMethods(cfg.Algorithms),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audiences...),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithStrictDecoding(),
		),
		keys: newKeySet(cfg.Issuer, cfg.JWKSURL, log),
	}, nil
}

// Run keeps the issuer's keys fresh until ctx ends: it fetches them at once,
// retries with back-off while it has none, and refreshes them periodically.
func (v *Verifier) Run(ctx context.Context) {
	v.keys.run(ctx)
}

// Ready reports whether the verifier holds signing keys.
func (v *Verifier) Ready() bool {
	return len(v.keys.snapshot()) > 0
}

// Realm is the realm of the verifier's WWW-Authenticate challenges.
func (v *Verifier) Realm() string {
	return v.cfg.Realm
}

// acceptedType reports whether a token's JOSE typ header (present says
// whether it has one) is that of an access token: RFC 9068's at+jwt, or,
// unless requireATJWT, the generic JWT or none at all. "application/" may
// prefix the value, which is case-insensitive (RFC 7515, section 4.1.9).
// Other types, like dpop+jwt, are other kinds of token.
func acceptedType(typ any, present, requireATJWT bool) bool {
	if !present {
		return !requireATJWT
	}
	s, ok := typ.(string)
	if !ok {
		return false
	}
	s = strings.TrimPrefix(strings.ToLower(s), "application/")
	return s == "at+jwt" || (s == "jwt" && !requireATJWT)
}

// Verify checks token and returns the principal it names. Every failure is
// an *Error of kind ErrInvalidToken, or ErrUnavailable when the issuer's keys
// could not be had.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	if err := checkShape(token); err != nil {
		return Principal{}, err
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, v.keyfunc(ctx))
	if err != nil {
		return Principal{}, describe(err)
	}
	switch {
	case !validSubject(c.subject):
		return Principal{}, fail(ErrInvalidToken, "the token's sub must be a non-empty string of at most 255 bytes without control characters", nil)
	case c.tokenUse != "" && c.tokenUse != "access":
		return Principal{}, fail(ErrInvalidToken, "the token is not an access token", nil)
	}
	return Principal{Subject: c.subject, Scopes: c.scopes}, nil
}

// checkShape refuses, before any decoding, a token that is too long or is not
// three base64url segments.
func checkShape(token string) error {
	if token == "" {
		return fail(ErrInvalidToken, "the bearer token is empty", nil)
	}
	if len(token) > MaxTokenLength {
		return fail(ErrInvalidToken, "the token is too long", nil)
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		switch b := token[i]; {
		case b == '.':
			dots++
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_':
		default:
			return fail(ErrInvalidToken, "the token is not a JWS in compact form", nil)
		}
	}
	if dots != 2 {
		return fail(ErrInvalidToken, "the token is not a JWS in compact form", nil)
	}
	return nil
}

// keyfunc checks the token's header and picks the issuer's keys that may
// verify it. Keys come only from the issuer's JWKS: jku, x5u, jwk and x5c in
// the header are never used.
func (v *Verifier) keyfunc(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, fail(ErrInvalidToken, "the token names critical header parameters this API does not implement", nil)
		}
		if typ, ok := t.Header["typ"]; !acceptedType(typ, ok, v.cfg.RequireATJWT) {
			return nil, fail(ErrInvalidToken, "the token's typ is not that of an access token", nil)
		}
		kid, hasKID := t.Header["kid"]
		kidString, isString := kid.(string)
		if hasKID && !isString {
			return nil, fail(ErrInvalidToken, "the token's kid must be a string", nil)
		}
		keys, err := v.keys.find(ctx, kidString, hasKID, t.Method.Alg())
		if err != nil {
			return nil, err
		}
		if len(keys) == 1 {
			return keys[0].key, nil
		}
		set := jwt.VerificationKeySet{}
		for _, k := range keys {
			set.Keys = append(set.Keys, k.key)
		}
		return set, nil
	}
}

// describe turns a golang-jwt error into an *Error with a description that
// says which check failed, without quoting the token.
func describe(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	desc := "the token is invalid"
	switch {
	case errors.Is(err, errClaims):
		desc = "the token's claims are malformed"
	case errors.Is(err, jwt.ErrTokenMalformed):
		desc = "the token is malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		desc = "the token's signature or algorithm is not acceptable"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		desc = "the token cannot be verified"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		desc = "the token lacks a required claim (iss, aud or exp)"
	case errors.Is(err, jwt.ErrTokenExpired):
		desc = "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		desc = "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		desc = "the token was issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		desc = "the token's issuer is not the one this API trusts"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		desc = "the token's audience is not this API"
	}
	return fail(ErrInvalidToken, desc, err)
}
