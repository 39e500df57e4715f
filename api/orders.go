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
	ReplaceItems(ctx context.Context, owner models.OwnerID, id models.OrderID, items []models.Item) (models.Order, error)
	Transition(ctx context.Context, owner models.OwnerID, id models.OrderID, t models.Transition) (models.Order, error)
	Delete(ctx context.Context, owner models.OwnerID, id models.OrderID) error
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

func handleListOrders(store OrderStore, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		who, err := owner(c)
		if err != nil {
			writeError(c, err)
			return
		}
		q, err := parseListQuery(c.Request.URL.RawQuery)
		if err != nil {
			writeError(c, err)
			return
		}
		page, err := store.List(c.Request.Context(), who, q)
		if err != nil {
			writeError(c, err)
			return
		}
		if page.Next != nil {
			c.Header("Link", nextLink(c.Request.URL.Path, q, *page.Next))
		}
		writeBody(c, http.StatusOK, func(b []byte) []byte { return appendOrderList(b, page.Orders) })
	}
}

func handleCreateOrder(store OrderStore, log *slog.Logger, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		who, err := owner(c)
		if err != nil {
			writeError(c, err)
			return
		}
		items, err := decodeItems(c)
		if err != nil {
			writeError(c, err)
			return
		}
		o, err := store.Create(c.Request.Context(), who, items)
		if err != nil {
			writeError(c, err)
			return
		}
		log.InfoContext(c.Request.Context(), "order created", "order_id", o.ID, "owner", o.Owner)
		c.Header("Location", c.Request.URL.Path+"/"+string(o.ID))
		writeOrder(c, http.StatusCreated, o)
	}
}

func handleGetOrder(store OrderStore, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		who, id, err := ownerAndOrder(c)
		if err != nil {
			writeError(c, err)
			return
		}
		o, err := store.Get(c.Request.Context(), who, id)
		if err != nil {
			writeError(c, err)
			return
		}
		writeOrder(c, http.StatusOK, o)
	}
}

func handleReplaceOrder(store OrderStore, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		who, id, err := ownerAndOrder(c)
		if err != nil {
			writeError(c, err)
			return
		}
		items, err := decodeItems(c)
		if err != nil {
			writeError(c, err)
			return
		}
		o, err := store.ReplaceItems(c.Request.Context(), who, id, items)
		if err != nil {
			writeError(c, err)
			return
		}
		writeOrder(c, http.StatusOK, o)
	}
}

func handleDeleteOrder(store OrderStore, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		who, id, err := ownerAndOrder(c)
		if err != nil {
			writeError(c, err)
			return
		}
		if err := store.Delete(c.Request.Context(), who, id); err != nil {
			writeError(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// handleTransition serves POST /orders/{order_id}/pay and .../cancel.
func handleTransition(store OrderStore, t models.Transition, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		who, id, err := ownerAndOrder(c)
		if err != nil {
			writeError(c, err)
			return
		}
		o, err := store.Transition(c.Request.Context(), who, id, t)
		if err != nil {
			writeError(c, err)
			return
		}
		writeOrder(c, http.StatusOK, o)
	}
}

// writeOrder answers with status and o.
func writeOrder(c *gin.Context, status int, o models.Order) {
	writeBody(c, status, func(b []byte) []byte { return appendOrder(b, o) })
}
