package repository

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/coffeemesh/orders/models"
)

// setOwner scopes the implicit transaction it runs in to an owner, for the
// row-level security policy of migration 0002; it is the first statement of
// every pipelined batch.
const setOwner = "SELECT set_config('app.owner', $1, true)"

// statement is one SQL statement of a pipelined batch, with its arguments.
type statement struct {
	sql  string
	args []any
}

// pipelined runs stmts on PostgreSQL, in order, scoped to owner, in one
// round trip and one transaction, and read on their results, which it
// reads in the same order before it returns. It buys what a transaction of
// four round trips (BEGIN, set_config, the statement, COMMIT) and gorm's
// statement builder cost every call (docs/performance.md has the
// measurements); TestPipelinedMatchesTransactions and
// TestPipelinedChangesMatchTransactions pin it against that plain path.
// The first time a connection meets a statement, pgx prepares it in a
// round trip of its own, which runs nothing. stmts are the repository's
// own, none of them transaction control, which would end the implicit
// transaction.
//
// Why the owner is set for the statement, and for no other:
//   - It takes a connection of the pool for itself (sql.DB.Conn), so no
//     other request's messages can come between its own.
//   - pgx sends the batch in the extended protocol as Bind/Execute of
//     setOwner, Bind/Execute of each of stmts, then a single Sync, in that
//     order, on one connection. PostgreSQL runs the messages up to a Sync in
//     order, in one implicit transaction: stmts run after set_config, in
//     the same transaction. If a statement fails, PostgreSQL skips every
//     message up to the Sync and rolls the transaction back, so no
//     statement runs unscoped and none after a failed one.
//   - set_config's third argument, true, makes the setting local to that
//     transaction, which the Sync ends (COMMIT, or ROLLBACK after an error):
//     the connection goes back to the pool without the owner, and a
//     statement that does not set one sees no row at all. A connection that
//     fails in between is closed by pgx, and database/sql drops it.
//   - The policy calls current_setting when the statement runs, not when it
//     is planned, so the prepared statements pgx caches per connection
//     (its default QueryExecModeCacheStatement) read the owner of each run.
//
// It returns only once PostgreSQL has answered the Sync, so a change it
// reports as done is committed.
func (r *Orders) pipelined(ctx context.Context, owner models.OwnerID, read func(br pgx.BatchResults) error, stmts ...statement) error {
	conn, err := r.pool.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }() // returns it to the pool; its only error is that it was returned already
	return conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pipeline: connection of driver %T, not pgx", driverConn)
		}
		b := pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 1+len(stmts))}
		b.Queue(setOwner, string(owner))
		for _, s := range stmts {
			b.Queue(s.sql, s.args...)
		}
		br := c.Conn().SendBatch(ctx, &b)
		_, err := br.Exec()
		if err != nil {
			err = fmt.Errorf("scope to owner: %w", err)
		} else {
			err = read(br)
		}
		if closeErr := br.Close(); err == nil {
			err = closeErr
		}
		return err
	})
}
