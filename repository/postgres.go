package repository

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// postgresDialector returns the dialector of the PostgreSQL database at
// databaseURL, on a pool of pgx connections that pool bounds.
//
// Every connection sets statement_timeout to pool.StatementTimeout, unless
// the URL sets its own, so that a statement stuck behind a lock or a slow
// plan is cancelled by the server (SQLSTATE 57014, which translate makes
// models.ErrUnavailable) instead of holding its connection.
//
// A connection the server has closed or that died with it is dropped by
// pgx's database/sql driver: it reports the connection closed when the pool
// offers it again (and pings one idle for over a second first), so the pool
// opens a fresh one and the API recovers when the database comes back.
func postgresDialector(databaseURL string, pool Pool) (gorm.Dialector, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("database URL is not a valid PostgreSQL URL")
	}
	if _, set := cfg.RuntimeParams["statement_timeout"]; !set && pool.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(pool.StatementTimeout.Milliseconds(), 1), 10)
	}
	db := stdlib.OpenDB(*cfg)
	var conn gorm.ConnPool = db
	if pool.AcquireTimeout > 0 {
		conn = boundedPool{DB: db, wait: pool.AcquireTimeout}
	}
	return postgres.New(postgres.Config{Conn: conn}), nil
}

// boundedPool is the PostgreSQL pool as gorm sees it: the *sql.DB, except
// that a transaction waits at most wait for a connection, where database/sql
// would queue it for as long as its context lives. Every statement of
// Orders on PostgreSQL runs in a transaction (Orders.scoped), so a pool that
// is exhausted answers models.ErrUnavailable after wait.
type boundedPool struct {
	*sql.DB
	wait time.Duration
}

// Conn takes a connection of the pool, waiting for one at most p.wait.
func (p boundedPool) Conn(ctx context.Context) (*sql.Conn, error) {
	wait, cancel := context.WithTimeout(ctx, p.wait)
	conn, err := p.DB.Conn(wait)
	cancel()
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("no database connection within %s: %w", p.wait, err)
	}
	return conn, err
}

// BeginTx starts a transaction on a connection of its own, which it waits
// for at most p.wait; the transaction then runs under ctx alone.
func (p boundedPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	conn, err := p.Conn(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, errors.Join(err, conn.Close())
	}
	return &connTx{Tx: tx, conn: conn}, nil
}

// GetDBConn returns the *sql.DB, for gorm's DB method.
func (p boundedPool) GetDBConn() (*sql.DB, error) { return p.DB, nil }

// connTx is a transaction on a connection taken from the pool for it alone;
// ending the transaction gives the connection back. gorm needs a pointer:
// it checks the transaction it holds for nil.
type connTx struct {
	*sql.Tx
	conn *sql.Conn
}

// Commit commits the transaction and returns its connection to the pool.
func (t *connTx) Commit() error { return errors.Join(t.Tx.Commit(), t.conn.Close()) }

// Rollback rolls the transaction back and returns its connection to the
// pool.
func (t *connTx) Rollback() error { return errors.Join(t.Tx.Rollback(), t.conn.Close()) }
