package repository

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/coffeemesh/orders/models"
)

// Orders is the store of orders. It is safe for concurrent use.
type Orders struct {
	db *gorm.DB
	// rowSecurity is set on PostgreSQL, whose row-level security policy
	// needs the owner set in each transaction.
	rowSecurity bool
	// pool, set on PostgreSQL when db is a connection pool (not a
	// transaction), gives that pool's connections, waiting for one no
	// longer than Open's bound: every call runs on its pgx connections in
	// one round trip (see pipelined).
	pool connSource
	// purge is when expired idempotency keys were last deleted.
	purge keyPurge
	// sqliteWrites queues the transactions of transaction on SQLite.
	sqliteWrites sync.Mutex
	// prepareOn is the pool that prepare prepares the statements of keyed
	// changes on, nil for a store on a transaction's handle; prepared holds
	// them, by their SQL.
	prepareOn  *sql.DB
	preparedMu sync.Mutex
	prepared   map[string]*sql.Stmt
}

// connSource gives connections of a pool: an *sql.DB, or the boundedPool
// of Open, which waits for one no longer than its bound.
type connSource interface {
	Conn(ctx context.Context) (*sql.Conn, error)
}

// NewOrders returns a store on db, whose schema migrations.Up has made.
func NewOrders(db *gorm.DB) *Orders {
	r := &Orders{db: db, rowSecurity: db.Dialector.Name() == "postgres", prepared: map[string]*sql.Stmt{}}
	// A store on a transaction's handle runs in that transaction: db.DB()
	// would return the pool beneath it, whose calls the transaction would
	// not hold.
	_, inTx := db.Statement.ConnPool.(gorm.TxCommitter)
	pool, err := db.DB()
	if !inTx && err == nil {
		r.prepareOn = pool
	}
	if r.rowSecurity && !inTx && err == nil {
		r.pool = pool
		if bounded, ok := unprepared(db.Statement.ConnPool).(boundedPool); ok {
			r.pool = bounded
		}
	}
	return r
}

// unprepared returns the pool under gorm's cache of prepared statements,
// or p itself when there is none.
func unprepared(p gorm.ConnPool) gorm.ConnPool {
	if ps, ok := p.(*gorm.PreparedStmtDB); ok {
		return ps.ConnPool
	}
	return p
}

// scoped runs fn with a handle on the database scoped to owner. On
// PostgreSQL that is a transaction whose app.owner setting the row-level
// security policy reads, so even a query that forgot its owner filter sees
// owner's rows only; SQLite has no such policy, and every query here names
// its owner anyway. Every method of Orders runs in it, the reads through query.
func (r *Orders) scoped(ctx context.Context, owner models.OwnerID, fn func(tx *gorm.DB) error) error {
	if !r.rowSecurity {
		// A context that can be cancelled makes mattn/go-sqlite3 start a
		// goroutine for every row it reads, to watch it: a large part of a
		// list's cost (docs/performance.md). SQLite statements here are
		// short and local, and the busy timeout bounds their waits, so they
		// run to the end.
		return fn(r.db.WithContext(context.WithoutCancel(ctx)))
	}
	db := r.db.WithContext(ctx)
	return db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SELECT set_config('app.owner', ?, true)", string(owner)).Error; err != nil {
			return fmt.Errorf("scope transaction to owner: %w", err)
		}
		return fn(tx)
	})
}

// orderRow is an order as stored: one row, its items a JSON array, its
// creation time in microseconds since 1970-01-01 UTC (see migration 0003).
type orderRow struct {
	ID      string `gorm:"column:id;primaryKey"`
	Owner   string `gorm:"column:owner"`
	Created int64  `gorm:"column:created"`
	Status  string `gorm:"column:status"`
	Items   string `gorm:"column:items"`
	Version int64  `gorm:"column:version"`
}

func (orderRow) TableName() string { return "orders" }

func (r orderRow) toModel() (models.Order, error) {
	o, _, err := r.appendModel(nil)
	return o, err
}

