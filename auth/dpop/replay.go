package dpop

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// ReplayStore remembers the proofs already used, so that each is accepted
// once. Implementations shared by replicas (PostgreSQL, Redis) let a proof
// used on one be refused on another; MemoryStore serves one instance.
type ReplayStore interface {
	// Use records id until expires. It returns ErrReplay if id is recorded
	// and has not expired, and an error matching ErrStoreFault if it
	// cannot tell: callers must then refuse the proof (fail closed).
	Use(ctx context.Context, id string, expires time.Time) error
}

// DefaultMemoryStoreSize bounds a MemoryStore unless told otherwise: a
// proof is kept until MaxAge after its iat, up to twice MaxAge after it is
// used, so with the default MaxAge of 60 s this holds the proofs of at
// least 8,700 requests a second, in about 60 MB (docs/security.md).
const DefaultMemoryStoreSize = 1 << 20

// MemoryStore is a ReplayStore in this process's memory, bounded in size.
// Entries leave in the order they expire, a few on each Use (a full store
// removes them until one has left), so no call pays for a whole backlog,
// such as the one an idle minute leaves; an expired entry not yet gone
// counts as gone. While
// the store is full of live entries it refuses to record more, with
// ErrStoreFault, rather than forget a proof that could then be replayed. It
// keeps the first 128 bits of the SHA-256 of each id, so a long jti costs
// no more than a short one, and nothing it holds is a pointer the garbage
// collector must follow. It is safe for concurrent use.
type MemoryStore struct {
	mu sync.Mutex
	// live holds each entry's expiry, in Unix nanoseconds.
	live map[entryKey]int64
	// expiries orders the entries by expiry, the first to expire at its
	// root; an entry recorded again after it expired is in it twice.
	expiries expiryHeap
	size     int
	now      func() time.Time
}

// expiredPerUse is how many expired entries a Use removes at most: each
// call adds at most one, so a few keep up.
const expiredPerUse = 4

// NewMemoryStore returns a store of at most size entries (0 means
// DefaultMemoryStoreSize) that tells the time with now (nil means
// time.Now).
func NewMemoryStore(size int, now func() time.Time) *MemoryStore {
	if size <= 0 {
		size = DefaultMemoryStoreSize
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{live: make(map[entryKey]int64), size: size, now: now}
}

// Use implements ReplayStore.
func (s *MemoryStore) Use(_ context.Context, id string, expires time.Time) error {
	sum := sha256.Sum256([]byte(id))
	key := entryKey(sum[:len(entryKey{})])
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UnixNano()
	s.removeExpired(now, expiredPerUse)
	until, ok := s.live[key]
	if ok && until >= now {
		return ErrReplay
	}
	for !ok && len(s.live) >= s.size && s.removeExpired(now, 1) {
	}
	if !ok && len(s.live) >= s.size {
		return ErrStoreFault
	}
	s.live[key] = expires.UnixNano()
	heap.Push(&s.expiries, expiry{until: expires.UnixNano(), key: key})
	return nil
}

// removeExpired removes up to n entries expired at now, first to expire
// first, and reports whether it removed any. A heap entry for an expiry its
// key no longer has (the key was recorded again) goes without the key.
func (s *MemoryStore) removeExpired(now int64, n int) bool {
	removed := false
	for ; n > 0 && len(s.expiries) > 0 && s.expiries[0].until < now; n-- {
		e := heap.Pop(&s.expiries).(expiry)
		removed = true
		if s.live[e.key] == e.until {
			delete(s.live, e.key)
		}
	}
	return removed
}

// entryKey is what a MemoryStore keeps of an id: 128 bits of its hash,
// which two ids of the at most a million held share with a chance of
// about 2^-89; were they to, the second would be refused as a replay, never
// a replay accepted.
type entryKey [16]byte

// expiry is when an entry of a MemoryStore expires.
type expiry struct {
	until int64
	key   entryKey
}

// expiryHeap is a min-heap of expiries, for container/heap.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until < h[j].until }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
