package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"github.com/coffeemesh/orders/auth/clientauth"
	"github.com/coffeemesh/orders/auth/introspect"
	"github.com/coffeemesh/orders/auth/jwks"
)

// maxOpaqueLength bounds an opaque token: no provider's is near it, and a
// longer one is refused before it costs a call to the issuer.
const maxOpaqueLength = maxCachedLookup

// inactiveTTL is how long an issuer's answer that a token is not active, or
// not acceptable, is believed: long enough to spare the issuer a client
// that retries, short enough that a token just issued is not refused for
// long.
const inactiveTTL = 5 * time.Second

// MaxConcurrentIntrospections bounds the calls under way to one issuer's
// introspection endpoint. Concurrent requests with one token share a call,
// but each distinct token, junk included, costs one, with a goroutine and
// a connection for up to the timeout; a request that finds every slot
// taken is answered 503 at once rather than queued.
const MaxConcurrentIntrospections = 32

// errBusy is why a request found every introspection slot taken.
var errBusy = fmt.Errorf("%d introspection calls under way", MaxConcurrentIntrospections)

// latencyBuckets are the upper bounds, in seconds, of the histogram of
// introspection calls; never written. An array, so that the counters
// are sized by it and cannot disagree with it.
var latencyBuckets = [...]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// introspector asks one issuer about its tokens.
type introspector struct {
	client *introspect.Client
	// flight makes concurrent requests with one token wait for one call.
	flight singleflight.Group
	// slots bounds the calls under way to MaxConcurrentIntrospections.
	slots *semaphore.Weighted
	// refused remembers, by the SHA-256 of the token, the refusals that
	// came from an answer, for inactiveTTL; nil when caching is off.
	refused *lru.Cache[[sha256.Size]byte, refusal]
	// ttl bounds how long an active answer is believed; 0 for not at all.
	ttl   time.Duration
	stats introspectionCounters
}

// refusal is a remembered refusal.
type refusal struct {
	err   *Error
	until time.Time
}

// introspectionCounters count one issuer's introspection calls.
type introspectionCounters struct {
	calls, active, inactive, refused, errors, hits atomic.Int64
	// busy counts the requests refused without a call, every slot taken.
	busy atomic.Int64
	// nanos sums the calls' latency; buckets[i] counts the calls that took
	// at most latencyBuckets[i] and more than the bound before it.
	nanos   atomic.Int64
	buckets [len(latencyBuckets)]atomic.Int64
}

// observe counts a call that took d.
func (ic *introspectionCounters) observe(d time.Duration) {
	ic.calls.Add(1)
	ic.nanos.Add(int64(d))
	for i, bound := range latencyBuckets {
		if d.Seconds() <= bound {
			ic.buckets[i].Add(1)
			return
		}
	}
}

// newIntrospector returns the introspector of iss, or nil when iss has no
// introspection.
func newIntrospector(iss Issuer, meta func(context.Context) (jwks.Metadata, error), cfg Config) (*introspector, error) {
	in := iss.Introspection
	if !in.enabled() {
		return nil, nil
	}
	client, err := introspect.New(introspect.Options{
		Endpoint: in.URL, Discover: meta,
		Client: clientauth.Credentials{ID: in.ClientID, Secret: in.ClientSecret, Key: in.ClientKey},
		Issuer: iss.URL, Audience: in.AssertionAudience,
		Timeout: cfg.IntrospectionTimeout, Now: cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("issuer %s: %w", iss.URL, err)
	}
	out := &introspector{client: client, ttl: cfg.IntrospectionCacheTTL, slots: semaphore.NewWeighted(MaxConcurrentIntrospections)}
	if out.ttl > 0 && cfg.CacheSize > 0 {
		out.refused, _ = lru.New[[sha256.Size]byte, refusal](cfg.CacheSize) // the size is positive, so this cannot fail
	} else {
		out.ttl = 0
	}
	return out, nil
}

// isOpaque reports whether token may be sent to an issuer: one b64token of
// RFC 6750 (section 2.1) of at most maxOpaqueLength bytes, that is neither
// a JWS (three segments) nor a JWE (five).
func isOpaque(token string) bool {
	if token == "" || len(token) > maxOpaqueLength {
		return false
	}
	dots, pad := 0, false
	for i := 0; i < len(token); i++ {
		switch b := token[i]; {
		case b == '=' && i > 0:
			pad = true
		case pad:
			return false
		case b == '.':
			dots++
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_', b == '~', b == '+', b == '/':
		default:
			return false
		}
	}
	return dots != 2 && dots != 4
}

// sealedForIssuer reports whether token is a JWE that only its issuer can
// read: at most maxOpaqueLength bytes, five segments, its protected header
// strict JSON whose alg is a symmetric key management algorithm (RFC 7518,
// section 4.1), a key no resource server holds. Such a token, like
// zitadel/oidc's opaque tokens (A256GCMKW), is a reference token to this
// API.
func sealedForIssuer(token string) bool {
	if len(token) > maxOpaqueLength || strings.Count(token, ".") != 4 {
		return false
	}
	seg, _, _ := strings.Cut(token, ".")
	header, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return false
	}
	members, err := uniqueMembers(header)
	if err != nil {
		return false
	}
	var alg string
	if decodeString(members["alg"], &alg) != nil {
		return false
	}
	switch alg {
	case "dir", "A128KW", "A192KW", "A256KW", "A128GCMKW", "A192GCMKW", "A256GCMKW":
		return true
	}
	return false
}

