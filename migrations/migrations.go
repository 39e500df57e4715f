// Package migrations owns the database schema: numbered SQL files embedded in
// the binary and applied in order with goose. A file that has shipped is never
// edited; a change is a new file.
//
// The SQL is written to run unchanged on SQLite and PostgreSQL.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

//go:embed sql/*.sql
var files embed.FS

// Dialect names the SQL database a migration runs on.
type Dialect string

// The dialects the schema is written for.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Version is one migration and whether it is applied.
type Version struct {
	Version int64
	Name    string
	Applied bool
}

// Up applies every migration not yet applied to db.
func Up(ctx context.Context, db *sql.DB, d Dialect) error {
	p, err := newProvider(db, d)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// Status lists every migration, oldest first, with whether db has it.
func Status(ctx context.Context, db *sql.DB, d Dialect) ([]Version, error) {
	p, err := newProvider(db, d)
	if err != nil {
		return nil, err
	}
	all, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("read migration status: %w", err)
	}
	out := make([]Version, 0, len(all))
	for _, s := range all {
		out = append(out, Version{
			Version: s.Source.Version,
			Name:    s.Source.Path,
			Applied: s.State == goose.StateApplied,
		})
	}
	return out, nil
}

func newProvider(db *sql.DB, d Dialect) (*goose.Provider, error) {
	var gd goose.Dialect
	switch d {
	case SQLite:
		gd = goose.DialectSQLite3
	case Postgres:
		gd = goose.DialectPostgres
	default:
		return nil, fmt.Errorf("unknown migration dialect %q", d)
	}
	sub, err := fs.Sub(files, "sql")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(gd, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}
