package repository

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/coffeemesh/orders/models"
)

// KeyPurgeInterval is how often a store deletes expired idempotency keys:
// at most once per interval, after a change made under a key.
const KeyPurgeInterval = time.Minute

// keyPurgeBatch bounds the expired keys one purge deletes, so that a purge
// after a long pause is many short statements, one per interval, rather
// than one long one.
const keyPurgeBatch = 1000

// The statements of idempotency keys. Every one names its owner but the
// purge's, which deletes expired keys of every owner: on PostgreSQL, a
// connection scoped to no owner sees no other row (migration 0006).
const (
	// dropExpiredKey frees owner's key $2 if it has expired, so that the
	// insert after it may take it again.
	dropExpiredKey = "DELETE FROM idempotency_keys WHERE owner = $1 AND key = $2 AND expires <= $3"
	insertKey      = "INSERT INTO idempotency_keys (owner, key, fingerprint, status, location, etag, content_type, body, created, expires)" +
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
	selectKey = "SELECT fingerprint, status, location, etag, content_type, body FROM idempotency_keys" +
		" WHERE owner = $1 AND key = $2 AND expires > $3"
	purgeKeys = "DELETE FROM idempotency_keys WHERE (owner, key) IN" +
		" (SELECT owner, key FROM idempotency_keys WHERE expires <= $1 LIMIT $2)"
)

// keyStatements are the statements that store once's key for owner, with
// answer, after an expired row of the same key, if any, is dropped. The
// insert fails with a unique violation if owner holds the key already.
func keyStatements(owner models.OwnerID, once models.Once, answer models.Answer, now time.Time) []statement {
	return []statement{
		{dropExpiredKey, []any{string(owner), once.Key, now.UnixMicro()}},
		{insertKey, []any{string(owner), once.Key, once.Fingerprint, answer.Status, answer.Location, answer.ETag,
			answer.ContentType, string(answer.Body), now.UnixMicro(), once.Expires.UnixMicro()}},
	}
}

// CreateOnce is Create under once: the order and owner's once.Key, with the
// answer once.Answer gives for the new order, are stored in one
// transaction, or neither is. It returns models.ErrConflict, and creates
// nothing, when owner holds once.Key already: Answered then returns the
// first answer.
func (r *Orders) CreateOnce(ctx context.Context, owner models.OwnerID, items []models.Item, once models.Once) (models.Order, error) {
	row, err := newOrderRow(owner, items)
	if err != nil {
		return models.Order{}, err
	}
	o, err := row.toModel()
	if err != nil {
		return models.Order{}, err
	}
	now := time.Now()
	stmts := append(keyStatements(owner, once, once.Answer(o), now),
		statement{insertOrder, []any{row.ID, row.Owner, row.Created, row.Status, row.Items, row.Version}})
	var prepared []*sql.Stmt
	if r.pool == nil {
		prepared, err = r.prepare(ctx, stmts)
	}
	if err != nil {
		return models.Order{}, fmt.Errorf("create order under an idempotency key: %w", err)
	}
	if r.pool != nil {
		err = r.pipelined(ctx, owner, func(br pgx.BatchResults) error {
			for range stmts {
				if _, err := br.Exec(); err != nil {
					return driverError(r.db, err)
				}
			}
			return nil
		}, stmts...)
	} else {
		err = r.transaction(ctx, owner, func(tx *gorm.DB) error { return execAll(tx, stmts, prepared) })
	}
	if err != nil {
		return models.Order{}, fmt.Errorf("create order under an idempotency key: %w", translate(err))
	}
	r.purgeKeys(ctx, now)
	return o, nil
}

// TransitionOnce is Transition under once: the change and owner's
// once.Key, with the answer once.Answer gives for the changed order, are
// stored in one transaction, or neither is. It returns what Transition
// returns, and models.ErrConflict, changing nothing, when owner holds
// once.Key already: Answered then returns the first answer.
func (r *Orders) TransitionOnce(ctx context.Context, owner models.OwnerID, id models.OrderID, t models.Transition, match models.Version, once models.Once) (models.Order, error) {
	ch := change{t.From, match, "status", string(t.To)}
	now := time.Now()
	// The key's statements, with no arguments yet, to prepare them before
	// the transaction.
	prepared, err := r.prepare(ctx, keyStatements(owner, once, models.Answer{}, now))
	if err != nil {
		return models.Order{}, fmt.Errorf("update status of order %s under an idempotency key: %w", id, err)
	}
	var o models.Order
	err = r.transaction(ctx, owner, func(tx *gorm.DB) error {
		var err error
		if o, err = updateIn(tx, owner, id, ch); err != nil {
			return err
		}
		return execAll(tx, keyStatements(owner, once, once.Answer(o), now), prepared)
	})
	if err != nil {
		return models.Order{}, fmt.Errorf("update status of order %s under an idempotency key: %w", id, translate(err))
	}
	r.purgeKeys(ctx, now)
	return o, nil
}