// verifyOpaque returns the principal of an opaque token as the issuer with
// introspection describes it, and caches it no longer than its exp, the
// introspection TTL and the cache's TTL.
func (v *Verifier) verifyOpaque(ctx context.Context, token string) (Principal, error) {
	iss := v.opaque
	return v.introspect(ctx, iss, token, token, func(p Principal, c *claims) {
		e := cached{principal: p, until: c.expiresAt.Time, hits: &iss.introspector.stats.hits}
		e.limit(v.cfg.Now().Add(iss.introspector.ttl))
		e.limit(v.cfg.Now().Add(v.cfg.CacheTTL))
		if c.notBefore != nil {
			e.notBefore = c.notBefore.Add(-v.cfg.Leeway)
		}
		v.cache.add(token, e, func() bool { return true })
	})
}

// checkActive asks the issuer whether a JWT that passed every local check
// is still active, and caches the JWT's principal p no longer than an
// answer is believed. token is the token as sent, which the cache and the
// merging of concurrent calls key on; signed is the JWS the issuer signed
// (token itself, or what an encrypted token held), which is what is sent:
// the issuer may have no key to read a JWE encrypted to the API.
func (v *Verifier) checkActive(ctx context.Context, iss *issuer, token, signed string, p Principal, e cached, held func() bool) (Principal, error) {
	answered, err := v.introspect(ctx, iss, token, signed, func(answered Principal, _ *claims) {
		if answered.Subject != p.Subject {
			return
		}
		e.limit(v.cfg.Now().Add(iss.introspector.ttl))
		e.hits = &iss.introspector.stats.hits
		v.cache.add(token, e, held)
	})
	switch {
	case err != nil:
		return Principal{}, err
	case answered.Subject != p.Subject:
		// The answer is about another subject: the issuer does not vouch
		// for this JWT.
		return Principal{}, fail(ReasonInactive, errors.New("the introspection answer names another sub than the JWT"))
	}
	return p, nil
}

// introspect asks iss about token, sending sent (token, or the JWS inside
// it), once for all concurrent requests with token, and returns the principal of an active, acceptable answer; cache,
// when the answers may be believed for a while, stores it. A refusal that
// came from an answer is remembered for inactiveTTL. A request whose ctx
// ends stops waiting, while the call goes on for the others.
func (v *Verifier) introspect(ctx context.Context, iss *issuer, token, sent string, cache func(Principal, *claims)) (Principal, error) {
	in := iss.introspector
	key := tokenKey(token)
	if in.refused != nil {
		if r, ok := in.refused.Get(key); ok {
			if v.cfg.Now().Before(r.until) {
				in.stats.hits.Add(1)
				return Principal{}, r.err
			}
			in.refused.Remove(key)
		}
	}
	ch := in.flight.DoChan(string(key[:]), func() (any, error) {
		if !in.slots.TryAcquire(1) {
			in.stats.busy.Add(1)
			return Principal{}, fail(ReasonIntrospectionDown, errBusy)
		}
		defer in.slots.Release(1)
		p, c, err := v.ask(ctx, iss, sent)
		var e *Error
		switch {
		case err == nil && in.ttl > 0:
			cache(p, c)
		case errors.As(err, &e) && e.Reason != ReasonIntrospectionDown && in.refused != nil:
			in.refused.Add(key, refusal{err: e, until: v.cfg.Now().Add(min(inactiveTTL, in.ttl))})
		}
		return p, err
	})
	var r singleflight.Result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return Principal{}, fail(ReasonIntrospectionDown, context.Cause(ctx))
	}
	if r.Err != nil {
		return Principal{}, r.Err
	}
	principal, _ := r.Val.(Principal) // the function above returns only Principals
	return principal, nil
}

