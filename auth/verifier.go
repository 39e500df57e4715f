package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/auth/jwks"
)

// Verifier verifies access tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	parser *jwt.Parser
	// issuers are the trusted issuers by URL; never changed after
	// NewVerifier.
	issuers map[string]*issuer
	// cache remembers verified tokens; nil when off.
	cache *tokenCache
	// proofs verifies DPoP proofs; never nil after NewVerifier.
	proofs *dpop.Verifier
	// opaque is the one issuer whose introspection receives the tokens
	// that are neither a JWS nor a JWE, and sealed JWEs; nil when none.
	opaque *issuer
	log    *slog.Logger
}

// issuer is a trusted issuer with its keys.
type issuer struct {
	Issuer
	keys *jwks.Source
	// scopeClaims are the ScopeClaims with their paths split by splitPath,
	// once; answerScopes are those an introspection answer's scopes are
	// read from: the same, and RFC 7662's scope member.
	scopeClaims, answerScopes []scopeClaim
	// spelling is the issuer's name of each API scope its ScopeNames grant,
	// for challenges a client can act on.
	spelling map[Scope]string
	// introspector asks the issuer about its tokens; nil when the issuer
	// has no introspection.
	introspector *introspector
}

// scopeClaim is a claim scopes are read from: its name, and the path to it
// through objects.
type scopeClaim struct {
	name  string
	parts []string
}

// NewVerifier returns a Verifier for cfg, or the reasons cfg is unusable. It
// fetches nothing: keys are fetched on first use and by Run, so the API
// starts even while an issuer is down.
func NewVerifier(cfg Config, log *slog.Logger) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	v := &Verifier{
		cfg: cfg,
		// The issuer, audience and algorithm depend on the issuer, which the
		// keyfunc picks by the token's iss, and are checked there and in
		// Verify; the parser checks what all issuers share.
		parser: jwt.NewParser(
			jwt.WithValidMethods(Algorithms()),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithStrictDecoding(),
			jwt.WithTimeFunc(cfg.Now),
		),
		issuers: make(map[string]*issuer, len(cfg.Issuers)),
		cache:   newTokenCache(cfg.CacheSize, cfg.CacheTTL, cfg.Leeway, cfg.Now),
		log:     log,
	}
	replay := cfg.DPoP.Replay
	if replay == nil {
		replay = dpop.NewMemoryStore(0, cfg.Now)
	}
	var nonces *dpop.Nonces
	if cfg.DPoP.Nonce {
		n, err := dpop.NewNonces(cfg.DPoP.NonceSecret, cfg.DPoP.MaxAge, cfg.Now)
		if err != nil {
			return nil, fmt.Errorf("auth config: %w", err)
		}
		nonces = n
	}
	proofs, err := dpop.New(dpop.Options{Algorithms: cfg.DPoP.Algorithms, MaxAge: cfg.DPoP.MaxAge, Now: cfg.Now, Replay: replay, Nonces: nonces})
	if err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	v.proofs = proofs
	for _, iss := range cfg.Issuers {
		var onLoad func([]string)
		if v.cache != nil {
			onLoad = func(current []string) { v.cache.dropUnless(issuerKeys(v.issuers, iss.URL, current)) }
		}
		scopeClaims := make([]scopeClaim, len(iss.ScopeClaims))
		for i, name := range iss.ScopeClaims {
			scopeClaims[i] = scopeClaim{name: name, parts: splitPath(name)}
		}
		keys := jwks.New(iss.URL, iss.JWKSURL, log, jwks.Options{OnLoad: onLoad, Now: cfg.Now})
		in, err := newIntrospector(iss, keys.Metadata, cfg)
		if err != nil {
			return nil, fmt.Errorf("auth config: %w", err)
		}
		answerScopes := scopeClaims
		if !slices.Contains(iss.ScopeClaims, "scope") {
			answerScopes = append(slices.Clip(scopeClaims), scopeClaim{name: "scope", parts: []string{"scope"}})
		}
		v.issuers[iss.URL] = &issuer{Issuer: iss, keys: keys, scopeClaims: scopeClaims, answerScopes: answerScopes, spelling: spelling(iss.ScopeNames), introspector: in}
		if iss.Introspection.opaque() {
			v.opaque = v.issuers[iss.URL]
		}
	}
	return v, nil
}

// spelling maps each API scope to the issuer's name that grants it: one
// that grants it alone if there is one, as it asks for no more than the
// operation needs, else the first in sorted order.
func spelling(names map[string][]Scope) map[Scope]string {
	out := map[Scope]string{}
	alone := map[Scope]bool{}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		for _, s := range names[name] {
			if _, ok := out[s]; !ok || (len(names[name]) == 1 && !alone[s]) {
				out[s], alone[s] = name, len(names[name]) == 1
			}
		}
	}
	return out
}

