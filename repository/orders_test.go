package repository_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/repository"
	"github.com/coffeemesh/orders/repository/repotest"
)

// newStore opens db, migrated, and closes it when the test ends.
func newStore(tb testing.TB, db repotest.Database) (*repository.Orders, *gorm.DB) {
	tb.Helper()
	g := repotest.Open(tb, db)
	return repository.NewOrders(g), g
}

var latte = []models.Item{{Product: "latte", Size: models.SizeBig, Quantity: 2}}

func mustCreate(tb testing.TB, s *repository.Orders, owner models.OwnerID, items []models.Item) models.Order {
	tb.Helper()
	o, err := s.Create(context.Background(), owner, items)
	if err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return o
}

func TestCreateThenGet(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, _ := newStore(t, db)
		ctx := t.Context()
		created := mustCreate(t, s, "alice", latte)
		if created.Status != models.StatusCreated || created.Owner != "alice" || created.ID == "" {
			t.Fatalf("Create = %+v", created)
		}
		if _, err := models.ParseOrderID("id", string(created.ID)); err != nil {
			t.Errorf("id %q is not a UUID", created.ID)
		}
		got, err := s.Get(ctx, "alice", created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(created, got); diff != "" {
			t.Errorf("Get differs from Create (-create +get):\n%s", diff)
		}
	})
}

// TestOwnership runs every operation as another owner: each must behave as
// if the order did not exist, and leave it unchanged.
func TestOwnership(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, _ := newStore(t, db)
		ctx := t.Context()
		order := mustCreate(t, s, "alice", latte)
		other := []models.Item{{Product: "tea", Size: models.SizeSmall, Quantity: 1}}

		ops := map[string]func() error{
			"get":     func() error { _, err := s.Get(ctx, "bob", order.ID); return err },
			"replace": func() error { _, err := s.ReplaceItems(ctx, "bob", order.ID, other, models.AnyVersion); return err },
			"pay": func() error {
				_, err := s.Transition(ctx, "bob", order.ID, models.Pay(), models.AnyVersion)
				return err
			},
			"cancel": func() error {
				_, err := s.Transition(ctx, "bob", order.ID, models.Cancel(), models.AnyVersion)
				return err
			},
			"delete": func() error { return s.Delete(ctx, "bob", order.ID, models.AnyVersion) },
		}
		for name, op := range ops {
			t.Run(name, func(t *testing.T) {
				if err := op(); !errors.Is(err, models.ErrNotFound) {
					t.Errorf("%s as bob = %v; want ErrNotFound", name, err)
				}
			})
		}
		page, err := s.List(ctx, "bob", models.ListQuery{Limit: 10})
		if err != nil || len(page.Orders) != 0 {
			t.Errorf("List as bob = %+v, %v; want none", page, err)
		}
		got, err := s.Get(ctx, "alice", order.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(order, got); diff != "" {
			t.Errorf("alice's order changed (-want +got):\n%s", diff)
		}
	})
}

func TestStatusRules(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, _ := newStore(t, db)
		ctx := t.Context()
		items := []models.Item{{Product: "mocha", Size: models.SizeMedium, Quantity: 1}}

		type step struct {
			name    string
			do      func(id models.OrderID) (models.Order, error)
			want    models.Status
			wantErr error
		}
		pay := func(id models.OrderID) (models.Order, error) {
			return s.Transition(ctx, "alice", id, models.Pay(), models.AnyVersion)
		}
		cancel := func(id models.OrderID) (models.Order, error) {
			return s.Transition(ctx, "alice", id, models.Cancel(), models.AnyVersion)
		}
		replace := func(id models.OrderID) (models.Order, error) {
			return s.ReplaceItems(ctx, "alice", id, items, models.AnyVersion)
		}
		tests := []struct {
			name  string
			steps []step
		}{
			{"pay then cancel", []step{{"pay", pay, models.StatusPaid, nil}, {"cancel", cancel, models.StatusCancelled, nil}}},
			{"cancel created", []step{{"cancel", cancel, models.StatusCancelled, nil}}},
			{"pay twice", []step{{"pay", pay, models.StatusPaid, nil}, {"pay", pay, "", models.ErrConflict}}},
			{"replace while created", []step{{"replace", replace, models.StatusCreated, nil}}},
			{"replace after pay", []step{{"pay", pay, models.StatusPaid, nil}, {"replace", replace, "", models.ErrConflict}}},
			{"pay after cancel", []step{{"cancel", cancel, models.StatusCancelled, nil}, {"pay", pay, "", models.ErrConflict}}},
			{"cancel twice", []step{{"cancel", cancel, models.StatusCancelled, nil}, {"cancel", cancel, "", models.ErrConflict}}},
			{"replace after cancel", []step{{"cancel", cancel, models.StatusCancelled, nil}, {"replace", replace, "", models.ErrConflict}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				o := mustCreate(t, s, "alice", latte)
				for _, st := range tt.steps {
					got, err := st.do(o.ID)
					if !errors.Is(err, st.wantErr) && !(err == nil && st.wantErr == nil) {
						t.Fatalf("%s: err = %v; want %v", st.name, err, st.wantErr)
					}
					if err == nil && got.Status != st.want {
						t.Fatalf("%s: status = %s; want %s", st.name, got.Status, st.want)
					}
				}
			})
		}

		o := mustCreate(t, s, "alice", latte)
		got, err := s.ReplaceItems(ctx, "alice", o.ID, items, models.AnyVersion)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(items, got.Items); diff != "" {
			t.Errorf("ReplaceItems kept the old items (-want +got):\n%s", diff)
		}
		if !got.Created.Equal(o.Created) || got.ID != o.ID {
			t.Errorf("ReplaceItems changed id or created: %+v", got)
		}
	})
}