// ask posts token to iss's introspection endpoint and checks the answer.
// The call is not cut short when the request that made it ends, as others
// may be waiting for it; the client's timeout bounds it.
func (v *Verifier) ask(ctx context.Context, iss *issuer, token string) (Principal, *claims, error) {
	in := iss.introspector
	start := time.Now()
	body, err := in.client.Introspect(context.WithoutCancel(ctx), token)
	in.stats.observe(time.Since(start))
	if err != nil {
		in.stats.errors.Add(1)
		v.log.WarnContext(ctx, "introspection failed", slog.String("issuer", iss.URL), slog.Any("error", err))
		return Principal{}, nil, fail(ReasonIntrospectionDown, err)
	}
	c, err := iss.answer(body, v.cfg.Now(), v.cfg.Leeway)
	if err == nil {
		var p Principal
		if p, err = iss.principal(c, iss.answerScopes); err == nil {
			in.stats.active.Add(1)
			return p, c, nil
		}
	}
	e := describe(err)
	switch e.Reason {
	case ReasonInactive:
		in.stats.inactive.Add(1)
	case ReasonIntrospectionDown:
		in.stats.errors.Add(1)
		v.log.WarnContext(ctx, "introspection failed", slog.String("issuer", iss.URL), slog.Any("error", err))
	default:
		in.stats.refused.Add(1)
	}
	return Principal{}, nil, e
}

// answer decodes an introspection answer (RFC 7662, section 2.2) as
// strictly as a JWT's claims, and checks what a JWT's signature and times
// would: that it is active, unexpired and from iss. A body that is not a
// JSON object means the endpoint is not working.
func (iss *issuer) answer(body []byte, now time.Time, leeway time.Duration) (*claims, error) {
	if !json.Valid(body) || firstByte(body) != '{' {
		return nil, fail(ReasonIntrospectionDown, errors.New("the answer is not a JSON object"))
	}
	var c claims
	if err := c.UnmarshalJSON(body); err != nil {
		return nil, err
	}
	if string(c.members["active"]) != "true" {
		return nil, fail(ReasonInactive, nil)
	}
	switch {
	case c.expiresAt == nil:
		return nil, fail(ReasonNoExpiry, nil)
	case now.After(c.expiresAt.Add(leeway)):
		return nil, fail(ReasonExpired, nil)
	case c.notBefore != nil && now.Add(leeway).Before(c.notBefore.Time):
		return nil, fail(ReasonNotYetValid, nil)
	case c.issuedAt != nil && now.Add(leeway).Before(c.issuedAt.Time):
		return nil, fail(ReasonIssuedInFuture, nil)
	}
	if _, ok := c.members["iss"]; ok && c.issuer != iss.URL {
		return nil, fail(ReasonWrongIssuer, nil)
	}
	typ, err := c.stringClaim("token_type")
	if err != nil {
		return nil, err
	}
	switch {
	case typ == "refresh_token", typ == "urn:ietf:params:oauth:token-type:refresh_token":
		return nil, fail(ReasonNotAccessToken, errors.New("token_type is a refresh token's"))
	case strings.EqualFold(typ, "DPoP"):
		// A DPoP-bound token's answer names its key (RFC 9449, section
		// 6.2); without it the token would pass as a bearer token.
		if jkt, _, err := c.confirmation(); err != nil || jkt == "" {
			return nil, fail(ReasonMalformedClaims, errors.New("token_type DPoP without cnf.jkt"))
		}
	}
	if err := iss.check(&c, true); err != nil {
		return nil, err
	}
	return &c, nil
}

// firstByte returns the first byte of b that is not JSON white space.
func firstByte(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c
		}
	}
	return 0
}

// IntrospectionStats are the counters of one issuer's introspection.
type IntrospectionStats struct {
	Issuer string
	// Calls counts the requests to the endpoint; each ends as one of
	// Active, Inactive, Refused (active, but not acceptable here) or Errors.
	Calls, Active, Inactive, Refused, Errors int64
	// CacheHits counts the requests answered from the cache.
	CacheHits int64
	// Busy counts the requests answered 503 without a call, as
	// MaxConcurrentIntrospections calls were under way.
	Busy int64
	// LatencySeconds sums the calls' latency; LatencyBuckets counts the
	// calls that took at most each of its bounds, cumulatively.
	LatencySeconds float64
	LatencyBuckets map[float64]uint64
}

// IntrospectionStats returns the introspection counters of each issuer
// that has introspection, for metrics.
func (v *Verifier) IntrospectionStats() []IntrospectionStats {
	var out []IntrospectionStats
	for _, c := range v.cfg.Issuers {
		in := v.issuers[c.URL].introspector
		if in == nil {
			continue
		}
		s := IntrospectionStats{
			Issuer: c.URL, Calls: in.stats.calls.Load(), Active: in.stats.active.Load(), Inactive: in.stats.inactive.Load(),
			Refused: in.stats.refused.Load(), Errors: in.stats.errors.Load(), CacheHits: in.stats.hits.Load(), Busy: in.stats.busy.Load(),
			LatencySeconds: time.Duration(in.stats.nanos.Load()).Seconds(), LatencyBuckets: map[float64]uint64{},
		}
		var sum uint64
		for i, bound := range latencyBuckets {
			sum += uint64(in.stats.buckets[i].Load())
			s.LatencyBuckets[bound] = sum
		}
		out = append(out, s)
	}
	return out
}
