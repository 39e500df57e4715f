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
// proof is kept for up to twice the largest MaxAge after it is used, so
// this holds 60-second proofs of about 8,000 requests a second, more than
// one instance verifies, in about 60 MB at most.
const DefaultMemoryStoreSize = 1 << 20

// MemoryStore is a ReplayStore in this process's memory, bounded in size.
// Entries leave as they expire, a few on each Use, so its cost does not
// grow with its size; while it is full of live entries it refuses to record
// more, with ErrStoreFault, rather than forget a proof that could then be
// replayed. It keeps the first 128 bits of the SHA-256 of each id, so a
// long jti costs no more than a short one, and nothing it holds is a
// pointer the garbage collector must follow. It is safe for concurrent use.
type MemoryStore struct {
	mu   sync.Mutex
	live map[entryKey]struct{}
	// expiries orders the live entries by expiry, the first to expire at
	// its root.
	expiries expiryHeap
	size     int
	now      func() time.Time
}

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
	return &MemoryStore{live: make(map[entryKey]struct{}), size: size, now: now}
}

// Use implements ReplayStore.
func (s *MemoryStore) Use(_ context.Context, id string, expires time.Time) error {
	sum := sha256.Sum256([]byte(id))
	key := entryKey(sum[:len(entryKey{})])
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UnixNano()
	for len(s.expiries) > 0 && s.expiries[0].until < now {
		delete(s.live, heap.Pop(&s.expiries).(expiry).key)
	}
	if _, ok := s.live[key]; ok {
		return ErrReplay
	}
	if len(s.live) >= s.size {
		return ErrStoreFault
	}
	s.live[key] = struct{}{}
	heap.Push(&s.expiries, expiry{until: expires.UnixNano(), key: key})
	return nil
}

// entryKey is what a MemoryStore keeps of an id: 128 bits of its hash,
// which two ids of the at most a million held share with a chance of
// about 2^-89.
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