// appendModel returns the order r stores, appending its items to items,
// whose memory the order shares.
func (r orderRow) appendModel(items []models.Item) (models.Order, []models.Item, error) {
	n := len(items)
	items, err := appendItems(items, r.Items)
	if err != nil {
		return models.Order{}, items, fmt.Errorf("decode items of order %s: %w", r.ID, err)
	}
	return models.Order{
		ID:      models.OrderID(r.ID),
		Owner:   models.OwnerID(r.Owner),
		Created: time.UnixMicro(r.Created).UTC(),
		Status:  models.Status(r.Status),
		Items:   items[n:len(items):len(items)],
		Version: models.Version(r.Version),
	}, items, nil
}

// Create stores a new order of owner with the given items, which the caller
// has validated, and returns it with its id, creation time and status. It
// returns only once the order is committed; any error means it was not.
func (r *Orders) Create(ctx context.Context, owner models.OwnerID, items []models.Item) (models.Order, error) {
	row, err := newOrderRow(owner, items)
	if err != nil {
		return models.Order{}, err
	}
	if r.pool != nil {
		insert := statement{insertOrder, []any{row.ID, row.Owner, row.Created, row.Status, row.Items, row.Version}}
		err = r.pipelined(ctx, owner, func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err == nil && tag.RowsAffected() != 1 {
				err = fmt.Errorf("insert stored %d rows", tag.RowsAffected())
			}
			return err
		}, insert)
	} else {
		err = r.scoped(ctx, owner, func(tx *gorm.DB) error { return tx.Create(&row).Error })
	}
	if err != nil {
		return models.Order{}, fmt.Errorf("create order: %w", translate(err))
	}
	return row.toModel()
}

// newOrderRow returns the row of a new order of owner with items.
func newOrderRow(owner models.OwnerID, items []models.Item) (orderRow, error) {
	id, err := models.NewOrderID()
	if err != nil {
		return orderRow{}, fmt.Errorf("new order id: %w", err)
	}
	enc, err := encodeItems(items)
	if err != nil {
		return orderRow{}, err
	}
	return orderRow{ID: string(id), Owner: string(owner), Created: time.Now().UnixMicro(), Status: string(models.StatusCreated), Items: enc, Version: 1}, nil
}

// Get returns the order with the given id if it is owned by owner.
// It returns models.ErrNotFound when the order does not exist or has another
// owner; callers cannot tell the two apart, by design.
func (r *Orders) Get(ctx context.Context, owner models.OwnerID, id models.OrderID) (models.Order, error) {
	var o models.Order
	err := r.query(ctx, owner, getOrder, []any{string(owner), string(id)}, func(rows rowReader) error {
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return sql.ErrNoRows
		}
		var text string
		if err := rows.scanText(&text); err != nil {
			return err
		}
		var err error
		o, _, err = parseOrderText(owner, text, nil)
		return err
	})
	if err != nil {
		return models.Order{}, fmt.Errorf("get order %s: %w", id, translate(err))
	}
	return o, nil
}

// The read paths, which serve every GET, run their SQL on the connection
// pool's prepared statements and scan rows themselves: gorm's statement
// builder and its reflection over the row cost about as much as the query
// (docs/performance.md).
// Their placeholders are numbered, which SQLite and PostgreSQL both read.
//
// They select an order as one text, orderText: the drivers allocate two
// objects for every column of every row they return, most of a list's
// allocations otherwise. Every part but the last holds no
// space: created and version are digits, status is checked against its values, and id is
// a UUID, which Create alone writes; items, an array whatever it holds,
// come last. An id with a space, which no call of the API can write, would
// make its order unreadable: what follows the id must be the array.
//
// A list wraps each parameter in a CAST: SQLite plans a query with an
// ORDER BY for the values bound to bare parameters, and so prepared it
// again on every call. The LIMIT is bound the same
// way: written into the SQL, each limit would be a statement of its own,
// prepared on every pooled connection.
const (
	orderText  = "CAST(created AS TEXT) || ' ' || CAST(version AS TEXT) || ' ' || status || ' ' || id || ' ' || items"
	getOrder   = "SELECT " + orderText + " FROM orders WHERE owner = $1 AND id = $2"
	listOrders = "SELECT " + orderText + " FROM orders WHERE owner = CAST($1 AS TEXT)"
	// insertOrder is Create's statement on PostgreSQL, where it runs
	// without gorm (see pipelined).
	insertOrder = "INSERT INTO orders (id, owner, created, status, items, version) VALUES ($1, $2, $3, $4, $5, $6)"
	// deleteOrder is Delete's statement: the order, if it has the version
	// $3 requires (any, for models.AnyVersion).
	deleteOrder = "DELETE FROM orders WHERE owner = $1 AND id = $2 AND (CAST($3 AS BIGINT) = 0 OR version = CAST($3 AS BIGINT))"
	// orderVersion tells a missing order from one whose status or version
	// refused a change, and which of the two refused it.
	orderVersion = "SELECT version FROM orders WHERE owner = $1 AND id = $2"
)