// Answered returns the answer stored with owner's idempotency key, if it
// has not expired; models.ErrNotFound otherwise. Another owner's key of
// the same name is never seen.
func (r *Orders) Answered(ctx context.Context, owner models.OwnerID, key string) (models.Answer, error) {
	var (
		a    models.Answer
		body string
	)
	args := []any{string(owner), key, time.Now().UnixMicro()}
	scan := func(row interface{ Scan(...any) error }) error {
		return row.Scan(&a.Fingerprint, &a.Status, &a.Location, &a.ETag, &a.ContentType, &body)
	}
	var err error
	if r.pool != nil {
		err = r.pipelined(ctx, owner, func(br pgx.BatchResults) error { return scan(br.QueryRow()) }, statement{selectKey, args})
	} else {
		err = r.scoped(ctx, owner, func(tx *gorm.DB) error {
			return scan(tx.Statement.ConnPool.QueryRowContext(tx.Statement.Context, selectKey, args...))
		})
	}
	if err != nil {
		return models.Answer{}, fmt.Errorf("read idempotency key: %w", translate(err))
	}
	a.Body = []byte(body)
	return a, nil
}

// transaction runs fn in one transaction scoped to owner (see scoped),
// on SQLite too, where scoped runs none. SQLite runs one writing
// transaction at a time, and makes the others wait in its busy handler,
// which sleeps in steps of up to 100 ms: the store's own transactions
// queue on a mutex instead, and each starts as soon as the one before
// ends.
func (r *Orders) transaction(ctx context.Context, owner models.OwnerID, fn func(tx *gorm.DB) error) error {
	if r.rowSecurity {
		return r.scoped(ctx, owner, fn)
	}
	r.sqliteWrites.Lock()
	defer r.sqliteWrites.Unlock()
	return r.db.WithContext(context.WithoutCancel(ctx)).Transaction(fn) // WithoutCancel: see scoped
}

// execAll runs stmts in tx, in order, up to the first that fails: each
// through its statement of prepared (see prepare) when tx is a transaction
// of database/sql and prepared holds them, else through gorm's pool.
func execAll(tx *gorm.DB, stmts []statement, prepared []*sql.Stmt) error {
	sqlTx := sqlTransaction(tx)
	for i, s := range stmts {
		var err error
		if sqlTx != nil && len(prepared) == len(stmts) {
			_, err = sqlTx.StmtContext(tx.Statement.Context, prepared[i]).ExecContext(tx.Statement.Context, s.args...)
		} else {
			_, err = tx.Statement.ConnPool.ExecContext(tx.Statement.Context, s.sql, s.args...)
		}
		if err != nil {
			return driverError(tx, err)
		}
	}
	return nil
}

// sqlTransaction returns the transaction of database/sql under tx, or nil.
func sqlTransaction(tx *gorm.DB) *sql.Tx {
	switch p := tx.Statement.ConnPool.(type) {
	case *sql.Tx:
		return p
	case *gorm.PreparedStmtTX:
		t, _ := p.Tx.(*sql.Tx)
		return t
	}
	return nil
}

// prepare returns the statements of stmts prepared on the store's pool,
// each once per store, in order; nil for a store on a transaction's
// handle. gorm's cache of prepared statements (gorm.Config.PrepareStmt)
// keeps a statement it first meets in a transaction as that
// transaction's, which database/sql cannot lend to another
// (sql.Tx.StmtContext prepares it again, a round trip on PostgreSQL): a
// statement of the pool it lends to every transaction, prepared once per
// connection. Call it before the transaction begins, which may hold the
// pool's last connection that a first prepare would wait for.
func (r *Orders) prepare(ctx context.Context, stmts []statement) ([]*sql.Stmt, error) {
	if r.prepareOn == nil {
		return nil, nil
	}
	r.preparedMu.Lock()
	defer r.preparedMu.Unlock()
	out := make([]*sql.Stmt, len(stmts))
	for i, s := range stmts {
		ps, ok := r.prepared[s.sql]
		if !ok {
			var err error
			if ps, err = r.prepareOn.PrepareContext(ctx, s.sql); err != nil {
				return nil, fmt.Errorf("prepare statement: %w", err)
			}
			r.prepared[s.sql] = ps
		}
		out[i] = ps
	}
	return out, nil
}

// keyPurge is when a store last purged expired idempotency keys.
type keyPurge struct {
	mu   sync.Mutex
	last time.Time
}

// due reports whether a purge is due at now, and if so counts it as done.
func (p *keyPurge) due(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.last) < KeyPurgeInterval {
		return false
	}
	p.last = now
	return true
}

// purgeKeys deletes up to keyPurgeBatch expired idempotency keys of any
// owner, at most once per KeyPurgeInterval. A failure is left for the next
// purge: an expired key is never answered anyway (Answered), and a new use
// of it drops it first (dropExpiredKey).
func (r *Orders) purgeKeys(ctx context.Context, now time.Time) {
	if !r.purge.due(now) {
		return
	}
	_ = r.db.WithContext(context.WithoutCancel(ctx)).Exec(purgeKeys, now.UnixMicro(), keyPurgeBatch).Error // see the comment above
}

// driverError turns err, from a statement run beside gorm, into gorm's
// error for it where gorm's dialect knows one (gorm.ErrDuplicatedKey for a
// unique violation, which translate makes models.ErrConflict).
func driverError(db *gorm.DB, err error) error {
	if t, ok := db.Dialector.(gorm.ErrorTranslator); ok && err != nil {
		if g := t.Translate(err); g != err {
			return fmt.Errorf("%w: %w", g, err)
		}
	}
	return err
}
