// Package jwks is the key source of package auth: it finds an issuer's
// signing keys through OpenID discovery or a configured JWKS URL, fetches
// and checks them, keeps them fresh, and hands the verifier the keys that may
// verify a token.
//
// It bounds what an issuer can cost (time, size, redirects) and what tokens
// can make it cost the issuer (a limiter on fetches for keys not in hand),
// and tells a key that does not exist from keys that could not be had. It
// knows nothing of tokens' claims or of HTTP responses to clients.
package jwks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Bounds on what the issuer's endpoints may cost us.
const (
	fetchTimeout     = 5 * time.Second
	maxDocumentBytes = 1 << 20
	// refreshEvery is how often keys are fetched while all is well; a token
	// that no key in hand may verify (a kid not yet seen, an alg no key of
	// its kid fits, a signature none verifies) triggers a fetch sooner.
	refreshEvery = 10 * time.Minute
	// retryMin and retryMax bound the back-off while no key could be had.
	retryMin = 250 * time.Millisecond
	retryMax = 5 * time.Second
	// Such tokens (unknown kids, most often) may trigger a fetch at most
	// unknownKIDBurst times in a row, then once every unknownKIDEvery, so a
	// flood of made-up kids or forged signatures costs the issuer a handful
	// of requests. A request never waits for the limiter.
	unknownKIDEvery = 10 * time.Second
	unknownKIDBurst = 3
	// maxKeyAge is how long keys are trusted without a successful fetch: a
	// key the issuer withdrew (say, compromised) must not stay trusted for
	// ever because its JWKS cannot be reached.
	maxKeyAge = 24 * time.Hour
	// refreshWait is the longest a request whose token no key in hand may
	// verify waits for fetches; they go on without it, and later requests
	// find their keys. firstWait is the same for a request that finds no
	// key at all. Both keep a request that cannot be served under three
	// seconds even when the issuer hangs.
	refreshWait = time.Second
	firstWait   = 2 * time.Second
)

// Failures of Find.
var (
	// ErrUnavailable means the keys that could verify the token could not
	// be had: no fetch succeeded yet, the last one failed, or it did not
	// end in time. The token may well be valid; the client should retry.
	ErrUnavailable = errors.New("the issuer's signing keys could not be fetched")
	// ErrUnknownKID means a successful fetch brought no key with the
	// token's kid.
	ErrUnknownKID = errors.New("no signing key of the issuer has the token's kid")
	// ErrAlgMismatch means keys have the token's kid, but none fits its alg.
	ErrAlgMismatch = errors.New("no signing key of the token's kid fits its alg")
)

// errLate means the caller stopped waiting before the fetch ended.
var errLate = errors.New("the fetch did not end in time")

// Source holds one issuer's signing keys. It fetches them lazily and in the
// background (Run), keeps the last good set when a fetch fails, and is safe
// for concurrent use.
//
// It uses jwkset to turn each JWK into a key, but fetches and caches the set
// itself: jwkset's HTTP storage drops a whole set for one bad key, has no size
// cap and no retry while the issuer is down, and fetches once per waiting
// request instead of once for all of them.
type Source struct {
	issuer  string
	jwksURL string // empty until discovered, when not configured
	client  *fetchClient
	log     *slog.Logger
	limiter *rate.Limiter
	flight  singleflight.Group
	// onLoad, when set, is told the fingerprints of each new key set.
	onLoad func(fingerprints []string)
	// now tells the time, for the keys' age and the freshness of tokens.
	now   func() time.Time
	stats struct{ refreshes, failures, waiting atomic.Int64 }

	// fetchMu guards the fetches: the one under way (nil when none runs),
	// how many have started, and the outcome of the last one to end.
	// Joining a fetch and starting one are decided together under it, so a
	// request never starts a fetch the limiter did not allow because one was
	// just ending, and never waits for one that has ended.
	fetchMu  sync.Mutex
	fetching *fetch
	started  uint64
	lastErr  error

	mu         sync.RWMutex
	meta       *Metadata // the issuer's discovery document, once read
	metaFailed time.Time // when Metadata last failed to read it
	keys       []Key
	url        string    // where keys came from
	loadedAt   time.Time // when keys were last fetched
}

// Options are the optional parts of a Source.
type Options struct {
	// OnLoad, if not nil, is told the fingerprints of every key set fetched.
	OnLoad func(fingerprints []string)
	// Now tells the time; nil means time.Now.
	Now func() time.Time
}

