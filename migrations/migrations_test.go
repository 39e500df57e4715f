package migrations_test

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/coffeemesh/orders/migrations"
	"github.com/coffeemesh/orders/repository/repotest"
)

func TestUpIsIdempotentAndStatusReports(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()

	before, err := migrations.Status(ctx, db, migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) == 0 || before[0].Applied {
		t.Fatalf("status of a new database = %+v; want pending migrations", before)
	}
	for range 2 {
		if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
			t.Fatal(err)
		}
	}
	after, err := migrations.Status(ctx, db, migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range after {
		if !v.Applied {
			t.Errorf("migration %d not applied", v.Version)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
		t.Errorf("orders table missing: %v", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO orders (id, owner, created, status, items) VALUES ('x', 'o', 0, 'shipped', '[]')"); err == nil {
		t.Error("the schema accepts an unknown status")
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO orders (id, owner, created, status, items) VALUES ('x', 'o', '2026-11-25', 'created', '[]')"); err == nil {
		t.Error("the schema accepts a creation time that is not microseconds")
	}
}

func TestUnknownDialect(t *testing.T) {
	t.Parallel()
	if err := migrations.Up(t.Context(), nil, "oracle"); err == nil {
		t.Error("Up with an unknown dialect succeeded")
	}
}

// TestDialectsShareOneSequence checks that SQLite and PostgreSQL run the
// same numbered versions, each once.
func TestDialectsShareOneSequence(t *testing.T) {
	t.Parallel()
	versions := func(d migrations.Dialect) []string {
		seq, err := migrations.Sequence(d)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := fs.ReadDir(seq, ".")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			v, _, ok := strings.Cut(e.Name(), "_")
			if !ok || slices.Contains(out, v) {
				t.Errorf("%s: %s repeats a version or has none", d, e.Name())
			}
			out = append(out, v)
		}
		return out
	}
	sqlite, postgres := versions(migrations.SQLite), versions(migrations.Postgres)
	if !slices.Equal(sqlite, postgres) || len(sqlite) < 2 {
		t.Errorf("versions differ: sqlite %v, postgres %v", sqlite, postgres)
	}
}

// TestUpOnPostgres migrates a fresh PostgreSQL schema twice, from two
// connections at once, as replicas starting together do.
func TestUpOnPostgres(t *testing.T) {
	t.Parallel()
	db := repotest.Postgres(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			conn, err := sql.Open("pgx", db.URL)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			errs <- migrations.Up(context.Background(), conn, migrations.Postgres)
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Up: %v", err)
		}
	}
	conn, err := sql.Open("pgx", db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	status, err := migrations.Status(t.Context(), conn, migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range status {
		if !v.Applied {
			t.Errorf("migration %d not applied", v.Version)
		}
	}
	var forced bool
	if err := conn.QueryRow("SELECT relforcerowsecurity FROM pg_class WHERE oid = 'orders'::regclass").Scan(&forced); err != nil || !forced {
		t.Errorf("orders has no forced row-level security: %v", err)
	}
}
