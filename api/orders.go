package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/models"
)

// OrderStore is what the API needs of a store of orders. Every method is
// scoped to owner and returns models.ErrNotFound for another owner's order.
type OrderStore interface {
	Create(ctx context.Context, owner models.OwnerID, items []models.Item) (models.Order, error)
	Get(ctx context.Context, owner models.OwnerID, id models.OrderID) (models.Order, error)
	List(ctx context.Context, owner models.OwnerID, q models.ListQuery) (models.Page, error)
	// ReplaceItems, Transition and Delete change the order only if it has
	// version match (any, for models.AnyVersion), and return
	// models.ErrStale otherwise.
	ReplaceItems(ctx context.Context, owner models.OwnerID, id models.OrderID, items []models.Item, match models.Version) (models.Order, error)
	Transition(ctx context.Context, owner models.OwnerID, id models.OrderID, t models.Transition, match models.Version) (models.Order, error)
	Delete(ctx context.Context, owner models.OwnerID, id models.OrderID, match models.Version) error
	// CreateOnce and TransitionOnce are Create and Transition under an
	// idempotency key: the change and once's answer are stored together,
	// and models.ErrConflict, with nothing changed, means the owner holds
	// the key already. Answered returns the answer stored with the
	// owner's key, or models.ErrNotFound.
	CreateOnce(ctx context.Context, owner models.OwnerID, items []models.Item, once models.Once) (models.Order, error)
	TransitionOnce(ctx context.Context, owner models.OwnerID, id models.OrderID, t models.Transition, match models.Version, once models.Once) (models.Order, error)
	Answered(ctx context.Context, owner models.OwnerID, key string) (models.Answer, error)
}

// errNoPrincipal means a handler that needs the caller ran without
// Authenticate before it: a bug in the route table, answered 500.
var errNoPrincipal = errors.New("no authenticated principal on an orders route")

// owner is the authenticated caller as the owner of orders. It fails closed:
// without a principal there is no owner to scope a query to.
func owner(c *gin.Context) (models.OwnerID, error) {
	p, ok := auth.FromContext(c.Request.Context())
	if !ok {
		return "", errNoPrincipal
	}
	return models.NewOwnerID(p.Issuer, p.Subject), nil
}

// ownerAndOrder returns the caller and the order_id path parameter.
func ownerAndOrder(c *gin.Context) (models.OwnerID, models.OrderID, error) {
	who, err := owner(c)
	if err != nil {
		return "", "", err
	}
	id, err := models.ParseOrderID("order_id", c.Param("order_id"))
	return who, id, err
}

// handleListOrders serves GET /orders: a page of the caller's orders, and
// a Link to the next page when there is one.
func handleListOrders(store OrderStore) handler {
	return func(c *gin.Context) error {
		who, err := owner(c)
		if err != nil {
			return err
		}
		q, err := parseListQuery(c.Request.URL.RawQuery)
		if err != nil {
			return err
		}
		page, err := store.List(c.Request.Context(), who, q)
		if err != nil {
			return err
		}
		if page.Next != nil {
			c.Header("Link", nextLink(c.Request.URL.Path, q, *page.Next))
		}
		writeBody(c, http.StatusOK, func(b []byte) []byte { return appendOrderList(b, page.Orders) })
		return nil
	}
}

// handleCreateOrder serves POST /orders, under an idempotency key if the
// request has one (see idempotency).
func handleCreateOrder(store OrderStore, log *slog.Logger) change {
	return func(c *gin.Context, once *models.Once) error {
		who, err := owner(c)
		if err != nil {
			return err
		}
		items, err := decodeItems(c)
		if err != nil {
			return err
		}
		var (
			o      models.Order
			answer models.Answer
		)
		if once == nil {
			o, err = store.Create(c.Request.Context(), who, items)
		} else {
			once.Answer = func(o models.Order) models.Answer {
				return orderAnswer(http.StatusCreated, c.Request.URL.Path+"/"+string(o.ID), o, &answer)
			}
			o, err = store.CreateOnce(c.Request.Context(), who, items, *once)
		}
		if err != nil {
			return err
		}
		log.InfoContext(c.Request.Context(), "order created", "order_id", o.ID, "owner", o.Owner)
		if once != nil {
			writeAnswer(c, answer)
			return nil
		}
		c.Header("Location", c.Request.URL.Path+"/"+string(o.ID))
		writeOrder(c, http.StatusCreated, o)
		return nil
	}
}

