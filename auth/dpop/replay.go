package dpop

import (
	"context"
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

// DefaultMemoryStoreSize bounds a MemoryStore unless told otherwise.
const DefaultMemoryStoreSize = 100000

// MemoryStore is a ReplayStore in this process's memory, bounded in size:
// expired entries are dropped when it is full, and while it is full of
// live entries it refuses to record more, with ErrStoreFault, rather than
// forget a proof that could then be replayed. It is safe for concurrent
// use.
type MemoryStore struct {
	mu      sync.Mutex
	entries map[string]time.Time
	size    int
	now     func() time.Time
	// earliest is no later than the first expiry among entries, so a full
	// store is not swept before anything can have expired.
	earliest time.Time
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
	return &MemoryStore{entries: make(map[string]time.Time), size: size, now: now}
}

// Use implements ReplayStore.
func (s *MemoryStore) Use(_ context.Context, id string, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if until, ok := s.entries[id]; ok && !now.After(until) {
		return ErrReplay
	}
	if len(s.entries) >= s.size {
		s.sweep(now)
	}
	if len(s.entries) >= s.size {
		return ErrStoreFault
	}
	if len(s.entries) == 0 || expires.Before(s.earliest) {
		s.earliest = expires
	}
	s.entries[id] = expires
	return nil
}

// sweep drops the entries expired at now, if any can be.
func (s *MemoryStore) sweep(now time.Time) {
	if !now.After(s.earliest) {
		return
	}
	var earliest time.Time
	for id, until := range s.entries {
		switch {
		case now.After(until):
			delete(s.entries, id)
		case earliest.IsZero() || until.Before(earliest):
			earliest = until
		}
	}
	s.earliest = earliest
}
