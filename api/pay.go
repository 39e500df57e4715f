package api

import (
	"context"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/models"
)

// Payer takes the payment for an order from the payments service, on behalf
// of the caller whose verified access token is token and whose subject is
// subject. It returns nil only when the payment was taken; its errors match
// models.ErrExchangeRefused, models.ErrPaymentFailed,
// models.ErrPaymentUnavailable or models.ErrPaymentTimeout. Every attempt
// for one order carries the same idempotency key, so paying again after a
// failure never charges twice. main passes a *payments.Client.
type Payer interface {
	Pay(ctx context.Context, subject, token string, id models.OrderID) error
}

// handlePay serves POST /orders/{order_id}/pay when payments go through a
// payments service: for the caller's own order in status created, it has
// payer take the payment, and only then marks the order paid.
//
// No lock is held while the payments service is called: the change from
// created to paid is one conditional update after the payment, so of
// concurrent pays of one order exactly one answers 200 and the others 409,
// while the payments service sees one idempotency key for all of them. A
// failed payment changes nothing, and the same pay may be sent again.
//
// If-Match (see ifMatch) is checked before the payment and again by the
// update after it. Under an Idempotency-Key (see idempotency), a stored
// answer is replayed before anything else, so that the payments service is
// not called for a pay already answered.
func handlePay(idem idempotency, payer Payer, requireIfMatch bool) change {
	store := idem.store
	return func(c *gin.Context, once *models.Once) error {
		who, id, err := ownerAndOrder(c)
		if err != nil {
			return err
		}
		if once != nil {
			if replayed, err := idem.replay(c, once); replayed || err != nil {
				return err
			}
		}
		match, err := ifMatch(c, requireIfMatch, store, who, id)
		if err != nil {
			return err
		}
		ctx := c.Request.Context()
		o, err := store.Get(ctx, who, id)
		if err != nil {
			return err
		}
		if match != models.AnyVersion && o.Version != match {
			return models.ErrStale
		}
		if !models.Pay().Allows(o.Status) {
			return models.ErrConflict
		}
		p, ok := auth.FromContext(ctx)
		if !ok {
			return errNoPrincipal
		}
		token, err := auth.SubjectToken(c.Request)
		if err != nil {
			return err
		}
		if err := payer.Pay(ctx, p.Subject, token, id); err != nil {
			return err
		}
		return transition(c, store, who, id, models.Pay(), match, once)
	}
}