// parseOrderText reads an order of owner selected as orderText, appending
// its items to items, whose memory the order shares.
func parseOrderText(owner models.OwnerID, text string, items []models.Item) (models.Order, []models.Item, error) {
	created, rest, _ := strings.Cut(text, " ")
	version, rest, _ := strings.Cut(rest, " ")
	status, rest, _ := strings.Cut(rest, " ")
	id, enc, ok := strings.Cut(rest, " ")
	micros, err := strconv.ParseInt(created, 10, 64)
	v, verr := strconv.ParseInt(version, 10, 64)
	if !ok || err != nil || verr != nil || !strings.HasPrefix(enc, "[") {
		return models.Order{}, items, fmt.Errorf("read order: %d bytes that are not an order's text", len(text))
	}
	return orderRow{ID: id, Owner: string(owner), Created: micros, Status: status, Items: enc, Version: v}.appendModel(items)
}

// listQuery returns the statement that selects the page q of owner's
// orders, and its arguments.
func listQuery(owner models.OwnerID, q models.ListQuery) (string, []any) {
	query := listOrders
	args := []any{string(owner)}
	if q.Cancelled != nil {
		if *q.Cancelled {
			query += " AND status = CAST($2 AS TEXT)"
		} else {
			query += " AND status <> CAST($2 AS TEXT)"
		}
		args = append(args, string(models.StatusCancelled))
	}
	if q.After != nil {
		n := len(args)
		query += fmt.Sprintf(" AND (created < CAST($%d AS BIGINT) OR (created = CAST($%d AS BIGINT) AND id < CAST($%d AS TEXT)))", n+1, n+1, n+2)
		args = append(args, q.After.Created.UnixMicro(), string(q.After.ID))
	}
	args = append(args, q.Limit+1)
	return query + fmt.Sprintf(" ORDER BY created DESC, id DESC LIMIT CAST($%d AS BIGINT)", len(args)), args
}

// rowReader is the rows of orderText a read selected, from database/sql or
// from pgx.
type rowReader interface {
	Next() bool
	// scanText scans the current row's only column into dst.
	scanText(dst *string) error
	Err() error
}

// sqlRows are database/sql's rows as a rowReader.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) scanText(dst *string) error { return r.Scan(dst) }

// pgxRows are pgx's rows as a rowReader.
type pgxRows struct{ pgx.Rows }

func (r pgxRows) scanText(dst *string) error { return r.Scan(dst) }

// query runs the read statement query with args scoped to owner, as scoped
// scopes a handle, and fn on the rows it selects. On SQLite it runs on the
// pool of prepared statements itself: a gorm session, which clones its
// statement, would cost a read more than its query's allocations. On
// PostgreSQL it runs pipelined, in one round trip, or, on a store without a
// pool of its own, in a transaction.
func (r *Orders) query(ctx context.Context, owner models.OwnerID, query string, args []any, fn func(rows rowReader) error) error {
	switch {
	case !r.rowSecurity:
		return readRows(context.WithoutCancel(ctx), r.db.Statement.ConnPool, query, args, fn) // WithoutCancel: see scoped
	case r.pool != nil:
		return r.pipelined(ctx, owner, func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			defer rows.Close()
			return fn(pgxRows{rows})
		}, statement{query, args})
	}
	return r.scoped(ctx, owner, func(tx *gorm.DB) error {
		return readRows(tx.Statement.Context, tx.Statement.ConnPool, query, args, fn)
	})
}

// readRows runs query with args on pool, and fn on its rows.
func readRows(ctx context.Context, pool gorm.ConnPool, query string, args []any, fn func(rows rowReader) error) error {
	rows, err := pool.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return fn(sqlRows{rows})
}

