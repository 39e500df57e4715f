package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Bounds on what the issuer's endpoints may cost us.
const (
	fetchTimeout     = 5 * time.Second
	maxDocumentBytes = 1 << 20
	minRSABits       = 2048
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
	// refreshWait is the longest such a token's request waits for a fetch;
	// the fetch goes on without it, and later requests find its keys. A
	// request that finds no key at all waits up to fetchTimeout, as it can
	// do nothing else.
	refreshWait = time.Second
)

// verificationKey is a public key from the JWKS with what it may verify.
type verificationKey struct {
	kid string
	// alg is the JWK's alg, or "" when it names none.
	alg string
	key crypto.PublicKey
	// fingerprint identifies the key across fetches (see fingerprint).
	fingerprint string
}

// fits reports whether k may verify a signature made with alg: the key type
// must be the algorithm's, and a JWK that names its alg is used with that
// algorithm only.
func (k verificationKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		return want != nil && pub.Curve == want
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// keySet holds the issuer's signing keys. It fetches them lazily, from the
// configured JWKS URL or the one OIDC discovery names, keeps the last good
// set when a fetch fails, and is safe for concurrent use.
//
// It uses jwkset to turn each JWK into a key, but fetches and caches the set
// itself: jwkset's HTTP storage drops a whole set for one bad key, has no size
// cap and no retry while the issuer is down, and fetches once per waiting
// request instead of once for all of them.
type keySet struct {
	issuer  string
	jwksURL string // empty until configured or discovered
	client  *http.Client
	log     *slog.Logger
	limiter *rate.Limiter
	flight  singleflight.Group
	// onLoad, when set, is told the fingerprints of each new key set.
	onLoad func(fingerprints []string)
	stats  stats

	// fetchMu guards fetching, the fetch under way (nil when none runs).
	// Joining it and starting one are decided together under the lock, so
	// a request never starts a fetch the limiter did not allow because one
	// was just ending, and never waits for one that has ended.
	fetchMu  sync.Mutex
	fetching *fetch

	mu         sync.RWMutex
	meta       *Metadata // the issuer's discovery document, once read
	metaFailed time.Time // when metadata last failed to read it
	keys       []verificationKey
	url        string    // where keys came from
	loadedAt   time.Time // when keys were last fetched
}

func newKeySet(issuer, jwksURL string, log *slog.Logger) *keySet {
	return &keySet{
		issuer:  issuer,
		jwksURL: jwksURL,
		client:  newFetchClient(),
		log:     log,
		limiter: rate.NewLimiter(rate.Every(unknownKIDEvery), unknownKIDBurst),
	}
}

// newFetchClient returns the client for the issuer's endpoints: bounded in
// time, and following redirects only within the same origin, so an issuer
// cannot send us to fetch keys from somewhere else.
func newFetchClient() *http.Client {
	return &http.Client{
		Timeout: fetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			if req.URL.Scheme != via[0].URL.Scheme || req.URL.Host != via[0].URL.Host {
				return errors.New("redirect to another origin")
			}
			return nil
		},
	}
}

// snapshot returns the keys in hand, none once they are older than
// maxKeyAge.
func (ks *keySet) snapshot() []verificationKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	if time.Since(ks.loadedAt) > maxKeyAge {
		return nil
	}
	return ks.keys
}

// keyQuery is what a token asks of its issuer's keys: its kid (hasKID
// false when it names none) and its alg.
type keyQuery struct {
	kid    string
	hasKID bool
	alg    string
}

// candidates returns the keys that may verify a token asking q, and whether
// any key has its kid.
func (q keyQuery) candidates(keys []verificationKey) (out []verificationKey, kidFound bool) {
	for _, k := range keys {
		if q.hasKID && k.kid != q.kid {
			continue
		}
		kidFound = true
		if k.fits(q.alg) {
			out = append(out, k)
		}
	}
	return out, kidFound
}

// find returns the keys that may verify a token asking q. When none in hand
// may (an empty set, a kid not in it, or no key of its kid for its alg),
// the request waits, up to refreshWait, for the fetch under way, or starts
// one if the limiter allows.
func (ks *keySet) find(ctx context.Context, q keyQuery) ([]verificationKey, error) {
	keys := ks.snapshot()
	out, kidFound := q.candidates(keys)
	if len(out) == 0 {
		wait := refreshWait
		if len(keys) == 0 {
			wait = fetchTimeout
		}
		keys = ks.awaitKeys(ctx, wait, func(keys []verificationKey) bool {
			out, _ := q.candidates(keys)
			return len(out) > 0
		})
		out, kidFound = q.candidates(keys)
	}
	switch {
	case len(keys) == 0:
		return nil, fail(ErrUnavailable, "the issuer's signing keys are not available yet", nil)
	case !kidFound:
		return nil, fail(ErrInvalidToken, "no signing key of the issuer has the token's kid", errUnknownKey)
	case len(out) == 0:
		return nil, fail(ErrInvalidToken, "the token's alg does not match its signing key", jwt.ErrTokenSignatureInvalid)
	}
	return out, nil
}

