package migrations_test

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"

	"github.com/coffeemesh/orders/migrations"
	"github.com/coffeemesh/orders/repository/repotest"
)

// TestCreatedBecomesMicroseconds writes orders as versions 1 and 2 stored
// them, with times written by each driver, applies version 3, which stores
// created as microseconds, and checks every time reads back exact; then it
// rolls version 3 back and checks again.
func TestCreatedBecomesMicroseconds(t *testing.T) {
	t.Parallel()
	times := []time.Time{
		time.Date(2026, 11, 25, 12, 59, 48, 123456000, time.UTC),
		time.Date(2026, 11, 25, 12, 59, 48, 0, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 100000000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC),
	}
	// SQLite's text keeps the offset the driver wrote; PostgreSQL's
	// TIMESTAMP keeps none (pgx writes the wall clock), and the API only
	// ever wrote UTC.
	offsets := []time.Time{
		time.Date(2026, 11, 25, 13, 0, 1, 250000000, time.FixedZone("", 3600)),
		time.Date(2026, 11, 25, 13, 0, 1, 0, time.FixedZone("", -(5*3600+30*60))),
	}
	for _, c := range []struct {
		dialect migrations.Dialect
		open    func(t *testing.T) *sql.DB
	}{
		{migrations.SQLite, func(t *testing.T) *sql.DB { return openDB(t, "sqlite3", filepath.Join(t.TempDir(), "m.db")) }},
		{migrations.Postgres, func(t *testing.T) *sql.DB { return openDB(t, "pgx", repotest.Postgres(t).URL) }},
	} {
		t.Run(string(c.dialect), func(t *testing.T) {
			t.Parallel()
			times := times
			if c.dialect == migrations.SQLite {
				times = append(slices.Clip(times), offsets...)
			}
			db := c.open(t)
			p, err := migrations.NewProvider(db, c.dialect)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if _, err := p.UpTo(ctx, 2); err != nil {
				t.Fatal(err)
			}
			for i, at := range times {
				inOwnerTx(t, db, c.dialect, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, "INSERT INTO orders (id, owner, created, status, items) VALUES ($1, 'o', $2, 'created', '[]')", string(rune('a'+i)), at)
					return err
				})
			}
			if _, err := p.UpTo(ctx, 3); err != nil {
				t.Fatal(err)
			}
			for i, at := range times {
				var micros int64
				inOwnerTx(t, db, c.dialect, func(tx *sql.Tx) error {
					return tx.QueryRowContext(ctx, "SELECT created FROM orders WHERE id = $1", string(rune('a'+i))).Scan(&micros)
				})
				if got := time.UnixMicro(micros).UTC(); !got.Equal(at) {
					t.Errorf("after version 3, %v reads %v (%d µs)", at, got, micros)
				}
			}
			if _, err := p.DownTo(ctx, 2); err != nil {
				t.Fatal(err)
			}
			for i, at := range times {
				var got time.Time
				// Another text than above: pgx keeps the statement it
				// prepared then, whose result type has changed.
				inOwnerTx(t, db, c.dialect, func(tx *sql.Tx) error {
					return tx.QueryRowContext(ctx, "SELECT created AS at FROM orders WHERE id = $1", string(rune('a'+i))).Scan(&got)
				})
				if !got.Equal(at) {
					t.Errorf("after rolling version 3 back, %v reads %v", at, got)
				}
			}
		})
	}
}

// inOwnerTx runs fn in a transaction that PostgreSQL's row-level security
// lets see and write the orders of owner "o".
func inOwnerTx(t *testing.T, db *sql.DB, d migrations.Dialect, fn func(*sql.Tx) error) {
	t.Helper()
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if d == migrations.Postgres {
		if _, err := tx.ExecContext(t.Context(), "SELECT set_config('app.owner', 'o', true)"); err != nil {
			t.Fatal(err)
		}
	}
	if err := fn(tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func openDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