// List returns one page of owner's orders, newest first, as q selects; it
// never returns another owner's order, and an error only for a database
// failure.
// Pages are stable while orders are added: a page starts strictly after the
// cursor of the one before, so no order is skipped or repeated.
func (r *Orders) List(ctx context.Context, owner models.OwnerID, q models.ListQuery) (models.Page, error) {
	query, args := listQuery(owner, q)
	page := models.Page{Orders: make([]models.Order, 0, q.Limit)}
	more := false
	err := r.query(ctx, owner, query, args, func(res rowReader) error {
		var (
			text  string // one variable for every row: it escapes, through Scan
			items []models.Item
		)
		for res.Next() {
			if len(page.Orders) == q.Limit {
				more = true // the query's one row more than a page
				break
			}
			err := res.scanText(&text)
			if err != nil {
				return err
			}
			var o models.Order
			if o, items, err = parseOrderText(owner, text, items); err != nil {
				return err
			}
			if len(page.Orders) == 0 {
				// The other orders' items go in one array, sized for
				// orders like the first.
				items = make([]models.Item, 0, len(items)*(q.Limit-1))
			}
			page.Orders = append(page.Orders, o)
		}
		return res.Err()
	})
	if err != nil {
		return models.Page{}, fmt.Errorf("list orders: %w", translate(err))
	}
	if more && len(page.Orders) > 0 {
		last := page.Orders[len(page.Orders)-1]
		page.Next = &models.Cursor{Created: last.Created, ID: last.ID}
	}
	return page, nil
}

// ReplaceItems replaces the items of owner's order id while its status allows
// it (models.EditableFrom) and it has version match (any, for
// models.AnyVersion), and returns the order as stored.
// It returns models.ErrNotFound as Get does, models.ErrStale when the order
// has another version, and models.ErrConflict when the order's status does
// not allow the change.
func (r *Orders) ReplaceItems(ctx context.Context, owner models.OwnerID, id models.OrderID, items []models.Item, match models.Version) (models.Order, error) {
	enc, err := encodeItems(items)
	if err != nil {
		return models.Order{}, err
	}
	return r.updateWhile(ctx, owner, id, change{models.EditableFrom(), match, "items", enc})
}

// Transition applies t to owner's order id if its status allows it and it
// has version match (any, for models.AnyVersion), in one statement, so two
// concurrent transitions cannot both succeed from the same status or
// version. It returns the order as stored, models.ErrNotFound as Get does,
// models.ErrStale when the order has another version, and
// models.ErrConflict when t does not start from the order's status.
func (r *Orders) Transition(ctx context.Context, owner models.OwnerID, id models.OrderID, t models.Transition, match models.Version) (models.Order, error) {
	return r.updateWhile(ctx, owner, id, change{t.From, match, "status", string(t.To)})
}

// change is one conditional update of an order: set column to value, and
// count one more version, if the order's status is one of from and its
// version is match (any, for models.AnyVersion). column is one of the
// repository's own names, never input.
type change struct {
	from   []models.Status
	match  models.Version
	column string
	value  any
}

// updateWhile makes ch on owner's order id. When no row changes, it reads
// the order's version, still scoped to owner, to tell a missing order from
// a stale or conflicting one.
func (r *Orders) updateWhile(ctx context.Context, owner models.OwnerID, id models.OrderID, ch change) (models.Order, error) {
	var (
		o   models.Order
		err error
	)
	if r.pool != nil {
		o, err = r.updatePipelined(ctx, owner, id, ch)
	} else {
		o, err = r.updateScoped(ctx, owner, id, ch)
	}
	if err != nil {
		return models.Order{}, fmt.Errorf("update %s of order %s: %w", ch.column, id, translate(err))
	}
	return o, nil
}

// refusal says why a change that names version match changed no row of an
// order whose version is current: models.ErrStale if the versions differ,
// models.ErrConflict (its status) otherwise.
func refusal(match models.Version, current int64) error {
	if match != models.AnyVersion && int64(match) != current {
		return models.ErrStale
	}
	return models.ErrConflict
}