func TestMissingOrder(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, _ := newStore(t, db)
		ctx := t.Context()
		id, _ := models.NewOrderID()
		if _, err := s.Get(ctx, "alice", id); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Get = %v; want ErrNotFound", err)
		}
		if _, err := s.Transition(ctx, "alice", id, models.Pay(), models.AnyVersion); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Transition = %v; want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "alice", id, models.AnyVersion); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Delete = %v; want ErrNotFound", err)
		}
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, _ := newStore(t, db)
		ctx := t.Context()
		o := mustCreate(t, s, "alice", latte)
		if err := s.Delete(ctx, "alice", o.ID, models.AnyVersion); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "alice", o.ID); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Get after Delete = %v; want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "alice", o.ID, models.AnyVersion); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("second Delete = %v; want ErrNotFound", err)
		}
	})
}

// TestListPagesAreStable walks the pages while orders are being added: every
// order that existed at the start is seen exactly once, newest first.
func TestListPagesAreStable(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, _ := newStore(t, db)
		ctx := t.Context()
		var want []models.OrderID
		for range 25 {
			want = append([]models.OrderID{mustCreate(t, s, "alice", latte).ID}, want...)
		}
		mustCreate(t, s, "bob", latte)

		var got []models.OrderID
		q := models.ListQuery{Limit: 7}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("too many pages")
			}
			page, err := s.List(ctx, "alice", q)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Orders {
				got = append(got, o.ID)
			}
			mustCreate(t, s, "alice", latte) // newer than everything listed
			if page.Next == nil {
				break
			}
			q.After = page.Next
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
	})
}

func TestListFiltersCancelled(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, _ := newStore(t, db)
		ctx := t.Context()
		open := mustCreate(t, s, "alice", latte)
		gone := mustCreate(t, s, "alice", latte)
		if _, err := s.Transition(ctx, "alice", gone.ID, models.Cancel(), models.AnyVersion); err != nil {
			t.Fatal(err)
		}
		yes, no := true, false
		tests := []struct {
			name      string
			cancelled *bool
			want      []models.OrderID
		}{
			{"all", nil, []models.OrderID{gone.ID, open.ID}},
			{"cancelled", &yes, []models.OrderID{gone.ID}},
			{"not cancelled", &no, []models.OrderID{open.ID}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := s.List(ctx, "alice", models.ListQuery{Limit: 10, Cancelled: tt.cancelled})
				if err != nil {
					t.Fatal(err)
				}
				var got []models.OrderID
				for _, o := range page.Orders {
					got = append(got, o.ID)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestConcurrentWriters writes from many goroutines at once: SQLite must
// never answer "database is locked", and no order may be lost.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, _ := newStore(t, db)
		ctx := t.Context()
		const writers, each = 32, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			owner := models.OwnerID(fmt.Sprintf("user-%d", w%4))
			wg.Go(func() {
				for range each {
					o, err := s.Create(ctx, owner, latte)
					if err == nil {
						_, err = s.Transition(ctx, owner, o.ID, models.Pay(), models.AnyVersion)
					}
					if err == nil {
						_, err = s.List(ctx, owner, models.ListQuery{Limit: 5})
					}
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent write: %v", err)
		}
		total := 0
		for u := range 4 {
			q := models.ListQuery{Limit: models.MaxPageSize}
			for {
				page, err := s.List(ctx, models.OwnerID(fmt.Sprintf("user-%d", u)), q)
				if err != nil {
					t.Fatal(err)
				}
				total += len(page.Orders)
				if page.Next == nil {
					break
				}
				q.After = page.Next
			}
		}
		if total != writers*each {
			t.Errorf("listed %d orders; want %d", total, writers*each)
		}
	})
}

func TestCreatedIsUTCMicroseconds(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, _ := newStore(t, db)
		o := mustCreate(t, s, "alice", latte)
		if o.Created.Location() != time.UTC || o.Created.Nanosecond()%1000 != 0 {
			t.Errorf("created = %v; want UTC to the microsecond", o.Created)
		}
		if d := time.Since(o.Created); d < 0 || d > time.Minute {
			t.Errorf("created = %v; want about now", o.Created)
		}
	})
}

func TestOpenRefusesBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "orders.db", "sqlite:", "sqlite:x.db?_journal_mode=DELETE", "mysql://x"} {
		if _, err := repository.Open(u, repository.Pool{}); err == nil {
			t.Errorf("Open(%q) = nil error; want one", u)
		}
	}
}

