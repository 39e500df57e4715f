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

// pipelined runs the statement query with args on PostgreSQL, scoped to
// owner, in one round trip, and read on its results, which it must read
// before it returns. It buys what a transaction of four round trips (BEGIN,
// set_config, the statement, COMMIT) and gorm's statement builder cost
// every read and create (docs/performance.md has the measurements);
// TestPipelinedMatchesTransactions pins it against that plain path.
//
// Why the owner is set for the statement, and for no other:
//   - It takes a connection of the pool for itself (sql.DB.Conn), so no
//     other request's messages can come between its own.
//   - pgx sends the batch in the extended protocol as Bind/Execute of
//     setOwner, Bind/Execute of query, then a single Sync, in that order,
//     on one connection. PostgreSQL runs the messages up to a Sync in
//     order, in one implicit transaction: query runs after set_config, in
//     the same transaction. If set_config fails, PostgreSQL skips every
//     message up to the Sync, so query never runs unscoped.
//   - set_config's third argument, true, makes the setting local to that
//     transaction, which the Sync ends (COMMIT, or ROLLBACK after an error):
//     the connection goes back to the pool without the owner, and a
//     statement that does not set one sees no row at all. A connection that
//     fails in between is closed by pgx, and database/sql drops it.
//   - The policy calls current_setting when the statement runs, not when it
//     is planned, so the prepared statements pgx caches per connection
//     (its default QueryExecModeCacheStatement) read the owner of each run.
//
// It returns only once PostgreSQL has answered the Sync, so a create it
// reports as done is committed.
func (r *Orders) pipelined(ctx context.Context, owner models.OwnerID, query string, args []any, read func(br pgx.BatchResults) error) error {
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
		b := pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 2)}
		b.Queue(setOwner, string(owner))
		b.Queue(query, args...)
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
