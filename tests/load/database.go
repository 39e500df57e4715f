package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/coffeemesh/orders/migrations"
	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/repository"
)

// defaultPostgresURL is the server -db postgres uses unless -database-url
// names another: the one every development and CI machine runs.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// appRole is the role the server connects to PostgreSQL as: no superuser
// and no BYPASSRLS, so row-level security applies to it, as it must to the
// API in production, and costs what it costs there.
const appRole = "orders_app"

// target is the kind of database the load runs on.
type target struct {
	kind     string // "sqlite" or "postgres"
	adminURL string // postgres: a role that may create roles and schemas and bypasses row-level security, to COPY
	dir      string // sqlite: where the files go
}

// database is a fresh, migrated database the server is started on.
type database struct {
	url   string    // the server's ORDERS_DATABASE_URL
	admin *pgx.Conn // postgres: the administrator's connection, which seeds with COPY
	table string    // postgres: the orders table, qualified by its schema
	drop  func()    // removes the database
}

// open makes a fresh database called name and migrates it: a SQLite file,
// or a schema owned by appRole on the PostgreSQL server, which drop drops.
func (t target) open(name string) (database, error) {
	if t.kind == "sqlite" {
		db := database{url: "sqlite:" + filepath.Join(t.dir, name+".db"), drop: func() {}}
		return db, migrate(db.url, migrations.SQLite)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, t.adminURL)
	if err != nil {
		return database{}, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	schema := "load_" + name + "_" + strings.ToLower(rand.Text()[:8])
	// The role is cluster-wide: it may exist already, which is as good.
	_, err = admin.Exec(ctx, `DO $$ BEGIN
		CREATE ROLE `+appRole+` LOGIN NOSUPERUSER NOBYPASSRLS;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
		END $$`)
	if err == nil {
		_, err = admin.Exec(ctx, "CREATE SCHEMA "+schema+" AUTHORIZATION "+appRole)
	}
	if err != nil {
		admin.Close(ctx)
		return database{}, fmt.Errorf("create schema: %w", err)
	}
	db := database{admin: admin, table: schema + ".orders", drop: func() {
		_, _ = admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE") // best effort: the run is over
		admin.Close(ctx)
	}}
	u, err := url.Parse(t.adminURL)
	if err != nil {
		db.drop()
		return database{}, err
	}
	u.User = url.User(appRole)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db.url = u.String()
	if err := migrate(db.url, migrations.Postgres); err != nil {
		db.drop()
		return database{}, err
	}
	return db, nil
}

func migrate(databaseURL string, d migrations.Dialect) error {
	return withOne(databaseURL, func(db *gorm.DB, sqlDB *sql.DB) error {
		return migrations.Up(context.Background(), sqlDB, d)
	})
}

// withOne runs fn on the database at databaseURL, opened with one
// connection and closed afterwards.
func withOne(databaseURL string, fn func(db *gorm.DB, sqlDB *sql.DB) error) error {
	db, err := repository.Open(databaseURL, repository.Pool{MaxOpenConns: 1})
	if err != nil {
		return err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	return fn(db, sqlDB)
}

// orderSource yields the seeded orders, users × each of subjects user-N at
// an issuer, as rows of the orders table. The orders arrive as traffic
// would bring them, each round of users one order newer, not one user's
// after another, which would be the best case for a table kept in owner
// order. It keeps the ids of the first 100 users' orders.
type orderSource struct {
	owners  []string
	each    int
	i, u    int
	created int64
	ids     [][]string
}

func newOrderSource(issuer string, users, each int) *orderSource {
	s := &orderSource{owners: make([]string, users), each: each, ids: make([][]string, min(users, 100)),
		created: time.Now().Add(-time.Hour).UnixMicro()}
	for u := range s.owners {
		s.owners[u] = string(models.NewOwnerID(issuer, fmt.Sprintf("user-%d", u)))
	}
	return s
}

// next returns the next row (id, owner, created, status, items), or nil
// after the last.
func (s *orderSource) next() ([]any, error) {
	if s.u == len(s.owners) {
		s.i, s.u = s.i+1, 0
	}
	if s.i == s.each {
		return nil, nil
	}
	id, err := models.NewOrderID()
	if err != nil {
		return nil, err
	}
	if s.u < len(s.ids) {
		s.ids[s.u] = append(s.ids[s.u], string(id))
	}
	s.created++
	s.u++
	return []any{string(id), s.owners[s.u-1], s.created, "created", `[{"product":"cappuccino","size":"big","quantity":2}]`}, nil
}

// seed fills db with users × each orders of subjects user-N at issuer, and
// returns the ids of the first 100 users' orders: with COPY on PostgreSQL,
// then ANALYZE, as a restore would; through the repository's schema in one
// transaction on SQLite.
func (db database) seed(issuer string, users, each int) ([][]string, error) {
	src := newOrderSource(issuer, users, each)
	if db.admin == nil {
		return src.ids, seedSQLite(db.url, src)
	}
	ctx := context.Background()
	table := strings.Split(db.table, ".")
	_, err := db.admin.CopyFrom(ctx, pgx.Identifier(table), []string{"id", "owner", "created", "status", "items"}, pgx.CopyFromFunc(src.next))
	if err != nil {
		return nil, fmt.Errorf("copy orders: %w", err)
	}
	if _, err := db.admin.Exec(ctx, "ANALYZE "+db.table); err != nil {
		return nil, err
	}
	return src.ids, nil
}

func seedSQLite(databaseURL string, src *orderSource) error {
	return withOne(databaseURL, func(db *gorm.DB, _ *sql.DB) error { return seedRows(db, src) })
}

// seedRows inserts src's orders into db in one transaction, 500 rows a
// statement.
func seedRows(db *gorm.DB, src *orderSource) error {
	return db.Transaction(func(tx *gorm.DB) error {
		rows := make([]map[string]any, 0, 500)
		for {
			row, err := src.next()
			if err != nil {
				return err
			}
			if row != nil {
				rows = append(rows, map[string]any{"id": row[0], "owner": row[1], "created": row[2], "status": row[3], "items": row[4]})
			}
			if len(rows) > 0 && (len(rows) == cap(rows) || row == nil) {
				if err := tx.Table("orders").Create(rows).Error; err != nil {
					return err
				}
				rows = rows[:0]
			}
			if row == nil {
				return nil
			}
		}
	})
}
