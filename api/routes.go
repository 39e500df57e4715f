package api

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/models"
)

// The scopes of the orders API: reading needs orders:read, every change
// needs orders:write.
const (
	ScopeRead  auth.Scope = "orders:read"
	ScopeWrite auth.Scope = "orders:write"
)

// addRoutes is the whole route table, and so the authorization policy: every
// /orders route passes Authenticate, then the scope check named beside it.
func addRoutes(r gin.IRouter, v *auth.Verifier, store OrderStore, log *slog.Logger, writeError auth.WriteError) {
	r.GET("/healthz", handleHealth)

	orders := r.Group("/orders", noStore, auth.Authenticate(v, writeError))
	need := func(s auth.Scope) gin.HandlerFunc { return auth.RequireScope(s, v, writeError) }
	orders.GET("", need(ScopeRead), handleListOrders(store, writeError))
	orders.POST("", need(ScopeWrite), handleCreateOrder(store, log, writeError))
	orders.GET("/:order_id", need(ScopeRead), handleGetOrder(store, writeError))
	orders.PUT("/:order_id", need(ScopeWrite), handleReplaceOrder(store, writeError))
	orders.DELETE("/:order_id", need(ScopeWrite), handleDeleteOrder(store, writeError))
	orders.POST("/:order_id/pay", need(ScopeWrite), handleTransition(store, models.Pay(), writeError))
	orders.POST("/:order_id/cancel", need(ScopeWrite), handleTransition(store, models.Cancel(), writeError))
}

// handleHealth says the process is up; it needs no token.
func handleHealth(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// noStore keeps every answer about orders, which are private, out of caches.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
}
