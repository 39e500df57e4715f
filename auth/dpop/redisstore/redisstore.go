// Package redisstore keeps the DPoP proofs used in Redis, so that every
// replica on one Redis refuses a proof used on any: a dpop.ReplayStore of
// one SET key NX PX ttl per proof, which Redis expires by itself.
package redisstore

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coffeemesh/orders/auth/dpop"
)

// KeyPrefix starts every key the store writes, so that it can share a Redis
// with other data.
const KeyPrefix = "orders:dpop:"

// Store is a dpop.ReplayStore in Redis. It is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
}

// New returns a store on client, which the caller closes.
func New(client redis.UniversalClient) *Store {
	return &Store{client: client}
}

// Timeouts of a client from Open unless its URL sets its own (dial_timeout,
// read_timeout, write_timeout): a Redis that does not answer is a 503 in
// about a second rather than a request held for many.
const (
	DialTimeout = time.Second
	IOTimeout   = 500 * time.Millisecond
)

// Open returns a client for redisURL ("redis://[user:password@]host:port/db"
// or "rediss://..." for TLS, with go-redis's query parameters) and a store
// on it. The client does not retry a command unless the URL sets
// max_retries: a SET NX whose answer was lost would be refused as a replay
// when retried. The caller closes the client. It does not connect: the
// first Use does.
func Open(redisURL string) (*Store, *redis.Client, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("redis url: %w", err)
	}
	u, err := url.Parse(redisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("redis url: %w", err)
	}
	q := u.Query()
	if !q.Has("max_retries") {
		opts.MaxRetries = -1 // go-redis: -1 disables retries, 0 means 3
	}
	if !q.Has("dial_timeout") {
		opts.DialTimeout = DialTimeout
	}
	if !q.Has("read_timeout") {
		opts.ReadTimeout = IOTimeout
	}
	if !q.Has("write_timeout") {
		opts.WriteTimeout = IOTimeout
	}
	client := redis.NewClient(opts)
	return New(client), client, nil
}

// Use implements dpop.ReplayStore: SET id NX with the time left until
// expires, at least a millisecond. A Redis that cannot answer is
// dpop.ErrStoreFault.
func (s *Store) Use(ctx context.Context, id string, expires time.Time) error {
	ttl := max(time.Until(expires), time.Millisecond)
	ok, err := s.client.SetNX(ctx, KeyPrefix+id, 1, ttl).Result()
	switch {
	case err != nil:
		return fmt.Errorf("%w: redis: %w", dpop.ErrStoreFault, err)
	case !ok:
		return dpop.ErrReplay
	}
	return nil
}