// updateScoped is updateWhile in a transaction.
func (r *Orders) updateScoped(ctx context.Context, owner models.OwnerID, id models.OrderID, ch change) (models.Order, error) {
	var o models.Order
	err := r.scoped(ctx, owner, func(tx *gorm.DB) error {
		var err error
		o, err = updateIn(tx, owner, id, ch)
		return err
	})
	return o, err
}

// updateIn is updateWhile on tx.
func updateIn(tx *gorm.DB, owner models.OwnerID, id models.OrderID, ch change) (models.Order, error) {
	var rows []orderRow
	q := tx.Model(&rows).
		Clauses(clause.Returning{}).
		Where("owner = ? AND id = ? AND status IN ?", string(owner), string(id), statusStrings(ch.from))
	if ch.match != models.AnyVersion {
		q = q.Where("version = ?", int64(ch.match))
	}
	if err := q.Updates(map[string]any{ch.column: ch.value, "version": gorm.Expr("version + 1")}).Error; err != nil {
		return models.Order{}, err
	}
	if len(rows) == 1 {
		return rows[0].toModel()
	}
	var current int64
	if err := tx.Statement.ConnPool.QueryRowContext(tx.Statement.Context, orderVersion, string(owner), string(id)).Scan(&current); err != nil {
		return models.Order{}, err
	}
	return models.Order{}, refusal(ch.match, current)
}

// updatePipelined is updateWhile on PostgreSQL in one round trip (see
// pipelined): the update, then, in the same transaction, the order's
// version, which tells a missing order from a stale or conflicting one
// when the update changed no row.
func (r *Orders) updatePipelined(ctx context.Context, owner models.OwnerID, id models.OrderID, ch change) (models.Order, error) {
	update := statement{"UPDATE orders SET " + ch.column + " = $3, version = version + 1" +
		" WHERE owner = $1 AND id = $2 AND status = ANY($4) AND (CAST($5 AS BIGINT) = 0 OR version = CAST($5 AS BIGINT))" +
		" RETURNING " + orderText,
		[]any{string(owner), string(id), ch.value, statusStrings(ch.from), int64(ch.match)}}
	var o models.Order
	err := r.pipelined(ctx, owner, func(br pgx.BatchResults) error {
		var text string
		err := br.QueryRow().Scan(&text)
		updated := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var current int64
		if err := br.QueryRow().Scan(&current); err != nil {
			return err // pgx.ErrNoRows when the order is missing
		}
		if !updated {
			return refusal(ch.match, current)
		}
		o, _, err = parseOrderText(owner, text, nil)
		return err
	}, update, statement{orderVersion, []any{string(owner), string(id)}})
	return o, err
}

// Delete removes owner's order id if it has version match (any, for
// models.AnyVersion). It returns models.ErrNotFound as Get does, and
// models.ErrStale when the order has another version.
func (r *Orders) Delete(ctx context.Context, owner models.OwnerID, id models.OrderID, match models.Version) error {
	args := []any{string(owner), string(id), int64(match)}
	var err error
	if r.pool != nil {
		err = r.pipelined(ctx, owner, func(br pgx.BatchResults) error {
			tag, err := br.Exec()
			if err != nil || tag.RowsAffected() == 1 {
				return err
			}
			var current int64
			if err := br.QueryRow().Scan(&current); err != nil {
				return err // pgx.ErrNoRows when the order is missing
			}
			return models.ErrStale
		}, statement{deleteOrder, args}, statement{orderVersion, args[:2]})
	} else {
		err = r.scoped(ctx, owner, func(tx *gorm.DB) error {
			res, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, deleteOrder, args...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 1 {
				return err
			}
			var current int64
			if err := tx.Statement.ConnPool.QueryRowContext(tx.Statement.Context, orderVersion, args[:2]...).Scan(&current); err != nil {
				return err // sql.ErrNoRows when the order is missing
			}
			return models.ErrStale
		})
	}
	if err != nil {
		return fmt.Errorf("delete order %s: %w", id, translate(err))
	}
	return nil
}

func statusStrings(ss []models.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// translate maps gorm's and the driver's errors to the domain's, an outage
// to models.ErrUnavailable (see isUnavailable); others pass through.
func translate(err error) error {
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows):
		return models.ErrNotFound
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return models.ErrConflict
	case isUnavailable(err):
		return unavailable(err)
	}
	return err
}
