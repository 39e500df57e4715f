// Package ratelimit keeps rate limits by key with the generic cell rate
// algorithm (GCRA, a leaky bucket): in Redis, shared by every replica that
// uses the same Redis (github.com/go-redis/redis_rate), or in this
// process's memory (golang.org/x/time/rate).
//
// It knows nothing of HTTP or of who the keys are: its callers choose
// them, and decide what to do when Redis fails.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Limit is Rate requests per Period, in bursts of at most Burst.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// Validate checks that l allows some requests.
func (l Limit) Validate() error {
	if l.Rate < 1 || l.Period <= 0 || l.Burst < 1 {
		return fmt.Errorf("rate limit %d per %s in bursts of %d: want a rate, a period and a burst above 0", l.Rate, l.Period, l.Burst)
	}
	return nil
}

// Window is how long an empty quota takes to fill up again: the window
// over which Burst requests are allowed.
func (l Limit) Window() time.Duration {
	return time.Duration(math.Ceil(float64(l.Period) * float64(l.Burst) / float64(l.Rate)))
}

// Result is a key's quota after a Take.
type Result struct {
	// Allowed says whether the requests taken were allowed; for a Take of
	// none, whether one more would be.
	Allowed bool
	// Remaining is how many requests the quota allows now.
	Remaining int
	// RetryAfter, when a request was refused, is how long until one is
	// allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the quota is full again.
	ResetAfter time.Duration
}

// Limiter keeps a quota per key. It is safe for concurrent use.
type Limiter struct {
	limit Limit
	// redis is set for a limiter in Redis, whose keys start with prefix.
	redis  *redis_rate.Limiter
	prefix string
	// memory holds the quotas of a limiter in memory.
	memory *memory
}

// NewRedis returns a limiter of limit whose quotas are kept in Redis
// through client, under keys that start with prefix, so that every
// replica on the same Redis shares them.
func NewRedis(client redis.UniversalClient, prefix string, limit Limit) (*Limiter, error) {
	if err := limit.Validate(); err != nil {
		return nil, err
	}
	return &Limiter{limit: limit, redis: redis_rate.NewLimiter(client), prefix: prefix}, nil
}

// NewMemory returns a limiter of limit whose quotas are kept in this
// process's memory, for at most maxKeys keys at once (see memory).
func NewMemory(limit Limit, maxKeys int) (*Limiter, error) {
	if err := limit.Validate(); err != nil {
		return nil, err
	}
	return &Limiter{limit: limit, memory: &memory{limit: limit, maxKeys: maxKeys, quotas: map[string]*rate.Limiter{}}}, nil
}

// Limit returns the limit l keeps.
func (l *Limiter) Limit() Limit { return l.limit }

// ErrStore means the limiter's store (Redis) did not answer: whether the
// request is allowed is unknown.
var ErrStore = errors.New("rate limit store failed")

// Take takes n requests, 0 or 1, from key's quota if it allows them, and
// returns the quota as it is then. Take of 0 only looks. Its only error,
// from Redis, matches ErrStore.
func (l *Limiter) Take(ctx context.Context, key string, n int) (Result, error) {
	if l.memory != nil {
		return l.memory.take(key, n, time.Now()), nil
	}
	sum := sha256.Sum256([]byte(key)) // bounds the length of a key chosen by a caller
	res, err := l.redis.AllowN(ctx, l.prefix+hex.EncodeToString(sum[:]), redis_rate.Limit{Rate: l.limit.Rate, Burst: l.limit.Burst, Period: l.limit.Period}, n)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrStore, err)
	}
	allowed := res.Allowed > 0
	if n == 0 {
		allowed = res.Remaining > 0
	}
	return Result{Allowed: allowed, Remaining: res.Remaining, RetryAfter: max(res.RetryAfter, 0), ResetAfter: max(res.ResetAfter, 0)}, nil
}

// memory keeps quotas in a map. A quota that is full again holds nothing
// worth keeping: when the map reaches maxKeys, those are dropped, and if
// none is, every quota is, so that a flood of keys can neither grow the
// map without end nor keep a refused key refused for longer than its
// window.
type memory struct {
	limit   Limit
	maxKeys int
	mu      sync.Mutex
	quotas  map[string]*rate.Limiter
}

func (m *memory) take(key string, n int, now time.Time) Result {
	every := rate.Limit(float64(m.limit.Rate) / m.limit.Period.Seconds())
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.quotas[key]
	if !ok {
		if n == 0 {
			return Result{Allowed: true, Remaining: m.limit.Burst}
		}
		if len(m.quotas) >= m.maxKeys {
			m.dropFull(now)
		}
		q = rate.NewLimiter(every, m.limit.Burst)
		m.quotas[key] = q
	}
	res := Result{Allowed: true}
	switch {
	case n == 0:
		res.Allowed = q.TokensAt(now) >= 1
		if !res.Allowed {
			res.RetryAfter = durationOf(1-q.TokensAt(now), every)
		}
	default:
		r := q.ReserveN(now, n)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			res.Allowed, res.RetryAfter = false, d
		}
	}
	tokens := q.TokensAt(now)
	res.Remaining = max(int(tokens), 0)
	res.ResetAfter = durationOf(float64(m.limit.Burst)-tokens, every)
	return res
}

// dropFull drops the quotas that are full at now, or every quota if none
// is.
func (m *memory) dropFull(now time.Time) {
	for k, q := range m.quotas {
		if q.TokensAt(now) >= float64(m.limit.Burst) {
			delete(m.quotas, k)
		}
	}
	if len(m.quotas) >= m.maxKeys {
		clear(m.quotas)
	}
}

// durationOf is how long tokens take to come back at limit every.
func durationOf(tokens float64, every rate.Limit) time.Duration {
	if tokens <= 0 {
		return 0
	}
	return time.Duration(tokens / float64(every) * float64(time.Second))
}
