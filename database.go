package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"gorm.io/gorm"

	"github.com/coffeemesh/orders/migrations"
	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/repository"
)

// The backoff of the commands while the database is unreachable at start:
// the first retry after firstRetryDelay, each next one twice as late, up to
// maxRetryDelay apart. pingTimeout bounds one attempt, so a host that drops
// packets cannot hold it.
const (
	firstRetryDelay = 250 * time.Millisecond
	maxRetryDelay   = 5 * time.Second
	pingTimeout     = 5 * time.Second
)

// retryFunc is told of each attempt to reach the database that failed and
// will be tried again after delay.
type retryFunc func(attempt int, delay time.Duration, err error)

// waitForDatabase pings db until it answers, with backoff, for at most
// wait. An error that waiting will not cure, such as a refused password,
// ends it at once. Its errors name the database, without password or
// parameters.
func waitForDatabase(ctx context.Context, db *gorm.DB, databaseURL string, wait time.Duration, retrying retryFunc) error {
	deadline := time.Now().Add(wait)
	backoff := firstRetryDelay
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		err := repository.Ping(pctx, db)
		cancel()
		left := time.Until(deadline)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, models.ErrUnavailable):
			return fmt.Errorf("database %s: %w", databaseLabel(databaseURL), err)
		case left <= 0:
			return fmt.Errorf("database %s did not answer within %s (ORDERS_DATABASE_START_TIMEOUT), after %d attempts: %w",
				databaseLabel(databaseURL), wait, attempt, err)
		}
		delay := min(backoff, left) // the last attempt comes at the deadline
		retrying(attempt, delay, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("database %s: gave up waiting: %w", databaseLabel(databaseURL), ctx.Err())
		case <-time.After(delay):
		}
		backoff = min(backoff*2, maxRetryDelay)
	}
}

// databaseLabel names the database of databaseURL for messages: its
// scheme, user, host and name, never its password or its parameters (a
// PostgreSQL URL may carry password=).
func databaseLabel(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "(an unparsable database URL)"
	}
	u.RawQuery, u.ForceQuery, u.Fragment = "", false, ""
	return u.Redacted()
}

// openForMigrations opens the database on a small pool without
// statement_timeout, since a migration may run long, and waits for it to
// answer as waitForDatabase does. The caller closes the *sql.DB.
func openForMigrations(ctx context.Context, databaseURL string, wait time.Duration, retrying retryFunc) (*sql.DB, migrations.Dialect, error) {
	db, err := repository.Open(databaseURL, repository.Pool{MaxOpenConns: 2})
	if err != nil {
		return nil, "", err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, "", err
	}
	if err := waitForDatabase(ctx, db, databaseURL, wait, retrying); err != nil {
		sqlDB.Close()
		return nil, "", err
	}
	return sqlDB, migrations.Dialect(db.Dialector.Name()), nil
}

// openDatabase brings the database's schema up to date, waiting for the
// database as waitForDatabase does and logging each retry, then opens the
// pool the API serves from.
func openDatabase(ctx context.Context, cfg config, log *slog.Logger) (*gorm.DB, error) {
	retrying := func(attempt int, delay time.Duration, err error) {
		log.WarnContext(ctx, "database not reachable; retrying",
			"database", databaseLabel(cfg.databaseURL), "attempt", attempt, "retry_in", delay.Round(time.Millisecond).String(),
			"start_timeout", cfg.databaseStartTimeout.String(), "error", err)
	}
	sqlDB, dialect, err := openForMigrations(ctx, cfg.databaseURL, cfg.databaseStartTimeout, retrying)
	if err != nil {
		return nil, err
	}
	err = migrations.Up(ctx, sqlDB, dialect)
	if cerr := sqlDB.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return repository.Open(cfg.databaseURL, cfg.pool)
}
