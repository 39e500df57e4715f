package repository_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/repository"
	"github.com/coffeemesh/orders/repository/repotest"
)

// TestStatementTimeout: every PostgreSQL connection gets the pool's
// statement_timeout, unless the URL sets its own, which wins.
func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	db := repotest.Postgres(t)
	tests := []struct {
		name  string
		param string
		pool  time.Duration
		want  string
	}{
		{"the pool's", "", 1500 * time.Millisecond, "1500ms"},
		{"none", "", 0, "0"},
		{"the URL's over the pool's", "&statement_timeout=250", time.Second, "250ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := repotest.OpenPool(t, repotest.Database{Name: db.Name, URL: db.URL + tt.param}, repository.Pool{MaxOpenConns: 1, StatementTimeout: tt.pool})
			var got string
			if err := g.Raw("SHOW statement_timeout").Scan(&got).Error; err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("statement_timeout = %q; want %q", got, tt.want)
			}
		})
	}
}

// TestPingUnavailable: Ping tells a database that does not answer, which
// may come back, from one that answers.
func TestPingUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		db   repotest.Database
		want error
	}{
		{"answers", repotest.Postgres(t), nil},
		{"refuses connections", repotest.Database{Name: "postgres", URL: fmt.Sprintf("postgres://%s@127.0.0.1:1/orders?sslmode=disable", repotest.AppRole)}, models.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := repotest.OpenPool(t, tt.db, repository.Pool{MaxOpenConns: 1})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := repository.Ping(ctx, g); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Ping = %v; want %v", err, tt.want)
			}
		})
	}
}