// New returns the key source of issuer, whose JWKS is at jwksURL or, when
// that is empty, where its OpenID configuration says. It fetches nothing
// yet.
func New(issuer, jwksURL string, log *slog.Logger, opts Options) *Source {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Source{
		issuer:  issuer,
		jwksURL: jwksURL,
		client:  newFetchClient(),
		log:     log,
		limiter: rate.NewLimiter(rate.Every(unknownKIDEvery), unknownKIDBurst),
		onLoad:  opts.OnLoad,
		now:     opts.Now,
	}
}

// Keys returns the keys in hand, none once they are older than maxKeyAge.
func (s *Source) Keys() []Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.now().Sub(s.loadedAt) > maxKeyAge {
		return nil
	}
	return s.keys
}

// HoldsAll reports whether every one of keys is in the current set.
func (s *Source) HoldsAll(keys []Key) bool {
	return containsAll(s.Keys(), keys)
}

// Stats are a source's counters, for metrics.
type Stats struct {
	// Keys is how many verification keys are in hand.
	Keys int
	// Refreshes counts fetches of the JWKS, Failures those that failed.
	Refreshes, Failures int64
	// Waiting is how many requests wait for a fetch now.
	Waiting int64
}

// Stats returns the source's counters.
func (s *Source) Stats() Stats {
	return Stats{Keys: len(s.Keys()), Refreshes: s.stats.refreshes.Load(), Failures: s.stats.failures.Load(), Waiting: s.stats.waiting.Load()}
}

// Find returns the keys that may verify a token asking q. When none in hand
// may (an empty set, a kid not in it, or no key of its kid for its alg), the
// request waits, up to refreshWait (firstWait with no keys at all), for the
// fetch under way, or starts one if the limiter allows.
//
// It fails with ErrUnavailable when no key is in hand, or the keys could
// not be brought up to date (the fetch failed or did not end in time, or
// the limiter held back a retry after a failed fetch): the token may be
// valid, and the client should retry. A successful fetch that brought no
// key for the token, or a limiter holding back a fetch after one, is
// ErrUnknownKID (no key has its kid) or ErrAlgMismatch (none of its kid
// fits its alg): a flood of made-up kids costs the issuer a handful of
// fetches, and a key rotated right after one is found within
// unknownKIDEvery.
func (s *Source) Find(ctx context.Context, q Query) ([]Key, error) {
	keys := s.Keys()
	if out, _ := q.Candidates(keys); len(out) > 0 {
		return out, nil
	}
	wait := refreshWait
	if len(keys) == 0 {
		wait = firstWait
	}
	keys, err := s.awaitKeys(ctx, wait, func(keys []Key) bool {
		out, _ := q.Candidates(keys)
		return len(out) > 0
	})
	out, kidFound := q.Candidates(keys)
	switch {
	case len(out) > 0:
		return out, nil
	case len(keys) == 0 && err == nil:
		return nil, ErrUnavailable
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case !kidFound:
		return nil, ErrUnknownKID
	}
	return nil, ErrAlgMismatch
}

// Refetched serves a token whose signature none of tried verified, as when
// its issuer replaced a key under the same kid, or has keys that name none.
// It reports whether keys that may verify the token, and were not tried,
// are in hand: at once if a fetch has brought them since the keys were
// tried, or else after waiting, up to refreshWait, for the fetch under way
// or one the limiter allows. When there are none, it fails with
// ErrUnavailable if the keys could not be brought up to date, as Find does;
// otherwise the signature is simply wrong.
func (s *Source) Refetched(ctx context.Context, q Query, tried []Key) (bool, error) {
	untried := func(keys []Key) bool {
		out, _ := q.Candidates(keys)
		return !containsAll(tried, out)
	}
	if untried(s.Keys()) {
		return true, nil
	}
	keys, err := s.awaitKeys(ctx, refreshWait, untried)
	if untried(keys) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return false, nil
}

// awaitKeys waits, up to wait, until the keys serve the caller or no fetch
// can make them: it joins the fetch under way, or starts one if the limiter
// allows and the keys the last fetch stored still do not serve (one may
// have ended since the caller looked). A fetch that began before the caller
// arrived may hold keys older than its token (the issuer may have rotated
// them since), so when it leaves the caller unserved, one more fetch is
// joined or started, within the limiter. It returns the keys in hand then,
// and why they may be out of date: the fetch failed or did not end in
// time, or no fetch was allowed and the last one failed.
func (s *Source) awaitKeys(ctx context.Context, wait time.Duration, serves func([]Key) bool) ([]Key, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	s.fetchMu.Lock()
	arrived := s.started
	s.fetchMu.Unlock()
	for {
		f, err := s.joinOrStart(wctx, func() bool { return !serves(s.Keys()) && s.limiter.Allow() })
		if f == nil {
			if serves(s.Keys()) {
				return s.Keys(), nil
			}
			return s.Keys(), err
		}
		if err := s.waitFor(wctx, f); err != nil {
			return s.Keys(), err
		}
		if f.seq > arrived || serves(s.Keys()) {
			return s.Keys(), nil
		}
		arrived = f.seq
	}
}

