package repository_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/repository"
	"github.com/coffeemesh/orders/repository/repotest"
)

// once returns a Once of key that expires after ttl and answers with the
// order's id.
func once(key string, ttl time.Duration) models.Once {
	return models.Once{Key: key, Fingerprint: "fp-" + key, Expires: time.Now().Add(ttl), Answer: func(o models.Order) models.Answer {
		return models.Answer{Status: 201, Location: "/orders/" + string(o.ID), ETag: `"1"`, ContentType: "application/json", Body: []byte(o.ID)}
	}}
}

// TestIdempotencyKeys checks that a key is stored with its change and its
// answer, belongs to its owner, refuses a second change, and may be used
// again once expired; and that the purge deletes expired keys of every
// owner.
func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, g := newStore(t, db)
		ctx := t.Context()
		first, err := s.CreateOnce(ctx, "alice", latte, once("k", time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		a, err := s.Answered(ctx, "alice", "k")
		if err != nil || string(a.Body) != string(first.ID) || a.Fingerprint != "fp-k" || a.Status != 201 {
			t.Fatalf("Answered = %+v, %v; want the first answer", a, err)
		}
		if _, err := s.Answered(ctx, "bob", "k"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("bob's Answered of alice's key = %v; want ErrNotFound", err)
		}
		if _, err := s.CreateOnce(ctx, "alice", latte, once("k", time.Hour)); !errors.Is(err, models.ErrConflict) {
			t.Errorf("second CreateOnce with the key = %v; want ErrConflict", err)
		}
		if _, err := s.TransitionOnce(ctx, "alice", first.ID, models.Cancel(), models.AnyVersion, once("k", time.Hour)); !errors.Is(err, models.ErrConflict) {
			t.Errorf("TransitionOnce with a used key = %v; want ErrConflict", err)
		}
		if got, err := s.Get(ctx, "alice", first.ID); err != nil || got.Status != models.StatusCreated {
			t.Errorf("after refused changes the order is %+v, %v; want it created", got, err)
		}
		page, err := s.List(ctx, "alice", models.ListQuery{Limit: 10})
		if err != nil || len(page.Orders) != 1 {
			t.Errorf("alice has %d orders, %v; want 1", len(page.Orders), err)
		}

		if _, err := s.CreateOnce(ctx, "bob", latte, once("old", -time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Answered(ctx, "bob", "old"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Answered of an expired key = %v; want ErrNotFound", err)
		}
		if _, err := s.CreateOnce(ctx, "bob", latte, once("old", time.Hour)); err != nil {
			t.Errorf("CreateOnce with an expired key: %v; want it taken again", err)
		}
		if _, err := s.CreateOnce(ctx, "carol", latte, once("gone", -time.Second)); err != nil {
			t.Fatal(err)
		}
		countExpired := func() int64 {
			var n int64
			if err := g.WithContext(ctx).Raw("SELECT count(*) FROM idempotency_keys WHERE expires <= ?", time.Now().UnixMicro()).Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := countExpired(); n != 1 {
			t.Fatalf("%d expired keys before the purge; want carol's", n)
		}
		fresh := repository.NewOrders(g) // its first keyed change purges
		if _, err := fresh.TransitionOnce(ctx, "alice", first.ID, models.Cancel(), models.AnyVersion, once("k2", time.Hour)); err != nil {
			t.Fatal(err)
		}
		if n := countExpired(); n != 0 {
			t.Errorf("%d expired keys after a purge; want none", n)
		}
	})
}

// TestKeyedChangesOnOneConnection checks that keyed changes, whose
// statements a store prepares on its pool, do not wait forever for a
// second connection when the pool has one, and that a store on a
// transaction's handle makes them in that transaction.
func TestKeyedChangesOnOneConnection(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, g := newStore(t, db)
		pool, err := g.DB()
		if err != nil {
			t.Fatal(err)
		}
		pool.SetMaxOpenConns(1)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		for i, key := range []string{"first", "second"} {
			o, err := s.CreateOnce(ctx, "alice", latte, once(key, time.Hour))
			if err != nil {
				t.Fatalf("CreateOnce %d: %v", i+1, err)
			}
			if _, err := s.TransitionOnce(ctx, "alice", o.ID, models.Cancel(), models.AnyVersion, once(key+"-cancel", time.Hour)); err != nil {
				t.Fatalf("TransitionOnce %d: %v", i+1, err)
			}
		}
		var inTx models.Order
		err = g.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var err error
			inTx, err = repository.NewOrders(tx).CreateOnce(ctx, "alice", latte, once("in-tx", time.Hour))
			return err
		})
		if err != nil {
			t.Fatalf("CreateOnce of a store in a transaction: %v", err)
		}
		if a, err := s.Answered(ctx, "alice", "in-tx"); err != nil || string(a.Body) != string(inTx.ID) {
			t.Errorf("Answered(in-tx) = %+v, %v; want the committed answer", a, err)
		}
	})
}