// ScopeName returns the name by which the trusted issuer iss grants the API
// scope s: the scope the issuer's clients must ask for.
func (v *Verifier) ScopeName(iss string, s Scope) string {
	if i := v.issuers[iss]; i != nil {
		if name, ok := i.spelling[s]; ok {
			return name
		}
	}
	return string(s)
}

// issuerKeys returns the fingerprints of every issuer's keys in hand, with
// current standing for issuer's, so a refresh of one issuer keeps the
// cached tokens of the others.
func issuerKeys(issuers map[string]*issuer, issuer string, current []string) []string {
	all := slices.Clone(current)
	for url, iss := range issuers {
		if url == issuer {
			continue
		}
		for _, k := range iss.keys.Keys() {
			all = append(all, k.Fingerprint)
		}
	}
	return all
}

// Run keeps every issuer's keys fresh until ctx ends: it fetches them at
// once, retries with back-off while it has none, and refreshes them
// periodically.
func (v *Verifier) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, iss := range v.issuers {
		wg.Go(func() { iss.keys.Run(ctx) })
	}
	wg.Wait()
}

// Ready reports whether the verifier holds signing keys of every issuer.
func (v *Verifier) Ready() bool {
	for _, iss := range v.issuers {
		if len(iss.keys.Keys()) == 0 {
			return false
		}
	}
	return true
}

// Metadata returns the OpenID configuration of the first configured issuer,
// for clients such as the interactive documentation to find its
// authorization and token endpoints.
func (v *Verifier) Metadata(ctx context.Context) (jwks.Metadata, error) {
	return v.issuers[v.cfg.Issuers[0].URL].keys.Metadata(ctx)
}

// IssuerMetadata returns the OpenID configuration of the trusted issuer
// iss, a Principal's Issuer: where a token it signed is exchanged (RFC
// 8693). It fails for an issuer the verifier does not trust.
func (v *Verifier) IssuerMetadata(ctx context.Context, iss string) (jwks.Metadata, error) {
	i := v.issuers[iss]
	if i == nil {
		return jwks.Metadata{}, fmt.Errorf("auth: %q is not a trusted issuer", iss)
	}
	return i.keys.Metadata(ctx)
}

// KeyStats are the counters of one issuer's key source.
type KeyStats struct {
	Issuer string
	jwks.Stats
}

// Stats returns each issuer's key counters, for metrics.
func (v *Verifier) Stats() []KeyStats {
	out := make([]KeyStats, 0, len(v.cfg.Issuers))
	for _, c := range v.cfg.Issuers {
		out = append(out, KeyStats{Issuer: c.URL, Stats: v.issuers[c.URL].keys.Stats()})
	}
	return out
}

// Realm is the realm of the verifier's WWW-Authenticate challenges.
func (v *Verifier) Realm() string {
	return v.cfg.Realm
}

// Verify checks token and returns the principal it names. A JWS is
// verified with its issuer's keys, and asked about at the issuer too when
// the issuer introspects JWTs; a token that is neither a JWS nor a JWE, or
// is a JWE sealed with a key only its issuer holds, goes to the
// introspection endpoint of the one issuer that receives opaque tokens,
// and is refused without any call when none does. Every failure is an *Error of
// kind ErrInvalidToken, or ErrUnavailable when the issuer's keys could not
// be had or its introspection endpoint could not tell.
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	// The cache holds only tokens that passed every check, so a token found
	// there skips even the check of its shape. Only tokens that hash
	// without a copy (maxCachedLookup) are looked up first: a longer one,
	// usually junk, is refused by its shape more cheaply than it is hashed.
	if len(token) <= maxCachedLookup {
		if p, ok := v.cache.get(token); ok {
			return p, nil
		}
	}
	encrypted, err := checkShape(token)
	if err != nil {
		if v.opaque != nil && isOpaque(token) {
			return v.verifyOpaque(ctx, token)
		}
		return Principal{}, err
	}
	if encrypted && v.opaque != nil && sealedForIssuer(token) {
		return v.verifyOpaque(ctx, token)
	}
	if len(token) > maxCachedLookup {
		if p, ok := v.cache.get(token); ok {
			return p, nil
		}
	}
	// An encrypted token is cached as sent, so it is decrypted once; what
	// is verified below is the signed JWT inside it.
	signed := token
	if encrypted {
		if signed, err = v.decrypt(token); err != nil {
			return Principal{}, err
		}
	}
	var (
		c claims
		a attempt
	)
	_, err = v.parser.ParseWithClaims(signed, &c, v.keyfunc(ctx, &a))
	if err != nil && len(a.used) > 0 && errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		// No key tried verified the signature: the issuer may have
		// replaced a key under the same kid, or have keys naming none.
		more, ferr := a.iss.keys.Refetched(ctx, a.query, a.used)
		switch {
		case ferr != nil:
			return Principal{}, fail(ReasonKeysUnavailable, ferr)
		case more:
			// Keys not tried have come since: verified once more, with them.
			c, a = claims{}, attempt{}
			_, err = v.parser.ParseWithClaims(signed, &c, v.keyfunc(ctx, &a))
		}
	}
	if err != nil {
		return Principal{}, describe(err)
	}
	iss, used := a.iss, a.used
	if err := iss.check(&c, false); err != nil {
		return Principal{}, describe(err)
	}
	p, err := iss.principal(&c, iss.scopeClaims)
	if err != nil {
		return Principal{}, describe(err)
	}
	// Cached only while every key that may have verified the token is
	// still in hand: a refresh that removed one since the check has swept
	// the cache, or will sweep it after this put.
	held := func() bool { return iss.keys.HoldsAll(used) }
	if iss.introspector != nil && iss.Introspection.JWTs {
		var e cached
		if v.cache != nil {
			e = v.cache.entry(p, &c, used)
		}
		return v.checkActive(ctx, iss, token, signed, p, e, held)
	}
	v.cache.put(token, p, &c, used, held)
	return p, nil
}