// TestRowLevelSecurity runs queries that forgot their owner filter on
// PostgreSQL: inside Scoped they see the owner's rows only, and outside it
// none at all.
func TestRowLevelSecurity(t *testing.T) {
	t.Parallel()
	s, db := newStore(t, repotest.Postgres(t))
	ctx := t.Context()
	mine := mustCreate(t, s, "alice", latte)
	mustCreate(t, s, "bob", latte)
	mustCreate(t, s, "bob", latte)

	var ids []string
	err := s.Scoped(ctx, "alice", func(tx *gorm.DB) error {
		return tx.Raw("SELECT id FROM orders").Scan(&ids).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{string(mine.ID)}, ids); diff != "" {
		t.Errorf("unfiltered query scoped to alice (-want +got):\n%s", diff)
	}
	var n int64
	if err := db.WithContext(ctx).Raw("SELECT count(*) FROM orders").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("an unscoped query sees %d orders; want none", n)
	}
	err = s.Scoped(ctx, "alice", func(tx *gorm.DB) error {
		return tx.Exec("UPDATE orders SET status = 'cancelled'").Error
	})
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, "bob", models.ListQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range page.Orders {
		if o.Status != models.StatusCreated {
			t.Errorf("alice's unfiltered UPDATE changed bob's order %s", o.ID)
		}
	}
	err = s.Scoped(ctx, "alice", func(tx *gorm.DB) error {
		return tx.Exec("INSERT INTO orders (id, owner, created, status, items) VALUES ('x', 'bob', 0, 'created', '[]')").Error
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("alice inserting an order owned by bob: %v; want a row-level security violation (42501)", err)
	}
}

// TestSQLiteSettings checks what keeps SQLite safe under concurrent
// requests, and the plans of the reads: a list walks the table, which is
// kept in its order, and a point read looks its id up.
func TestSQLiteSettings(t *testing.T) {
	t.Parallel()
	_, db := newStore(t, repotest.SQLite(t))
	var mode string
	var timeout int
	if err := db.Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := db.Raw("PRAGMA busy_timeout").Scan(&timeout).Error; err != nil || timeout != 10000 {
		t.Errorf("busy_timeout = %d, %v; want 10000", timeout, err)
	}
	var cache int
	if err := db.Raw("PRAGMA cache_size").Scan(&cache).Error; err != nil || cache != -1024 {
		t.Errorf("cache_size = %d, %v; want -1024 (1 MiB)", cache, err)
	}
	yes, no := true, false
	after := &models.Cursor{Created: time.Now(), ID: "01a212ca-1f9e-7845-9d34-85af37bf4303"}
	for _, q := range []models.ListQuery{{Limit: 20}, {Limit: 1, Cancelled: &yes}, {Limit: 100, Cancelled: &no, After: after}, {Limit: 20, After: after}} {
		query, args := repository.ListQuery("alice", q)
		if got := plan(t, db, query, args...); !strings.HasPrefix(got, "SEARCH orders USING PRIMARY KEY (owner=?") || strings.Contains(got, "\n") {
			t.Errorf("the plan of %q is %q; want one walk of the table, in its order", query, got)
		}
	}
	if got := plan(t, db, repository.GetOrder, "alice", "x"); got != "SEARCH orders USING INDEX orders_id (id=?)" {
		t.Errorf("the plan of a point read is %q; want a lookup of the id", got)
	}
}

// plan returns SQLite's query plan of query, one step per line.
func plan(t *testing.T, db *gorm.DB, query string, args ...any) string {
	t.Helper()
	var steps []struct{ Detail string }
	if err := db.Raw("EXPLAIN QUERY PLAN "+query, args...).Scan(&steps).Error; err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range steps {
		lines = append(lines, s.Detail)
	}
	return strings.Join(lines, "\n")
}

// TestSQLiteReadsRunToTheirEnd pins the reads' fast path on SQLite, which
// runs statements without their request's cancellation (a cancellable
// context made the driver start a goroutine for every row it read), against
// the plain path: reads answer the same, and a read whose request is gone
// still runs to its end, bounded by the busy timeout; on PostgreSQL a
// cancelled request's read is cancelled.
func TestSQLiteReadsRunToTheirEnd(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, g := newStore(t, db)
		o := mustCreate(t, s, "alice", latte)
		cancelled, cancel := context.WithCancel(t.Context())
		cancel()
		live, err := s.Get(t.Context(), "alice", o.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(cancelled, "alice", o.ID)
		page, errList := s.List(cancelled, "alice", models.ListQuery{Limit: 10})
		if g.Dialector.Name() == "postgres" {
			if !errors.Is(err, context.Canceled) || !errors.Is(errList, context.Canceled) {
				t.Errorf("reads of a cancelled request on PostgreSQL: %v, %v; want context.Canceled", err, errList)
			}
			return
		}
		if err != nil || errList != nil {
			t.Fatalf("reads of a cancelled request on SQLite: %v, %v; want them run to their end", err, errList)
		}
		if diff := cmp.Diff(live, got); diff != "" {
			t.Errorf("Get without cancellation differs from Get (-live +fast):\n%s", diff)
		}
		if len(page.Orders) != 1 || page.Orders[0].ID != o.ID {
			t.Errorf("List without cancellation = %+v; want alice's order", page.Orders)
		}
	})
}

