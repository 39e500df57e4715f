package repository_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
	if _, err := plain.Transition(ctx, "alice", mine[2].ID, models.Cancel(), models.AnyVersion); err != nil {
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

// TestPipelinedChangesMatchTransactions runs the same changes on two
// orders, one through the pipelined store and one through the plain path
// with its transactions, and checks that both answer alike: the order as
// stored, models.ErrConflict for a change its status refuses, and
// models.ErrNotFound for a missing order or another owner's.
func TestPipelinedChangesMatchTransactions(t *testing.T) {
	t.Parallel()
	fast, db := newStore(t, repotest.Postgres(t))
	plain := repository.NewPlainOrders(db)
	ctx := t.Context()
	mocha := []models.Item{{Product: "mocha", Size: models.SizeSmall, Quantity: 1}}
	orders := map[*repository.Orders]models.OrderID{}
	for _, s := range []*repository.Orders{fast, plain} {
		orders[s] = mustCreate(t, s, "alice", latte).ID
	}
	for _, tt := range []struct {
		name   string
		change func(s *repository.Orders, id models.OrderID) (models.Order, error)
	}{
		{"replace items", func(s *repository.Orders, id models.OrderID) (models.Order, error) {
			return s.ReplaceItems(ctx, "alice", id, mocha, models.AnyVersion)
		}},
		{"pay", func(s *repository.Orders, id models.OrderID) (models.Order, error) {
			return s.Transition(ctx, "alice", id, models.Pay(), models.AnyVersion)
		}},
		{"pay again", func(s *repository.Orders, id models.OrderID) (models.Order, error) {
			return s.Transition(ctx, "alice", id, models.Pay(), models.AnyVersion)
		}},
		{"replace items once paid", func(s *repository.Orders, id models.OrderID) (models.Order, error) {
			return s.ReplaceItems(ctx, "alice", id, latte, models.AnyVersion)
		}},
		{"cancel a stale version", func(s *repository.Orders, id models.OrderID) (models.Order, error) {
			return s.Transition(ctx, "alice", id, models.Cancel(), 2)
		}},
		{"delete a stale version", func(s *repository.Orders, id models.OrderID) (models.Order, error) {
			return models.Order{}, s.Delete(ctx, "alice", id, 1)
		}},
		{"another owner's order", func(s *repository.Orders, id models.OrderID) (models.Order, error) {
			return s.Transition(ctx, "bob", id, models.Cancel(), models.AnyVersion)
		}},
		{"delete", func(s *repository.Orders, id models.OrderID) (models.Order, error) {
			return models.Order{}, s.Delete(ctx, "alice", id, models.AnyVersion)
		}},
		{"delete again", func(s *repository.Orders, id models.OrderID) (models.Order, error) {
			return models.Order{}, s.Delete(ctx, "alice", id, models.AnyVersion)
		}},
		{"cancel a deleted order", func(s *repository.Orders, id models.OrderID) (models.Order, error) {
			return s.Transition(ctx, "alice", id, models.Cancel(), models.AnyVersion)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want, wantErr := tt.change(plain, orders[plain])
			got, err := tt.change(fast, orders[fast])
			for _, domain := range []error{models.ErrNotFound, models.ErrConflict, models.ErrStale} {
				if errors.Is(err, domain) != errors.Is(wantErr, domain) {
					t.Fatalf("pipelined: %v; the transaction's: %v", err, wantErr)
				}
			}
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("pipelined: %v; the transaction's: %v", err, wantErr)
			}
			want.ID, got.ID, want.Created, got.Created = "", "", time.Time{}, time.Time{}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pipelined change differs from the transaction's (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStoreInATransaction checks that a store on a transaction's handle
// runs its calls in that transaction, not pipelined beside it: what it
// creates is gone when the transaction rolls back.
func TestStoreInATransaction(t *testing.T) {
	t.Parallel()
	s, db := newStore(t, repotest.Postgres(t))
	ctx := t.Context()
	var created models.Order
	rollback := errors.New("roll back")
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		inTx := repository.NewOrders(tx)
		var err error
		if created, err = inTx.Create(ctx, "alice", latte); err != nil {
			return err
		}
		if _, err := inTx.Get(ctx, "alice", created.ID); err != nil {
			return fmt.Errorf("the transaction does not see its own order: %w", err)
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "alice", created.ID); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("Get of an order created in a rolled-back transaction: %v; want models.ErrNotFound", err)
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
		{"replace items", func() error { _, err := s.ReplaceItems(ctx, "alice", mine.ID, latte, models.AnyVersion); return err }},
		{"pay", func() error {
			_, err := s.Transition(ctx, "alice", mine.ID, models.Pay(), models.AnyVersion)
			return err
		}},
		{"pay again, refused", func() error {
			if _, err := s.Transition(ctx, "alice", mine.ID, models.Pay(), models.AnyVersion); !errors.Is(err, models.ErrConflict) {
				return fmt.Errorf("got %v; want models.ErrConflict", err)
			}
			return nil
		}},
		{"delete", func() error { return s.Delete(ctx, "alice", mine.ID, models.AnyVersion) }},
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

// TestPostgresListPlan checks that a list on PostgreSQL finds its owner's
// orders through the index on (owner, created DESC, id DESC), never by
// reading the table, whether PostgreSQL plans the prepared statement for
// its parameters (a custom plan) or once for all (a generic plan, which it
// may switch to after five runs); and that for an owner of many orders it
// walks the index in the page's order, with no sort, so that a page costs
// the same however many orders there are.
func TestPostgresListPlan(t *testing.T) {
	t.Parallel()
	s, db := newStore(t, repotest.Postgres(t))
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				owner := models.OwnerID(fmt.Sprintf("owner-%d", (w*500+i)%40))
				if i%2 == 0 {
					owner = "many"
				}
				if _, err := s.Create(ctx, owner, latte); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "ANALYZE orders"); err != nil {
		t.Fatal(err)
	}
	after := &models.Cursor{Created: time.Now(), ID: "z"}
	n := 0
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		for _, owner := range []models.OwnerID{"many", "owner-1"} {
			for _, q := range []models.ListQuery{{Limit: 20}, {Limit: 20, After: after}} {
				n++
				got := explainList(t, conn, fmt.Sprintf("list%d", n), mode, owner, q)
				if !strings.Contains(got, "Index Cond: (owner = ") || strings.Contains(got, "Seq Scan") {
					t.Errorf("%s, %s, %+v:\n%s\nwant a lookup of the owner in orders_owner_created", mode, owner, q, got)
				}
				if owner == "many" && (!strings.Contains(got, "Index Scan using orders_owner_created on orders") || strings.Contains(got, "Sort")) {
					t.Errorf("%s, %s, %+v:\n%s\nwant a walk of orders_owner_created, with no sort", mode, owner, q, got)
				}
			}
		}
	}
}

// explainList prepares the list q of owner's orders as name on conn, and
// returns PostgreSQL's plan of it under plan_cache_mode mode.
func explainList(t *testing.T, conn *sql.Conn, name, mode string, owner models.OwnerID, q models.ListQuery) string {
	t.Helper()
	query, args := repository.ListQuery(owner, q)
	types, values := make([]string, len(args)), make([]string, len(args))
	for i, a := range args {
		if v, ok := a.(string); ok {
			types[i], values[i] = "text", "'"+v+"'" // the test's own values, with no quote
		} else {
			types[i], values[i] = "bigint", fmt.Sprint(a)
		}
	}
	for _, stmt := range []string{"SET plan_cache_mode = " + mode, fmt.Sprintf("PREPARE %s(%s) AS %s", name, strings.Join(types, ", "), query)} {
		if _, err := conn.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return explain(t, conn, "EXPLAIN EXECUTE "+name+"("+strings.Join(values, ", ")+")")
}

// explain returns PostgreSQL's plan of the EXPLAIN statement stmt, run on
// conn.
func explain(t *testing.T, conn *sql.Conn, stmt string) string {
	t.Helper()
	rows, err := conn.QueryContext(t.Context(), stmt)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
