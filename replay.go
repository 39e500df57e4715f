package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/auth/dpop/redisstore"
	"github.com/coffeemesh/orders/repository"
)

// Where the DPoP proofs used are kept, as the log names it.
const (
	replayRedis    = "redis"
	replayPostgres = "postgres"
	replayMemory   = "memory"
)

// replayStore returns the store of the DPoP proofs used that cfg calls for,
// its name for the log, and a function that releases it: Redis when
// ORDERS_REDIS_URL is set, else the database when it is PostgreSQL, both
// shared by every replica; else nil, which is this process's memory.
func replayStore(cfg config, db *gorm.DB) (dpop.ReplayStore, string, func(), error) {
	if cfg.redisURL != "" {
		store, client, err := redisstore.Open(cfg.redisURL)
		if err != nil {
			return nil, "", nil, err
		}
		return store, replayRedis, func() { client.Close() }, nil
	}
	if db.Dialector.Name() == "postgres" {
		proofs, err := repository.NewUsedProofs(db)
		if err != nil {
			return nil, "", nil, err
		}
		return usedProofs{proofs}, replayPostgres, func() {}, nil
	}
	return nil, replayMemory, func() {}, nil
}

// usedProofs is the repository's table of used proofs as a
// dpop.ReplayStore.
type usedProofs struct {
	proofs *repository.UsedProofs
}

// Use implements dpop.ReplayStore: a key already used is dpop.ErrReplay,
// any other failure dpop.ErrStoreFault.
func (u usedProofs) Use(ctx context.Context, id string, expires time.Time) error {
	err := u.proofs.Use(ctx, id, expires)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, repository.ErrProofUsed):
		return dpop.ErrReplay
	}
	return fmt.Errorf("%w: %w", dpop.ErrStoreFault, err)
}