// TestVersions checks that every change counts one more version, and that a
// change naming another version than the order's changes nothing.
func TestVersions(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		s, _ := newStore(t, db)
		ctx := t.Context()
		o := mustCreate(t, s, "alice", latte)
		if o.Version != 1 {
			t.Fatalf("created at version %d; want 1", o.Version)
		}
		mocha := []models.Item{{Product: "mocha", Size: models.SizeSmall, Quantity: 1}}
		if _, err := s.ReplaceItems(ctx, "alice", o.ID, mocha, 2); !errors.Is(err, models.ErrStale) {
			t.Fatalf("ReplaceItems at a version to come = %v; want ErrStale", err)
		}
		replaced, err := s.ReplaceItems(ctx, "alice", o.ID, mocha, 1)
		if err != nil || replaced.Version != 2 {
			t.Fatalf("ReplaceItems at version 1 = version %d, %v; want version 2", replaced.Version, err)
		}
		if _, err := s.Transition(ctx, "alice", o.ID, models.Pay(), 1); !errors.Is(err, models.ErrStale) {
			t.Fatalf("pay at version 1 = %v; want ErrStale", err)
		}
		if err := s.Delete(ctx, "alice", o.ID, 1); !errors.Is(err, models.ErrStale) {
			t.Fatalf("Delete at version 1 = %v; want ErrStale", err)
		}
		got, err := s.Get(ctx, "alice", o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(replaced, got); diff != "" {
			t.Errorf("stale changes changed the order (-want +got):\n%s", diff)
		}
		paid, err := s.Transition(ctx, "alice", o.ID, models.Pay(), 2)
		if err != nil || paid.Version != 3 || paid.Status != models.StatusPaid {
			t.Fatalf("pay at version 2 = %+v, %v; want paid at version 3", paid, err)
		}
		if _, err := s.Transition(ctx, "alice", o.ID, models.Pay(), 3); !errors.Is(err, models.ErrConflict) {
			t.Errorf("pay again at the current version = %v; want ErrConflict", err)
		}
		if err := s.Delete(ctx, "bob", o.ID, 3); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("Delete of another owner's order = %v; want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "alice", o.ID, 3); err != nil {
			t.Errorf("Delete at the current version: %v", err)
		}
	})
}
