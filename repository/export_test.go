package repository

import (
	"context"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"

	"github.com/coffeemesh/orders/models"
)

// The statements of the read paths, for tests of their query plans.
var (
	ListQuery = listQuery
	GetOrder  = getOrder
)

// Scoped lets the external tests run queries of their own, such as one that
// forgot its owner filter, in the scope every method of Orders runs in.
func (r *Orders) Scoped(ctx context.Context, owner models.OwnerID, fn func(tx *gorm.DB) error) error {
	return r.scoped(ctx, owner, fn)
}

// NewPlainOrders returns a store on db whose PostgreSQL calls all run in
// transactions, as those of a store on a transaction's handle do:
// the plain path that pipelined is pinned against.
func NewPlainOrders(db *gorm.DB) *Orders {
	r := NewOrders(db)
	r.pool = nil
	return r
}

// PipelinedIDs runs query, which selects ids, pipelined and scoped to
// owner as the reads and creates of Orders are, and returns its ids.
func (r *Orders) PipelinedIDs(ctx context.Context, owner models.OwnerID, query string) ([]string, error) {
	var ids []string
	err := r.pipelined(ctx, owner, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}, statement{sql: query})
	return ids, err
}
