// Package repository stores orders with gorm. Every method takes the owner as
// an explicit parameter and puts it in the SQL of its statement, so no query
// can reach another owner's rows; it never reads identity from a context.
//
// It translates gorm and driver errors into the errors of package models and
// knows nothing of HTTP.
package repository

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// sqliteParams make SQLite safe under concurrent requests: WAL lets readers
// run beside the writer, the busy timeout makes a writer wait for the lock
// instead of failing with "database is locked", and immediate transactions
// take the write lock up front so two transactions never deadlock upgrading.
// Each connection caches at most 1 MiB of pages, half SQLite's default: the
// pool's connections each keep their own copies, so the resident set grows
// with the pool times the cache, and a list reads a few neighbouring pages
// (docs/performance.md has the measurements).
const sqliteParams = "_journal_mode=WAL&_busy_timeout=10000&_txlock=immediate&_foreign_keys=1&_cache_size=-1024"

// Pool bounds a database's connection pool.
type Pool struct {
	// MaxOpenConns is the most connections open at once; 0 means no limit.
	MaxOpenConns int
	// ConnMaxLifetime closes a connection after this long; 0 means never.
	ConnMaxLifetime time.Duration
	// StatementTimeout is PostgreSQL's statement_timeout on every
	// connection, unless the URL sets one; 0 means none. SQLite ignores it.
	StatementTimeout time.Duration
	// AcquireTimeout bounds the wait of a PostgreSQL transaction for a free
	// connection; 0 means it waits as long as its context lives. SQLite
	// ignores it.
	AcquireTimeout time.Duration
}

// Open opens the database named by databaseURL: "sqlite:PATH", or
// "postgres://..." (or "postgresql://...") for PostgreSQL through pgx, whose
// URL may carry pgx's parameters (connect_timeout, sslmode, and run-time
// settings such as statement_timeout). It does not change the schema: run
// migrations.Up on the result. It does not connect to PostgreSQL either: Ping
// tells whether the database answers.
func Open(databaseURL string, pool Pool) (*gorm.DB, error) {
	dialector, err := dialectorFor(databaseURL, pool)
	if err != nil {
		return nil, err
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 logger.Discard,
		TranslateError:         true,
		SkipDefaultTransaction: true,
		PrepareStmt:            true,
		// The repository's statements are a handful; the bound keeps a
		// statement text that varies with its input from growing memory.
		PrepareStmtMaxSize: 64,
		// A database still starting must not fail Open: the commands wait
		// for it with Ping.
		DisableAutomaticPing: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB.SetMaxOpenConns(pool.MaxOpenConns)
	sqlDB.SetMaxIdleConns(max(pool.MaxOpenConns, 2))
	sqlDB.SetConnMaxLifetime(pool.ConnMaxLifetime)
	return db, nil
}

func dialectorFor(databaseURL string, pool Pool) (gorm.Dialector, error) {
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		return postgresDialector(databaseURL, pool)
	}
	path, ok := strings.CutPrefix(databaseURL, "sqlite:")
	switch {
	case !ok:
		return nil, errors.New(`database URL must start with "sqlite:", "postgres://" or "postgresql://"`)
	case path == "":
		return nil, errors.New(`database URL "sqlite:" names no file`)
	case strings.ContainsAny(path, "?#"):
		return nil, errors.New(`database URL must not hold "?" or "#": the connection parameters are fixed`)
	}
	return sqlite.Open(path + "?" + sqliteParams), nil
}
