package repository_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/repository"
	"github.com/coffeemesh/orders/repository/repotest"
)

// TestUsedProofs: two stores on one PostgreSQL database, as two replicas
// have, each refuse a key the other recorded until it expires; an expired
// key may be used again; the first Use purges the expired rows.
func TestUsedProofs(t *testing.T) {
	t.Parallel()
	database := repotest.Postgres(t)
	db1, db2 := repotest.Open(t, database), repotest.Open(t, database)
	one, err := repository.NewUsedProofs(db1)
	if err != nil {
		t.Fatal(err)
	}
	live, past := time.Now().Add(time.Minute), time.Now().Add(-time.Second)
	steps := []struct {
		name    string
		key     string
		expires time.Time
		want    error
	}{
		{"new key", "k1", live, nil},
		{"replayed key", "k1", live, repository.ErrProofUsed},
		{"expired at once", "k2", past, nil},
		{"expired key again", "k2", live, nil},
		{"expired key taken over is live", "k2", live, repository.ErrProofUsed},
		{"stale row to purge", "k3", past, nil},
	}
	for _, s := range steps {
		if err := one.Use(t.Context(), s.key, s.expires); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Errorf("%s: replica one: %v; want %v", s.name, err, s.want)
		}
	}
	other, err := repository.NewUsedProofs(db2)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Use(t.Context(), "k1", live); !errors.Is(err, repository.ErrProofUsed) {
		t.Errorf("replica two took a key replica one used: %v", err)
	}
	var stale int64
	if err := db2.Raw(`SELECT count(*) FROM dpop_proofs WHERE key = 'k3'`).Scan(&stale).Error; err != nil || stale != 0 {
		t.Errorf("expired rows after a purge: %d, %v; want 0", stale, err)
	}
}

// TestUsedProofsUnavailable: a database that cannot answer is
// models.ErrUnavailable, never taken for a new proof.
func TestUsedProofsUnavailable(t *testing.T) {
	t.Parallel()
	db := repotest.Open(t, repotest.Postgres(t))
	store, err := repository.NewUsedProofs(db)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.Close()
	if err := store.Use(t.Context(), "k", time.Now().Add(time.Minute)); !errors.Is(err, models.ErrUnavailable) {
		t.Errorf("Use on a closed database: %v; want models.ErrUnavailable", err)
	}
}

// TestUsedProofsPostgresOnly: SQLite keeps no used proofs.
func TestUsedProofsPostgresOnly(t *testing.T) {
	t.Parallel()
	if _, err := repository.NewUsedProofs(repotest.Open(t, repotest.SQLite(t))); err == nil {
		t.Error("NewUsedProofs on SQLite: no error")
	}
}

// BenchmarkUsedProofs measures one Use of a new key on PostgreSQL: the cost
// a DPoP request pays for the replay store shared by replicas.
func BenchmarkUsedProofs(b *testing.B) {
	store, err := repository.NewUsedProofs(repotest.Open(b, repotest.Postgres(b)))
	if err != nil {
		b.Fatal(err)
	}
	expires := time.Now().Add(time.Minute)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := store.Use(b.Context(), fmt.Sprintf("bench %d", i), expires); err != nil {
			b.Fatal(err)
		}
	}
}
