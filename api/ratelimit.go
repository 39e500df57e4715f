package api

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/auth"
)

var (
	// errRateLimited means the caller has made more requests than its
	// rate limit allows.
	errRateLimited = errors.New("too many requests from this caller; retry after the time in Retry-After")
	// errTooManyFailures means too many requests from the client's address
	// failed authentication.
	errTooManyFailures = errors.New("too many requests from this address failed authentication; retry after the time in Retry-After")
)

// RateLimit is a limit on requests (draft-ietf-httpapi-ratelimit-headers):
// Quota requests per Window, whose quotas, one per key, Take keeps.
type RateLimit struct {
	// Policy names the limit in the RateLimit-Policy and RateLimit headers.
	Policy string
	Quota  int
	Window time.Duration
	// Take takes n requests, 0 or 1, from key's quota if it allows them,
	// and returns the quota as it is then; with 0 it only looks. An error
	// means the quotas cannot be read: the request is let through.
	Take func(ctx context.Context, key string, n int) (Quota, error)
}

// Quota is a key's quota after a RateLimit.Take.
type Quota struct {
	// Allowed says whether the requests were allowed (for 0 requests,
	// whether one would be).
	Allowed bool
	// Remaining is how many requests are allowed now.
	Remaining int
	// RetryAfter, when a request was refused, is how long until one is
	// allowed; ResetAfter, how long until the quota is full again.
	RetryAfter, ResetAfter time.Duration
}

// limiting holds what the rate limits need: the limits of Config, the
// log and metrics for a limiter that fails, and when it last logged.
type limiting struct {
	cfg        Config
	log        *slog.Logger
	m          *metrics
	lastWarned atomic.Int64
}

// warnInterval bounds how often a failing limiter is logged: once per
// interval, however many requests it lets through.
const warnInterval = 10 * time.Second

// failOpen lets a request through whose limit could not be read, counts
// it, and logs why at most once per warnInterval.
func (l *limiting) failOpen(ctx context.Context, rl *RateLimit, err error) {
	l.m.control("limiter_unavailable")
	now := time.Now().UnixNano()
	last := l.lastWarned.Load()
	if now-last >= int64(warnInterval) && l.lastWarned.CompareAndSwap(last, now) {
		l.log.WarnContext(ctx, "rate limiter unavailable; requests go through unlimited", "policy", rl.Policy, "error", err)
	}
}

// perCaller limits each authenticated caller, by owner, to
// Config.CallerLimit; nil when there is no such limit. Every answer says
// the caller's quota; an answer over it is 429 with Retry-After.
func (l *limiting) perCaller(writeError auth.WriteError) gin.HandlerFunc {
	rl := l.cfg.CallerLimit
	if rl == nil {
		return nil
	}
	fields := newRateFields(rl)
	return func(c *gin.Context) {
		who, err := owner(c)
		if err != nil {
			writeError(c, err)
			return
		}
		q, err := rl.Take(c.Request.Context(), string(who), 1)
		if err != nil {
			l.failOpen(c.Request.Context(), rl, err)
			return
		}
		setRateHeaders(c, fields, q)
		if !q.Allowed {
			l.m.control("rate_limited")
			writeError(c, errRateLimited)
		}
	}
}

