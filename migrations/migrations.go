// Package migrations owns the database schema: numbered SQL files embedded in
// the binary and applied in order with goose. A file that has shipped is never
// edited; a change is a new file.
//
// One numbered sequence serves SQLite and PostgreSQL: sql/ holds the files
// both run, and sql/sqlite/ and sql/postgres/ the few that must differ, each
// version present in both (a test checks).
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed sql/*.sql sql/sqlite/*.sql sql/postgres/*.sql
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
	sequence, err := Sequence(d)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if d == Postgres {
		// An advisory lock, held for the whole run, so that replicas
		// starting at once apply each migration once.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, db, sequence, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Sequence returns the migrations of dialect d: the shared files and d's own.
func Sequence(d Dialect) (fs.FS, error) {
	shared, err := fs.Sub(files, "sql")
	if err != nil {
		return nil, err
	}
	own, err := fs.Sub(files, "sql/"+string(d))
	if err != nil {
		return nil, err
	}
	return overlay{shared, own}, nil
}

// overlay is a flat directory of the files of two, as goose reads it.
type overlay [2]fs.FS

func (o overlay) Open(name string) (fs.File, error) {
	if f, err := o[1].Open(name); err == nil {
		return f, nil
	}
	return o[0].Open(name)
}

// ReadDir lists the files of both, a dialect's file hiding a shared one of
// the same name as Open does; goose globs *.sql at the root.
func (o overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	var all []fs.DirEntry
	for _, f := range []fs.FS{o[1], o[0]} {
		entries, err := fs.ReadDir(f, name)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			hidden := slices.ContainsFunc(all, func(d fs.DirEntry) bool { return d.Name() == e.Name() })
			if !e.IsDir() && !hidden {
				all = append(all, e)
			}
		}
	}
	slices.SortFunc(all, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return all, nil
}
