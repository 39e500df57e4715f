package repository_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gorm.io/gorm"

	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/repository"
	"github.com/coffeemesh/orders/repository/repotest"
)

// TestPipelinedMatchesTransactions pins PostgreSQL's pipelined reads and
// creates against the plain path, which runs each in a transaction: both
// read the same orders, whichever wrote them, and both hide a missing order
// and another owner's alike.
func TestPipelinedMatchesTransactions(t *testing.T) {
	t.Parallel()
	fast, db := newStore(t, repotest.Postgres(t))
	plain := repository.NewPlainOrders(db)
	ctx := t.Context()
	var mine []models.Order
	for i := range 6 {
		s := []*repository.Orders{fast, plain}[i%2]
		mine = append(mine, mustCreate(t, s, "alice", latte))
		mustCreate(t, s, "bob", latte)
	}
	if _, err := plain.Transition(ctx, "alice", mine[2].ID, models.Cancel()); err != nil {
		t.Fatal(err)
	}
	page, err := plain.List(ctx, "alice", models.ListQuery{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	for _, q := range []models.ListQuery{{Limit: 20}, {Limit: 2}, {Limit: 20, Cancelled: &yes}, {Limit: 20, Cancelled: &no}, {Limit: 3, After: page.Next}} {
		t.Run(fmt.Sprintf("list %+v", q), func(t *testing.T) {
			want, err := plain.List(ctx, "alice", q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fast.List(ctx, "alice", q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pipelined list differs from the transaction's (-want +got):\n%s", diff)
			}
		})
	}
	missing, _ := models.NewOrderID()
	for _, tt := range []struct {
		name  string
		owner models.OwnerID
		id    models.OrderID
	}{{"own order", "alice", mine[0].ID}, {"own order, written pipelined", "alice", mine[1].ID}, {"missing order", "alice", missing}, {"other owner's order", "bob", mine[0].ID}} {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := plain.Get(ctx, tt.owner, tt.id)
			got, err := fast.Get(ctx, tt.owner, tt.id)
			hidden := errors.Is(err, models.ErrNotFound)
			if (err != nil && !hidden) || hidden != errors.Is(wantErr, models.ErrNotFound) {
				t.Fatalf("pipelined Get: %v; the transaction's: %v", err, wantErr)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pipelined Get differs from the transaction's (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPipelinedOwnersUnderConcurrency has many owners read and create at
// once through one small pool, so that every connection serves one owner
// after another: a query that forgot its owner filter, pipelined as the
// store's reads are, sees exactly its owner's orders, and so do List and
// Get.
func TestPipelinedOwnersUnderConcurrency(t *testing.T) {
	t.Parallel()
	s, db := newStore(t, repotest.Postgres(t))
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(4)
	const owners, rounds = 16, 12
	var wg sync.WaitGroup
	for w := range owners {
		owner := models.OwnerID(fmt.Sprintf("owner-%d", w))
		wg.Go(func() {
			if err := ownerRounds(t.Context(), s, owner, rounds); err != nil {
				t.Errorf("%s: %v", owner, err)
			}
		})
	}
	wg.Wait()
}

// ownerRounds creates rounds orders of owner, one at a time, and after
// each checks that every read of owner sees its orders and no other.
func ownerRounds(ctx context.Context, s *repository.Orders, owner models.OwnerID, rounds int) error {
	var want []string
	for range rounds {
		o, err := s.Create(ctx, owner, latte)
		if err != nil {
			return err
		}
		want = append(want, string(o.ID))
		slices.Sort(want)
		ids, err := s.PipelinedIDs(ctx, owner, "SELECT id FROM orders ORDER BY id")
		if err != nil {
			return err
		}
		if !slices.Equal(ids, want) {
			return fmt.Errorf("an unfiltered pipelined query sees %v; want its own %v", ids, want)
		}
		page, err := s.List(ctx, owner, models.ListQuery{Limit: 100})
		if err != nil {
			return err
		}
		for _, o := range page.Orders {
			if o.Owner != owner {
				return fmt.Errorf("List returned %s's order %s", o.Owner, o.ID)
			}
		}
		if len(page.Orders) != len(want) {
			return fmt.Errorf("List returned %d orders; want %d", len(page.Orders), len(want))
		}
		if _, err := s.Get(ctx, owner, o.ID); err != nil {
			return fmt.Errorf("Get of its new order: %w", err)
		}
	}
	return nil
}

// TestPipelineLeavesNoOwner runs each pipelined call on a pool of one
// connection, then asks that same connection, outside any transaction,
// for the owner setting: it is empty, and an unfiltered query sees no
// order, whether the call succeeded or failed.
func TestPipelineLeavesNoOwner(t *testing.T) {
	t.Parallel()
	s, db := newStore(t, repotest.Postgres(t))
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.SetMaxOpenConns(1)
	ctx := t.Context()
	mine := mustCreate(t, s, "alice", latte)
	missing, _ := models.NewOrderID()
	_, _, backend := connectionState(t, db)
	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"create", func() error { _, err := s.Create(ctx, "alice", latte); return err }},
		{"get", func() error { _, err := s.Get(ctx, "alice", mine.ID); return err }},
		{"get of a missing order", func() error {
			if _, err := s.Get(ctx, "alice", missing); !errors.Is(err, models.ErrNotFound) {
				return fmt.Errorf("got %v; want models.ErrNotFound", err)
			}
			return nil
		}},
		{"list", func() error { _, err := s.List(ctx, "alice", models.ListQuery{Limit: 20}); return err }},
		{"statement that fails after the owner is set", func() error {
			if _, err := s.PipelinedIDs(ctx, "alice", "SELECT (1/0)::text FROM orders"); err == nil {
				return errors.New("division by zero succeeded")
			}
			return nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			setting, visible, pid := connectionState(t, db)
			if pid != backend {
				t.Fatalf("the check ran on backend %d, not %d, which served the call", pid, backend)
			}
			if setting.Valid && setting.String != "" {
				t.Errorf("app.owner on the connection afterwards = %q; want it empty", setting.String)
			}
			if visible != 0 {
				t.Errorf("an unscoped query afterwards sees %d orders; want none", visible)
			}
		})
	}
}

// connectionState reads, on db's one connection and outside any
// transaction, the owner setting, how many orders an unscoped query sees,
// and the connection's backend process id.
func connectionState(t *testing.T, db *gorm.DB) (setting sql.NullString, visible, pid int64) {
	t.Helper()
	if err := db.Raw("SELECT pg_backend_pid()").Scan(&pid).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Raw("SELECT current_setting('app.owner', true)").Scan(&setting).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Raw("SELECT count(*) FROM orders").Scan(&visible).Error; err != nil {
		t.Fatal(err)
	}
	return setting, visible, pid
}
