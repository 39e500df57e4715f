package repository

import (
	"context"

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
