package repository

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/coffeemesh/orders/models"
)

// ErrProofUsed is returned by UsedProofs.Use for a key already recorded and
// not yet expired.
var ErrProofUsed = errors.New("the proof has been used before")

// ProofPurgeInterval is how often UsedProofs deletes its expired rows: at
// most once per interval, on a Use.
const ProofPurgeInterval = time.Minute

// UsedProofs records used DPoP proofs in PostgreSQL's dpop_proofs table, so
// that every replica on the database refuses a proof used on any. It is
// safe for concurrent use.
type UsedProofs struct {
	db *gorm.DB
	mu sync.Mutex
	// purged is when the expired rows were last deleted.
	purged time.Time
}

// NewUsedProofs returns a store on db, a PostgreSQL database whose schema
// migrations.Up has made.
func NewUsedProofs(db *gorm.DB) (*UsedProofs, error) {
	if db.Dialector.Name() != "postgres" {
		return nil, fmt.Errorf("used DPoP proofs are kept in PostgreSQL only, not in %s", db.Dialector.Name())
	}
	return &UsedProofs{db: db}, nil
}

// Use records key until expires, in one statement that inserts it or takes
// over an expired row of the same key. It returns ErrProofUsed if key is
// recorded and has not expired, and an error matching models.ErrUnavailable
// if the database cannot answer. Expired rows are deleted at most once per
// ProofPurgeInterval, before the insert.
func (u *UsedProofs) Use(ctx context.Context, key string, expires time.Time) error {
	if err := u.purge(ctx); err != nil {
		return err
	}
	res := u.db.WithContext(ctx).Exec(`INSERT INTO dpop_proofs (key, expires) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET expires = EXCLUDED.expires WHERE dpop_proofs.expires < now()`, key, expires)
	switch {
	case res.Error != nil:
		return proofStoreError(res.Error)
	case res.RowsAffected == 0:
		return ErrProofUsed
	}
	return nil
}

// purge deletes the expired rows if the last purge is more than
// ProofPurgeInterval ago.
func (u *UsedProofs) purge(ctx context.Context) error {
	u.mu.Lock()
	due := time.Since(u.purged) >= ProofPurgeInterval
	if due {
		u.purged = time.Now()
	}
	u.mu.Unlock()
	if !due {
		return nil
	}
	if err := u.db.WithContext(ctx).Exec(`DELETE FROM dpop_proofs WHERE expires < now()`).Error; err != nil {
		u.mu.Lock()
		u.purged = time.Time{}
		u.mu.Unlock()
		return proofStoreError(err)
	}
	return nil
}

// proofStoreError wraps err, which leaves it unknown whether a proof was
// used, so that it matches models.ErrUnavailable: the caller must refuse.
func proofStoreError(err error) error {
	return fmt.Errorf("%w: used DPoP proofs: %w", models.ErrUnavailable, err)
}
