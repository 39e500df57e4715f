// Package repotest gives tests real databases: a SQLite file under the
// test's temporary directory, and a schema of its own on the PostgreSQL
// server of ORDERS_TEST_POSTGRES_URL, so tests run in parallel. It is for
// tests only.
package repotest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver for database/sql, to manage schemas
	"gorm.io/gorm"

	"github.com/coffeemesh/orders/migrations"
	"github.com/coffeemesh/orders/repository"
)

// DefaultPostgresURL is the server used when ORDERS_TEST_POSTGRES_URL is
// not set: the one every development and CI machine runs.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// AppRole is the role the API connects as in tests: no superuser and no
// BYPASSRLS, so PostgreSQL's row-level security applies to it, as it must
// to the API in production.
const AppRole = "orders_app"

// Database is a fresh, empty database for one test.
type Database struct {
	// Name is "sqlite" or "postgres".
	Name string
	// URL is its ORDERS_DATABASE_URL.
	URL string
}

// ForEach runs fn as a subtest on each database, SQLite and PostgreSQL,
// each fresh. The PostgreSQL run is skipped when no server answers, except
// under CI=true, where it fails instead.
func ForEach(t *testing.T, fn func(t *testing.T, db Database)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite returns a new SQLite file under t's temporary directory.
func SQLite(tb testing.TB) Database {
	tb.Helper()
	return Database{Name: "sqlite", URL: "sqlite:" + filepath.Join(tb.TempDir(), "orders.db")}
}

// Postgres returns a new, empty schema on the test server, owned by
// AppRole, whose URL connects as AppRole with that schema first in the
// search path. The schema is dropped when the test ends.
func Postgres(tb testing.TB) Database {
	tb.Helper()
	adminURL := os.Getenv("ORDERS_TEST_POSTGRES_URL")
	if adminURL == "" {
		adminURL = DefaultPostgresURL
	}
	admin, err := sql.Open("pgx", adminURL)
	if err == nil {
		err = admin.PingContext(context.Background())
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL at %s: %v (CI=true: PostgreSQL tests must run)", redacted(adminURL), err)
		}
		tb.Skipf("PostgreSQL not reachable at %s (%v); set ORDERS_TEST_POSTGRES_URL to run these tests", redacted(adminURL), err)
	}
	tb.Cleanup(func() { admin.Close() })

	schema := "t_" + strings.ToLower(rand.Text()[:16])
	ctx := context.Background()
	// Roles are cluster-wide and tests run in parallel: a concurrent CREATE
	// may win, which is as good.
	_, _ = admin.ExecContext(ctx, `DO $$ BEGIN
		CREATE ROLE `+AppRole+` LOGIN NOSUPERUSER NOBYPASSRLS;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
		END $$`)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema+" AUTHORIZATION "+AppRole); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		tb.Fatal(err)
	}
	u.User = url.User(AppRole)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return Database{Name: "postgres", URL: u.String()}
}

// Open opens db and migrates it, and closes it when the test ends.
func Open(tb testing.TB, db Database) *gorm.DB {
	tb.Helper()
	g := OpenPool(tb, db, repository.Pool{MaxOpenConns: 16})
	sqlDB, err := g.DB()
	if err != nil {
		tb.Fatal(err)
	}
	if err := migrations.Up(context.Background(), sqlDB, migrations.Dialect(g.Dialector.Name())); err != nil {
		tb.Fatal(fmt.Errorf("migrate %s: %w", db.Name, err))
	}
	return g
}

func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