// refetched serves a token whose signature none of tried verified, as when
// its issuer replaced a key under the same kid, or has keys that name none.
// It reports whether keys that may verify the token, and were not tried,
// are in hand: at once if a fetch has brought them since the keys were
// tried, or else after waiting, up to refreshWait, for the fetch under way
// or one the limiter allows.
func (ks *keySet) refetched(ctx context.Context, q keyQuery, tried []verificationKey) bool {
	untried := func(keys []verificationKey) bool {
		out, _ := q.candidates(keys)
		return !containsAll(tried, out)
	}
	return untried(ks.snapshot()) || untried(ks.awaitKeys(ctx, refreshWait, untried))
}

// awaitKeys waits, up to wait, for the fetch under way, or for one it
// starts if the limiter allows, and returns the keys in hand then. A fetch
// is started only if the keys the last one stored still do not serve the
// caller: one may have ended since the caller looked. A failed fetch is
// logged; the keys in hand decide.
func (ks *keySet) awaitKeys(ctx context.Context, wait time.Duration, serve func([]verificationKey) bool) []verificationKey {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	_ = ks.refresh(wctx, func() bool { return !serve(ks.snapshot()) && ks.limiter.Allow() })
	return ks.snapshot()
}

// holdsAll reports whether every one of keys is in the current set.
func (ks *keySet) holdsAll(keys []verificationKey) bool {
	return containsAll(ks.snapshot(), keys)
}

// containsAll reports whether every one of keys is in current.
func containsAll(current, keys []verificationKey) bool {
	for _, k := range keys {
		if !slices.ContainsFunc(current, func(c verificationKey) bool { return c.fingerprint == k.fingerprint }) {
			return false
		}
	}
	return true
}

