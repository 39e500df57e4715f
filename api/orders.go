package api

import (
	"context"
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

// owner is the authenticated caller as the owner of orders. Authenticate has
// run on every route that calls it, so the principal is always there.
func owner(c *gin.Context) models.OwnerID {
	p, _ := auth.FromContext(c.Request.Context())
	return models.OwnerID(p.Subject)
}

// orderID reads the order_id path parameter.
func orderID(c *gin.Context) (models.OrderID, error) {
	return models.ParseOrderID("order_id", c.Param("order_id"))
}

func handleListOrders(store OrderStore, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		q, err := parseListQuery(c.Request.URL.Query())
		if err != nil {
			writeError(c, err)
			return
		}
		page, err := store.List(c.Request.Context(), owner(c), q)
		if err != nil {
			writeError(c, err)
			return
		}
		resp := listResponse{Orders: make([]orderResponse, len(page.Orders))}
		for i, o := range page.Orders {
			resp.Orders[i] = newOrderResponse(o)
		}
		if page.Next != nil {
			c.Header("Link", nextLink(c.Request.URL.Path, q, *page.Next))
		}
		c.JSON(http.StatusOK, resp)
	}
}

func handleCreateOrder(store OrderStore, log *slog.Logger, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		items, err := decodeItems(c)
		if err != nil {
			writeError(c, err)
			return
		}
		o, err := store.Create(c.Request.Context(), owner(c), items)
		if err != nil {
			writeError(c, err)
			return
		}
		log.InfoContext(c.Request.Context(), "order created", "order_id", o.ID, "subject", o.Owner)
		c.Header("Location", c.Request.URL.Path+"/"+string(o.ID))
		c.JSON(http.StatusCreated, newOrderResponse(o))
	}
}

func handleGetOrder(store OrderStore, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := orderID(c)
		if err != nil {
			writeError(c, err)
			return
		}
		o, err := store.Get(c.Request.Context(), owner(c), id)
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, newOrderResponse(o))
	}
}

func handleReplaceOrder(store OrderStore, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := orderID(c)
		if err != nil {
			writeError(c, err)
			return
		}
		items, err := decodeItems(c)
		if err != nil {
			writeError(c, err)
			return
		}
		o, err := store.ReplaceItems(c.Request.Context(), owner(c), id, items)
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, newOrderResponse(o))
	}
}

func handleDeleteOrder(store OrderStore, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := orderID(c)
		if err != nil {
			writeError(c, err)
			return
		}
		if err := store.Delete(c.Request.Context(), owner(c), id); err != nil {
			writeError(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// handleTransition serves POST /orders/{order_id}/pay and .../cancel.
func handleTransition(store OrderStore, t models.Transition, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := orderID(c)
		if err != nil {
			writeError(c, err)
			return
		}
		o, err := store.Transition(c.Request.Context(), owner(c), id, t)
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, newOrderResponse(o))
	}
}