// principal returns the principal of claims that passed the issuer's
// checks: its issuer and subject, its scopes (read from scopeClaims) and
// its confirmation.
func (iss *issuer) principal(c *claims, scopeClaims []scopeClaim) (Principal, error) {
	scopes, err := iss.scopes(c, scopeClaims)
	if err != nil {
		return Principal{}, err
	}
	jkt, x5t, err := c.confirmation()
	if err != nil {
		return Principal{}, err
	}
	return Principal{Issuer: iss.URL, Subject: c.subject, Scopes: scopes, JKT: jkt, X5T: x5t}, nil
}

// check applies the issuer's checks of the claims beyond the signature and
// the times: audience, access-token use and subject. The claims of an
// introspection answer (introspected) may also say token_use
// "access_token", as Hydra's do; and in the client_id audience mode they
// need no token_use, which tells Cognito's access tokens from its ID
// tokens, as an introspection answer is never about an ID token.
func (iss *issuer) check(c *claims, introspected bool) error {
	aud, err := c.audienceIn(iss.AudienceClaim)
	if err != nil {
		return err
	}
	if len(aud) == 0 {
		return fail(ReasonNoAudience, fmt.Errorf("no %s claim", iss.AudienceClaim))
	}
	if !iss.namedIn(aud) {
		return fail(ReasonWrongAudience, nil)
	}
	// An aud that is present must name this API even where the audience is
	// read from another claim (RFC 7519, section 4.1.3): a token for
	// another resource server does not become ours by its client_id.
	if _, present := c.members["aud"]; present && iss.AudienceClaim != AudienceClaimAud && !iss.namedIn(c.audience) {
		return fail(ReasonAudienceOther, nil)
	}
	use, err := c.stringClaim("token_use")
	switch {
	case err != nil:
		return err
	case use != "" && use != "access" && (!introspected || use != "access_token"),
		use == "" && iss.AudienceClaim == AudienceClaimClientID && !introspected:
		return fail(ReasonNotAccessToken, errors.New("token_use is not access"))
	case !validSubject(c.subject):
		return fail(ReasonBadSubject, nil)
	}
	for name, want := range iss.RequiredClaims {
		if got, err := c.stringClaim(name); err != nil || got != want {
			return fail(ReasonNotAccessToken, fmt.Errorf("claim %q is not as required", name))
		}
	}
	return nil
}

// namedIn reports whether aud holds one of the issuer's audiences.
func (iss *issuer) namedIn(aud []string) bool {
	return slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(iss.Audiences, a) })
}

// scopes returns the API scopes the token grants: the names in
// scopeClaims, mapped by the issuer's ScopeNames, and its GrantScopes.
func (iss *issuer) scopes(c *claims, scopeClaims []scopeClaim) ([]Scope, error) {
	out := slices.Clone(iss.GrantScopes)
	for _, sc := range scopeClaims {
		names, err := c.scopeNames(sc.name, sc.parts)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			granted := []Scope{Scope(n)}
			if iss.ScopeNames != nil {
				granted = iss.ScopeNames[n]
			}
			for _, s := range granted {
				if !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
		}
	}
	return out, nil
}

