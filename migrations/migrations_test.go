package migrations_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/coffeemesh/orders/migrations"
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
	if _, err := db.ExecContext(ctx, "INSERT INTO orders (id, owner, created, status, items) VALUES ('x', 'o', CURRENT_TIMESTAMP, 'shipped', '[]')"); err == nil {
		t.Error("the schema accepts an unknown status")
	}
}

func TestUnknownDialect(t *testing.T) {
	t.Parallel()
	if err := migrations.Up(t.Context(), nil, "oracle"); err == nil {
		t.Error("Up with an unknown dialect succeeded")
	}
}