// run keeps the keys fresh until ctx ends: quickly, with back-off, while it
// has none, and every refreshEvery once it has.
func (ks *keySet) run(ctx context.Context) {
	wait := retryMin
	for {
		err := ks.refresh(ctx, nil)
		next := refreshEvery
		if err != nil && len(ks.snapshot()) == 0 {
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

// fetch is one fetch of the key set, which any number of callers may wait
// for.
type fetch struct {
	done chan struct{} // closed when the fetch has ended
	err  error         // its outcome, set before done is closed
}

// errNoFetch means that no fetch ran and none was allowed to start.
var errNoFetch = errors.New("no fetch of the keys allowed now")

// refresh waits for the fetch of the key set under way, or starts one if
// mayStart (nil: always) allows it. A caller waits at most until its ctx
// ends; the fetch goes on, bounded by fetchTimeout, and logs its failure
// once.
func (ks *keySet) refresh(ctx context.Context, mayStart func() bool) error {
	ks.fetchMu.Lock()
	f := ks.fetching
	if f == nil {
		if mayStart != nil && !mayStart() {
			ks.fetchMu.Unlock()
			return errNoFetch
		}
		f = &fetch{done: make(chan struct{})}
		ks.fetching = f
		go ks.doFetch(context.WithoutCancel(ctx), f)
	}
	ks.fetchMu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// doFetch loads the key set for f, then marks that no fetch runs: only after
// the keys are stored, so a caller that finds no fetch under way finds its
// keys.
func (ks *keySet) doFetch(ctx context.Context, f *fetch) {
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	f.err = ks.load(fctx)
	ks.stats.refreshes.Add(1)
	if f.err != nil {
		ks.stats.failures.Add(1)
		ks.log.WarnContext(ctx, "jwks refresh failed", "issuer", ks.issuer, "error", f.err)
	}
	ks.fetchMu.Lock()
	ks.fetching = nil
	ks.fetchMu.Unlock()
	close(f.done)
}

func (ks *keySet) load(ctx context.Context) error {
	u := ks.jwksURL
	if u == "" {
		var err error
		if u, err = ks.discover(ctx); err != nil {
			return err
		}
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := ks.getJSON(ctx, u, &set); err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	keys := make([]verificationKey, 0, len(set.Keys))
	fingerprints := make([]string, 0, len(set.Keys))
	for _, raw := range set.Keys {
		if k, ok := parseJWK(raw); ok {
			k.fingerprint = fingerprint(ks.issuer, k.kid, k.key)
			keys = append(keys, k)
			fingerprints = append(fingerprints, k.fingerprint)
		}
	}
	if len(keys) == 0 {
		return fmt.Errorf("jwks at %s holds no usable signing key", u)
	}
	ks.mu.Lock()
	changed := ks.url != u || len(ks.keys) != len(keys)
	ks.keys, ks.url, ks.loadedAt = keys, u, time.Now()
	ks.mu.Unlock()
	if changed {
		ks.log.InfoContext(ctx, "jwks loaded", "url", u, "keys", len(keys))
	}
	if ks.onLoad != nil {
		ks.onLoad(fingerprints)
	}
	return nil
}

// parseJWK turns one JWK into a verification key, or reports false for a key
// that cannot or must not verify signatures: unparsable, symmetric, weak,
// meant for encryption, or of a type we do not know.
func parseJWK(raw json.RawMessage) (verificationKey, bool) {
	var m jwkset.JWKMarshal
	if err := json.Unmarshal(raw, &m); err != nil {
		return verificationKey{}, false
	}
	if m.USE != "" && m.USE != jwkset.UseSig {
		return verificationKey{}, false
	}
	if len(m.KEYOPS) > 0 && !containsOp(m.KEYOPS, jwkset.KeyOpsVerify) {
		return verificationKey{}, false
	}
	// Only the public part is read, and no URL in the key is ever followed.
	m.D, m.P, m.Q, m.DP, m.DQ, m.QI, m.OTH, m.K, m.X5U = "", "", "", "", "", "", nil, "", ""
	jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return verificationKey{}, false
	}
	k := verificationKey{kid: m.KID, alg: string(m.ALG), key: jwk.Key()}
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		return k, pub.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return k, true
	}
	return verificationKey{}, false
}

func containsOp(ops []jwkset.KEYOPS, op jwkset.KEYOPS) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// Metadata is what the API reads of an issuer's OpenID configuration.
type Metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
}

// discover reads the issuer's OpenID configuration and returns its jwks_uri,
// after checking that the document speaks for our issuer; it keeps the
// document for metadata.
func (ks *keySet) discover(ctx context.Context) (string, error) {
	u := strings.TrimSuffix(ks.issuer, "/") + "/.well-known/openid-configuration"
	var doc Metadata
	if err := ks.getJSON(ctx, u, &doc); err != nil {
		return "", fmt.Errorf("openid discovery: %w", err)
	}
	if doc.Issuer != ks.issuer {
		return "", fmt.Errorf("openid discovery at %s names issuer %q, not %q", u, doc.Issuer, ks.issuer)
	}
	if err := CheckURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("openid discovery at %s: jwks_uri: %w", u, err)
	}
	ks.mu.Lock()
	ks.meta = &doc
	ks.mu.Unlock()
	return doc.JWKSURI, nil
}

// metadataRetry is how long a failed discovery is not tried again on behalf
// of a caller of metadata, so anonymous requests cannot drive the issuer.
const metadataRetry = 30 * time.Second

// metadata returns the issuer's discovery document, reading it if no fetch
// has yet (as when the JWKS URL is configured): once for all concurrent
// callers, and not again for metadataRetry after a failure.
func (ks *keySet) metadata(ctx context.Context) (Metadata, error) {
	ks.mu.RLock()
	meta, failed := ks.meta, ks.metaFailed
	ks.mu.RUnlock()
	if meta != nil {
		return *meta, nil
	}
	if time.Since(failed) < metadataRetry {
		return Metadata{}, errors.New("openid discovery failed recently")
	}
	_, err, _ := ks.flight.Do("metadata", func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		_, err := ks.discover(fctx)
		if err != nil {
			ks.mu.Lock()
			ks.metaFailed = time.Now()
			ks.mu.Unlock()
		}
		return nil, err
	})
	if err != nil {
		return Metadata{}, err
	}
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return *ks.meta, nil
}

// stats are a key set's counters, for metrics.
type stats struct {
	refreshes, failures atomic.Int64
}

// getJSON fetches u and decodes its JSON body into dst, reading at most
// maxDocumentBytes.
func (ks *keySet) getJSON(ctx context.Context, u string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", u, err)
	}
	if len(body) > maxDocumentBytes {
		return fmt.Errorf("%s sent more than %d bytes", u, maxDocumentBytes)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("decode %s: %w", u, err)
	}
	return nil
}

// CheckURL accepts an https URL, or an http URL whose host is loopback: keys
// and discovery must never travel in the clear over a network.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || strings.ContainsFunc(raw, unicode.IsSpace) {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q uses plain http to a host that is not loopback; use https", raw)
	}
	return fmt.Errorf("%q must use https", raw)
}

// IsLoopback reports whether host is localhost or a loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
