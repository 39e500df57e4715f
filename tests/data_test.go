package tests

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/repository"
	"github.com/coffeemesh/orders/repository/repotest"
)

// forgetfulStore is a store with a bug: its List runs in a transaction
// scoped to the owner, as every statement on PostgreSQL must, but forgets
// the owner filter of its query.
type forgetfulStore struct {
	*repository.Orders
	db *gorm.DB
}

func (s forgetfulStore) List(ctx context.Context, owner models.OwnerID, _ models.ListQuery) (models.Page, error) {
	var ids []string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SELECT set_config('app.owner', ?, true)", string(owner)).Error; err != nil {
			return err
		}
		return tx.Raw("SELECT id FROM orders ORDER BY created DESC").Scan(&ids).Error
	})
	var page models.Page
	for _, id := range ids {
		o, err := s.Get(ctx, owner, models.OrderID(id))
		if err != nil {
			return models.Page{}, fmt.Errorf("order %s listed but not readable: %w", id, err)
		}
		page.Orders = append(page.Orders, o)
	}
	return page, err
}

// TestRowLevelSecurityThroughTheAPI serves GET /orders from a store whose
// query forgot its owner filter: on PostgreSQL, row-level security still
// shows each caller only their own orders.
func TestRowLevelSecurityThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnvFor(t, nil, func(c *envConfig) {
		c.db = repotest.Postgres(t)
		c.store = func(db *gorm.DB) api.OrderStore { return forgetfulStore{repository.NewOrders(db), db} }
	})
	alice, bob := e.token(t, "alice", rw), e.token(t, "bob", rw)
	hers := e.create(t, alice, item{"latte", "big", 1})
	e.create(t, bob, item{"tea", "small", 1})
	e.create(t, bob, item{"mocha", "medium", 1})

	l, _ := e.list(t, alice, "")
	if len(l.Orders) != 1 || l.Orders[0].ID != hers.ID {
		t.Errorf("alice lists %+v through a forgetful query; want only her own order", l.Orders)
	}
	l, _ = e.list(t, bob, "")
	if len(l.Orders) != 2 {
		t.Errorf("bob lists %d orders; want his 2", len(l.Orders))
	}
}

// TestConcurrentWriters has 64 clients place orders for 4 users at once:
// no request fails, and every acknowledged order is listed exactly once.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		const writers, each, users = 64, 5, 4
		tokens := make([]string, users)
		for u := range users {
			tokens[u] = e.token(t, fmt.Sprintf("user-%d", u), rw)
		}
		var (
			mu    sync.Mutex
			acked = map[int]map[string]bool{}
			wg    sync.WaitGroup
		)
		for u := range users {
			acked[u] = map[string]bool{}
		}
		for w := range writers {
			u := w % users
			wg.Go(func() {
				for i := range each {
					status, id, err := placeOrder(http.DefaultClient, e.url, tokens[u], fmt.Sprintf("w%d-%d", w, i))
					if err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					if status != http.StatusCreated {
						t.Errorf("writer %d: status %d", w, status)
						continue
					}
					mu.Lock()
					acked[u][id] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for u := range users {
			seen := map[string]int{}
			next := "?limit=100"
			for next != "" {
				l, r := e.list(t, tokens[u], next)
				for _, o := range l.Orders {
					seen[o.ID]++
				}
				next = nextLink(t, r.header.Get("Link"))
				if next != "" {
					next = next[len("/orders"):]
				}
			}
			for id := range acked[u] {
				if seen[id] != 1 {
					t.Errorf("user %d: acknowledged order %s listed %d times", u, id, seen[id])
				}
			}
			if len(seen) != len(acked[u]) {
				t.Errorf("user %d: %d orders listed, %d acknowledged", u, len(seen), len(acked[u]))
			}
		}
	})
}
