package auth

import (
	"crypto/sha256"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/coffeemesh/orders/auth/jwks"
)

// DefaultCacheSize and DefaultCacheTTL bound the verified-token cache.
const (
	DefaultCacheSize = 10000
	DefaultCacheTTL  = 5 * time.Minute
)

// tokenCache remembers tokens that passed every check, so that the next
// request with the same token skips the signature: the expensive part. It
// is keyed by the SHA-256 of the whole token, holds at most its size, and an
// entry lives no longer than the token's exp nor the cache's TTL; exp and
// nbf are checked again on every hit. Entries whose signing key left the
// issuer's JWKS are dropped when the new set is loaded. It is safe for
// concurrent use.
type tokenCache struct {
	entries *lru.Cache[[sha256.Size]byte, cached]
	ttl     time.Duration
	leeway  time.Duration
	now     func() time.Time
	// sweep orders put against dropUnless: a put checks that its keys are
	// still in hand and adds its entry under it, and a sweep, which follows
	// every change of keys, waits for it; so an entry is either refused or
	// swept, never left behind by a sweep that ran between the two.
	sweep sync.Mutex
}

// cached is a verified token.
type cached struct {
	principal Principal
	// until is when the entry stops being trusted: the token's exp plus
	// leeway, or the cache's TTL after it was stored, whichever is first.
	until time.Time
	// notBefore is the token's nbf less leeway.
	notBefore time.Time
	// keys are the fingerprints of the keys that may have verified it.
	keys []string
	// hits counts the hits of an entry its issuer's introspection vouched
	// for; nil for others.
	hits *atomic.Int64
}

func newTokenCache(size int, ttl, leeway time.Duration, now func() time.Time) *tokenCache {
	entries, err := lru.New[[sha256.Size]byte, cached](size)
	if err != nil {
		return nil // a size of 0 turns the cache off
	}
	return &tokenCache{entries: entries, ttl: ttl, leeway: leeway, now: now}
}

// get returns the principal of token if it is cached and still valid.
func (tc *tokenCache) get(token string) (Principal, bool) {
	if tc == nil {
		return Principal{}, false
	}
	k := tokenKey(token)
	e, ok := tc.entries.Get(k)
	if !ok {
		return Principal{}, false
	}
	now := tc.now()
	if now.After(e.until) || now.Before(e.notBefore) {
		tc.entries.Remove(k)
		return Principal{}, false
	}
	if e.hits != nil {
		e.hits.Add(1)
	}
	return e.principal, true
}

// put stores a token that passed every check, if held reports that every
// key that may have verified it is still in hand.
func (tc *tokenCache) put(token string, p Principal, c *claims, keys []jwks.Key, held func() bool) {
	if tc == nil || c.expiresAt == nil {
		return
	}
	tc.add(token, tc.entry(p, c, keys), held)
}

// entry is the entry of a token that passed every check: it lives until
// the token's exp plus leeway, and no longer than the cache's TTL.
func (tc *tokenCache) entry(p Principal, c *claims, keys []jwks.Key) cached {
	e := cached{principal: p, until: c.expiresAt.Add(tc.leeway)}
	e.limit(tc.now().Add(tc.ttl))
	if c.notBefore != nil {
		e.notBefore = c.notBefore.Add(-tc.leeway)
	}
	for _, k := range keys {
		e.keys = append(e.keys, k.Fingerprint)
	}
	return e
}

// limit makes e live no later than t.
func (e *cached) limit(t time.Time) {
	if t.Before(e.until) {
		e.until = t
	}
}

// add stores e for token if held reports that every key that may have
// verified it is still in hand.
func (tc *tokenCache) add(token string, e cached, held func() bool) {
	if tc == nil {
		return
	}
	key := tokenKey(token)
	tc.sweep.Lock()
	defer tc.sweep.Unlock()
	if held() {
		tc.entries.Add(key, e)
	}
}

// maxCachedLookup is the longest token hashed from a copy on the stack.
const maxCachedLookup = 4 << 10

// tokenKey is the cache's key for token: its SHA-256, hashed from a copy on
// the stack up to maxCachedLookup bytes, as []byte(token) would copy every
// token to the heap.
func tokenKey(token string) [sha256.Size]byte {
	var buf [maxCachedLookup]byte
	if len(token) <= len(buf) {
		return sha256.Sum256(buf[:copy(buf[:], token)])
	}
	return sha256.Sum256([]byte(token))
}

// dropUnless removes the entries verified by a key not in current.
func (tc *tokenCache) dropUnless(current []string) {
	if tc == nil {
		return
	}
	tc.sweep.Lock()
	defer tc.sweep.Unlock()
	for _, k := range tc.entries.Keys() {
		if e, ok := tc.entries.Peek(k); ok && slices.ContainsFunc(e.keys, func(fp string) bool { return !slices.Contains(current, fp) }) {
			tc.entries.Remove(k)
		}
	}
}