// guardAuthentication runs authenticate unless too many requests from
// the client's address (see clientAddr) have failed authentication
// lately (Config.FailedAuthLimit), so that a flood of bad tokens is
// refused before any signature is checked. Only a request that sent
// credentials and was refused 401 counts as a failure.
//
// The address's quota is looked at only if this process saw a failure
// from it within the limit's window (recentFailures): the quota of any
// other address is full, unless other replicas spent it, and then this
// process checks one bad token from there before it looks too. Clients
// whose tokens are good never wait for Redis here.
func (l *limiting) guardAuthentication(authenticate gin.HandlerFunc, writeError auth.WriteError) gin.HandlerFunc {
	rl := l.cfg.FailedAuthLimit
	if rl == nil {
		return authenticate
	}
	fields := newRateFields(rl)
	recent := &recentFailures{window: rl.Window, at: map[netip.Addr]time.Time{}}
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		ip := clientAddr(c.Request, l.cfg.TrustedProxies)
		if recent.seen(ip, time.Now()) {
			q, err := rl.Take(ctx, ip.String(), 0)
			if err != nil {
				l.failOpen(ctx, rl, err)
			} else if !q.Allowed {
				setRateHeaders(c, fields, q)
				l.m.control("failed_auth_limited")
				writeError(c, errTooManyFailures)
				return
			}
		}
		authenticate(c)
		if !c.IsAborted() || c.Writer.Status() != http.StatusUnauthorized || c.GetHeader("Authorization") == "" {
			return
		}
		recent.add(ip, time.Now())
		if _, err := rl.Take(ctx, ip.String(), 1); err != nil {
			l.failOpen(ctx, rl, err)
		}
	}
}

// maxRecentFailures bounds the addresses recentFailures remembers; past
// it, it forgets them all, and each then costs one more checked token.
const maxRecentFailures = 100_000

// recentFailures are the client addresses whose authentication failed in
// this process within window. It is safe for concurrent use.
type recentFailures struct {
	window time.Duration
	mu     sync.Mutex
	at     map[netip.Addr]time.Time
}

// seen reports whether addr failed within the window before now.
func (r *recentFailures) seen(addr netip.Addr, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.at[addr]
	return ok && now.Sub(at) < r.window
}

// add records a failure of addr at now.
func (r *recentFailures) add(addr netip.Addr, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.at) >= maxRecentFailures {
		clear(r.at)
	}
	r.at[addr] = now
}

// The names of the fields of draft-ietf-httpapi-ratelimit-headers-09, in
// the canonical form of net/http, which would otherwise make that form
// anew for every answer; field names are case-insensitive.
const (
	rateLimitPolicyField = "Ratelimit-Policy"
	rateLimitField       = "Ratelimit"
)

// setRateHeaders says rl's policy and q in the RateLimit-Policy and
// RateLimit fields (draft-ietf-httpapi-ratelimit-headers-09), and, when q
// refused the request, when to retry in Retry-After (RFC 9110, 10.2.3).
func setRateHeaders(c *gin.Context, f rateFields, q Quota) {
	h := c.Writer.Header()
	h[rateLimitPolicyField] = f.policy
	h[rateLimitField] = []string{f.name + ";r=" + strconv.Itoa(q.Remaining) + ";t=" + seconds(q.ResetAfter)}
	if !q.Allowed {
		c.Header("Retry-After", seconds(max(q.RetryAfter, time.Second)))
	}
}

// rateFields is what the fields of one limit hold whatever the quota:
// made once, not for every answer.
type rateFields struct {
	// name is the policy's name, quoted.
	name string
	// policy is the RateLimit-Policy field.
	policy []string
}

func newRateFields(rl *RateLimit) rateFields {
	name := strconv.Quote(rl.Policy)
	return rateFields{name: name, policy: []string{name + ";q=" + strconv.Itoa(rl.Quota) + ";w=" + seconds(rl.Window)}}
}

// seconds is d in whole seconds, rounded up.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
}

// clientAddr is the address of the client that sent r: the peer's, unless
// the peer is one of the trusted proxies, which say in X-Forwarded-For
// whom they forward for. Then it is the rightmost address there that is
// not itself a trusted proxy, since only the entries the trusted proxies
// appended can be believed; every address to its left may be forged. An
// entry that is not an address stops the walk at the last one believed.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	isTrusted := func(a netip.Addr) bool {
		return slices.ContainsFunc(trusted, func(n netip.Prefix) bool { return n.Contains(a) })
	}
	if !isTrusted(addr) {
		return addr
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr
		}
		addr = hop.Unmap()
		if !isTrusted(addr) {
			return addr
		}
	}
	return addr
}