// waitFor waits for f to end, counting the caller among the waiting, and
// returns its outcome, or errLate if ctx ends first.
func (s *Source) waitFor(ctx context.Context, f *fetch) error {
	s.stats.waiting.Add(1)
	defer s.stats.waiting.Add(-1)
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return errLate
	}
}

// Run keeps the keys fresh until ctx ends: quickly, with back-off, while it
// has none, and every refreshEvery once it has.
func (s *Source) Run(ctx context.Context) {
	wait := retryMin
	for {
		err := s.refresh(ctx)
		next := refreshEvery
		if err != nil && len(s.Keys()) == 0 {
			next = wait
			wait = min(2*wait, retryMax)
		} else {
			wait = retryMin
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// refresh waits for the fetch under way, or for one it starts, until ctx
// ends.
func (s *Source) refresh(ctx context.Context) error {
	f, _ := s.joinOrStart(ctx, func() bool { return true })
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetch is one fetch of the key set, which any number of callers may wait
// for.
type fetch struct {
	seq  uint64        // its place among the fetches started, from 1
	done chan struct{} // closed when the fetch has ended
	err  error         // its outcome, set before done is closed
}

// joinOrStart returns the fetch under way, or one it starts if mayStart
// allows; or else nil and the outcome of the last fetch to end. The fetch
// goes on whatever becomes of ctx, bounded by fetchTimeout, and logs its
// failure.
func (s *Source) joinOrStart(ctx context.Context, mayStart func() bool) (*fetch, error) {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	if s.fetching != nil {
		return s.fetching, nil
	}
	if !mayStart() {
		return nil, s.lastErr
	}
	s.started++
	f := &fetch{seq: s.started, done: make(chan struct{})}
	s.fetching = f
	go s.doFetch(context.WithoutCancel(ctx), f)
	return f, nil
}

// doFetch loads the key set for f, then marks that no fetch runs: only after
// the keys are stored, so a caller that finds no fetch under way finds its
// keys.
func (s *Source) doFetch(ctx context.Context, f *fetch) {
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	f.err = s.load(fctx)
	s.stats.refreshes.Add(1)
	if f.err != nil {
		s.stats.failures.Add(1)
		s.log.WarnContext(ctx, "jwks refresh failed", "issuer", s.issuer, "error", f.err)
	}
	s.fetchMu.Lock()
	s.fetching, s.lastErr = nil, f.err
	s.fetchMu.Unlock()
	close(f.done)
}

// load fetches the key set and stores it, logging "keys loaded" when its
// keys change.
func (s *Source) load(ctx context.Context) error {
	u := s.jwksURL
	if u == "" {
		var err error
		if u, err = s.discover(ctx); err != nil {
			return err
		}
	}
	body, err := s.client.get(ctx, u)
	if err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	keys, refused, err := ParseSet(s.issuer, body)
	for _, r := range refused {
		s.log.WarnContext(ctx, "jwks key refused", "issuer", s.issuer, "url", u, "kid", r.KID, "error", r.Err)
	}
	if err != nil {
		return fmt.Errorf("jwks at %s: %w", u, err)
	}
	fingerprints := make([]string, len(keys))
	for i, k := range keys {
		fingerprints[i] = k.Fingerprint
	}
	s.mu.Lock()
	changed := s.url != u || !sameKeys(s.keys, keys)
	s.keys, s.url, s.loadedAt = keys, u, time.Now()
	s.mu.Unlock()
	if changed {
		kids := make([]string, len(keys))
		for i, k := range keys {
			kids[i] = k.KID
		}
		s.log.InfoContext(ctx, "keys loaded", "issuer", s.issuer, "url", u, "keys", len(keys), "kids", kids)
	}
	if s.onLoad != nil {
		s.onLoad(fingerprints)
	}
	return nil
}

// sameKeys reports whether a and b hold the same keys, in any order.
func sameKeys(a, b []Key) bool {
	return len(a) == len(b) && containsAll(a, b) && containsAll(b, a)
}

// containsAll reports whether every one of keys is in current.
func containsAll(current, keys []Key) bool {
	for _, k := range keys {
		if !slices.ContainsFunc(current, func(c Key) bool { return c.Fingerprint == k.Fingerprint }) {
			return false
		}
	}
	return true
}