// handleGetOrder serves GET /orders/{order_id}: the order, or 304 Not
// Modified when If-None-Match names its ETag.
func handleGetOrder(store OrderStore) handler {
	return func(c *gin.Context) error {
		who, id, err := ownerAndOrder(c)
		if err != nil {
			return err
		}
		o, err := store.Get(c.Request.Context(), who, id)
		if err != nil {
			return err
		}
		if noneMatch(c, o) {
			c.Header("ETag", etag(o))
			c.Status(http.StatusNotModified)
			return nil
		}
		writeOrder(c, http.StatusOK, o)
		return nil
	}
}

// handleReplaceOrder serves PUT /orders/{order_id}: new items, same order,
// if it has the version If-Match names (see ifMatch).
func handleReplaceOrder(store OrderStore, requireIfMatch bool) handler {
	return func(c *gin.Context) error {
		who, id, err := ownerAndOrder(c)
		if err != nil {
			return err
		}
		match, err := ifMatch(c, requireIfMatch, store, who, id)
		if err != nil {
			return err
		}
		items, err := decodeItems(c)
		if err != nil {
			return err
		}
		o, err := store.ReplaceItems(c.Request.Context(), who, id, items, match)
		if err != nil {
			return err
		}
		writeOrder(c, http.StatusOK, o)
		return nil
	}
}

// handleDeleteOrder serves DELETE /orders/{order_id}, if the order has the
// version If-Match names (see ifMatch).
func handleDeleteOrder(store OrderStore, requireIfMatch bool) handler {
	return func(c *gin.Context) error {
		who, id, err := ownerAndOrder(c)
		if err != nil {
			return err
		}
		match, err := ifMatch(c, requireIfMatch, store, who, id)
		if err != nil {
			return err
		}
		if err := store.Delete(c.Request.Context(), who, id, match); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	}
}

// handleTransition serves POST /orders/{order_id}/pay and .../cancel, if
// the order has the version If-Match names (see ifMatch), under an
// idempotency key if the request has one (see idempotency).
func handleTransition(store OrderStore, t models.Transition, requireIfMatch bool) change {
	return func(c *gin.Context, once *models.Once) error {
		who, id, err := ownerAndOrder(c)
		if err != nil {
			return err
		}
		match, err := ifMatch(c, requireIfMatch, store, who, id)
		if err != nil {
			return err
		}
		return transition(c, store, who, id, t, match, once)
	}
}

// transition applies t to owner's order id at version match, under once
// if it is not nil, and answers with the order.
func transition(c *gin.Context, store OrderStore, who models.OwnerID, id models.OrderID, t models.Transition, match models.Version, once *models.Once) error {
	if once == nil {
		o, err := store.Transition(c.Request.Context(), who, id, t, match)
		if err != nil {
			return err
		}
		writeOrder(c, http.StatusOK, o)
		return nil
	}
	var answer models.Answer
	once.Answer = func(o models.Order) models.Answer { return orderAnswer(http.StatusOK, "", o, &answer) }
	if _, err := store.TransitionOnce(c.Request.Context(), who, id, t, match, *once); err != nil {
		return err
	}
	writeAnswer(c, answer)
	return nil
}

// writeOrder answers with status and o, and o's ETag.
func writeOrder(c *gin.Context, status int, o models.Order) {
	c.Header("ETag", etag(o))
	writeBody(c, status, func(b []byte) []byte { return appendOrder(b, o) })
}
