package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/models"
)

// Payer takes the payment for an order from the payments service, on behalf
// of the caller whose verified access token is token, signed by the trusted
// issuer issuer, with subject subject. It returns nil only when the payment
// was taken; its errors match models.ErrExchangeRefused,
// models.ErrIssuerUnavailable, models.ErrIssuerTimeout,
// models.ErrPaymentFailed, models.ErrPaymentUnavailable,
// models.ErrPaymentTimeout or models.ErrConflict. Every attempt for one
// order carries the same idempotency key, Key(id), so paying again after a
// failure never charges twice. main passes a *payments.Client.
type Payer interface {
	Pay(ctx context.Context, issuer, subject, token string, id models.OrderID) error
	Key(id models.OrderID) string
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
//
// A cancel, delete or replacement may land between the payment and the
// update: the payment is then taken for an order that is no longer payable
// as it was. That is found by reading the order again, logged at Error with
// the order id and the idempotency key, for the payment to be refunded,
// and answered 409 with a detail that says so (models.ErrPaymentOrphaned).
// Making such changes wait for a pay in flight would need a state of its
// own in the database.
func handlePay(idem idempotency, payer Payer, requireIfMatch bool, log *slog.Logger) change {
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
		if err := payer.Pay(ctx, p.Issuer, p.Subject, token, id); err != nil {
			return err
		}
		err = transition(c, store, who, id, models.Pay(), match, once)
		if errors.Is(err, models.ErrConflict) || errors.Is(err, models.ErrNotFound) || errors.Is(err, models.ErrStale) {
			return paidMeanwhile(ctx, store, log, who, id, payer.Key(id), err)
		}
		return err
	}
}

// paidMeanwhile says why the order id, just paid at the payments service,
// could not be marked paid (err): another pay of it came first, which is
// a plain conflict, since the payments service charged once for both; or
// it was cancelled, deleted or replaced, and the payment taken under key
// is orphaned.
func paidMeanwhile(ctx context.Context, store OrderStore, log *slog.Logger, who models.OwnerID, id models.OrderID, key string, err error) error {
	o, gerr := store.Get(ctx, who, id)
	if gerr == nil && o.Status == models.StatusPaid {
		return err
	}
	log.ErrorContext(ctx, "payment taken for an order that changed meanwhile; refund it",
		"order_id", id, "idempotency_key", key, "status", o.Status, "error", errors.Join(err, gerr))
	// err is not wrapped: the answer is about the orphaned payment, not a
	// plain conflict, a stale version or a missing order.
	return fmt.Errorf("pay order %s: %w (%v)", id, models.ErrPaymentOrphaned, err)
}