// checkShape refuses, before any decoding, a token that is too long or is
// not three (a JWS) or five (a JWE) base64url segments; it reports which
// of the two it is.
func checkShape(token string) (encrypted bool, err error) {
	if token == "" {
		return false, fail(ReasonEmpty, nil)
	}
	if len(token) > MaxTokenLength {
		return false, fail(ReasonTooLong, nil)
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		switch b := token[i]; {
		case b == '.':
			dots++
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_':
		default:
			return false, fail(ReasonNotJWS, fmt.Errorf("byte %d is not base64url", i))
		}
	}
	if dots != 2 && dots != 4 {
		return false, fail(ReasonNotJWS, fmt.Errorf("%d dots", dots))
	}
	return dots == 4, nil
}

// attempt is what keyfunc found for a token: its issuer, what it asks of
// the issuer's keys, and the keys it was given to verify the signature.
type attempt struct {
	iss   *issuer
	query jwks.Query
	used  []jwks.Key
}

// keyfunc picks the trusted issuer named by the token's iss, checks the
// header against it, and returns the issuer's keys that may verify the
// token, recording all three in a. Keys come only from the issuer's JWKS:
// jku, x5u, jwk and x5c in the header are never used, and an iss that
// names no trusted issuer causes no fetch.
func (v *Verifier) keyfunc(ctx context.Context, a *attempt) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if !strictHeader(t.Raw) {
			return nil, fail(ReasonMalformedHeader, nil)
		}
		c, _ := t.Claims.(*claims)
		iss := v.issuers[c.issuer]
		if iss == nil {
			if c.issuer == "" {
				return nil, fail(ReasonNoIssuer, nil)
			}
			return nil, fail(ReasonWrongIssuer, nil)
		}
		a.iss = iss
		// An expired token is refused before it can cost a key fetch.
		if c.expiresAt != nil && v.cfg.Now().After(c.expiresAt.Add(v.cfg.Leeway)) {
			return nil, fail(ReasonExpired, nil)
		}
		alg := t.Method.Alg()
		if !slices.Contains(iss.Algorithms, alg) {
			return nil, fail(ReasonAlgorithm, nil)
		}
		// golang-jwt verifies the signature with t.Method once this returns.
		t.Method = signingMethod(alg)
		if _, ok := t.Header["crit"]; ok {
			return nil, fail(ReasonCritical, nil)
		}
		if !iss.acceptsType(t.Header) {
			return nil, fail(ReasonType, nil)
		}
		kid, hasKID := t.Header["kid"]
		kidString, isString := kid.(string)
		if hasKID && !isString {
			return nil, fail(ReasonKIDType, nil)
		}
		a.query = jwks.Query{KID: kidString, HasKID: hasKID, Alg: alg}
		keys, err := iss.keys.Find(ctx, a.query)
		switch {
		case errors.Is(err, jwks.ErrUnavailable):
			return nil, fail(ReasonKeysUnavailable, err)
		case errors.Is(err, jwks.ErrUnknownKID):
			return nil, fail(ReasonUnknownKey, nil)
		case err != nil:
			return nil, fail(ReasonAlgMismatch, err)
		}
		a.used = keys
		if len(keys) == 1 {
			return keys[0].Public, nil
		}
		set := jwt.VerificationKeySet{}
		for _, k := range keys {
			set.Keys = append(set.Keys, k.Public)
		}
		return set, nil
	}
}

// strictHeader reports whether the JOSE header of token, which golang-jwt
// has decoded leniently into a map, is UTF-8 with each member name once
// (RFC 7493, as the claims are read): {"alg":"none","alg":"RS256"} must not
// mean one thing here and another to a gateway that reads the first member.
func strictHeader(token string) bool {
	seg, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	return err == nil && jsontext.Value(b).IsValid()
}

// acceptsType reports whether the token's typ header (absent counts as "")
// is one the issuer's access tokens have. Other types, like dpop+jwt, are
// other kinds of token.
func (iss *issuer) acceptsType(header map[string]any) bool {
	typ := ""
	if v, ok := header["typ"]; ok {
		s, isString := v.(string)
		if !isString || s == "" {
			return false
		}
		typ = normalizeType(s)
	}
	return slices.Contains(iss.Types, typ)
}

// describe turns a golang-jwt error into an *Error whose reason says which
// check failed.
func describe(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	reason := ReasonMalformed
	switch {
	case errors.Is(err, errClaims):
		reason = ReasonMalformedClaims
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason = ReasonMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		reason = ReasonBadSignature
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = ReasonNoExpiry
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		reason = ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = ReasonIssuedInFuture
	}
	return fail(reason, err)
}
