package repository_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/repository"
	"github.com/coffeemesh/orders/repository/repotest"
)

// benchStores returns a store on each database, seeded with 1,000 orders
// of owner-0 among 10,000 of 10 owners; on PostgreSQL also one on the same
// database that runs every call in a transaction ("postgres-transactions"),
// the plain path of the pipelined reads and creates.
func benchStores(b *testing.B) map[string]*repository.Orders {
	stores := map[string]*repository.Orders{}
	for _, db := range []repotest.Database{repotest.SQLite(b), repotest.Postgres(b)} {
		s, g := newStore(b, db)
		for i := range 10000 {
			mustCreate(b, s, models.OwnerID(fmt.Sprintf("owner-%d", i%10)), latte)
		}
		stores[db.Name] = s
		if db.Name == "postgres" {
			stores["postgres-transactions"] = repository.NewPlainOrders(g)
		}
	}
	return stores
}

func BenchmarkRepository(b *testing.B) {
	for name, s := range benchStores(b) {
		ctx := b.Context()
		page, err := s.List(ctx, "owner-0", models.ListQuery{Limit: 20})
		if err != nil {
			b.Fatal(err)
		}
		id := page.Orders[0].ID
		b.Run(name+"/get", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Get(ctx, "owner-0", id); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/list20", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.List(ctx, "owner-0", models.ListQuery{Limit: 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/create", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Create(ctx, "owner-1", latte); err != nil {
					b.Fatal(err)
				}
			}
		})
		n := 0
		b.Run(name+"/create-once", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n++
				if _, err := s.CreateOnce(ctx, "owner-1", latte, once(fmt.Sprintf("bench-%s-%d", name, n), time.Hour)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
