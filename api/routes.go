package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/models"
)

// The scopes of the orders API: reading needs orders:read, every change
// needs orders:write.
//
// Either check can be turned off for an issuer whose provider cannot issue
// scopes: ORDERS_AUTH_READ_SCOPE=none (or ORDERS_AUTH_WRITE_SCOPE=none) makes
// main grant that scope to every valid token of the issuer
// (auth.Issuer.GrantScopes), so the routes below that need it then need only
// a valid token from that issuer. The check itself always runs.
const (
	ScopeRead  auth.Scope = "orders:read"
	ScopeWrite auth.Scope = "orders:write"
)

// public marks a route that anyone may call, without a token. No token can
// hold it: a scope has no spaces (RFC 6749, section 3.3). A route whose scope
// is empty is refused at start, so a forgotten scope never makes a route
// public.
const public auth.Scope = "public, no token"

// route is one line of the route table: a request for method and path needs
// a token holding scope (unless scope is public), then handle answers it.
type route struct {
	method string
	path   string
	scope  auth.Scope
	handle handler
}

// routes is the whole route table, and so the authorization policy: it
// registers the routes (addRoutes), and the scope-matrix and contract tests
// walk it, so no other list restates it. Every GET also answers HEAD, with
// the same scope (headAsGet).
//
// m, which may be nil, counts the replays of idempotent requests.
func routes(cfg Config, store OrderStore, log *slog.Logger, m *metrics) []route {
	idem := idempotency{store: store, ttl: cfg.IdempotencyTTL, m: m}
	table := []route{
		{http.MethodGet, "/healthz", public, handleHealth},
		{http.MethodGet, "/readyz", public, handleReady(cfg.Ready)},

		{http.MethodGet, "/orders", ScopeRead, handleListOrders(store)},
		{http.MethodPost, "/orders", ScopeWrite, idem.wrap(handleCreateOrder(store, log))},
		{http.MethodGet, "/orders/:order_id", ScopeRead, handleGetOrder(store)},
		{http.MethodPut, "/orders/:order_id", ScopeWrite, handleReplaceOrder(store, cfg.RequireIfMatch)},
		{http.MethodDelete, "/orders/:order_id", ScopeWrite, handleDeleteOrder(store, cfg.RequireIfMatch)},
		{http.MethodPost, "/orders/:order_id/pay", ScopeWrite, idem.wrap(payHandler(cfg, idem, log))},
		{http.MethodPost, "/orders/:order_id/cancel", ScopeWrite, idem.wrap(handleTransition(store, models.Cancel(), cfg.RequireIfMatch))},
	}
	if cfg.MetricsHandler != nil {
		table = append(table, route{http.MethodGet, "/metrics", public, serveHTTP(cfg.MetricsHandler)})
	}
	if d := cfg.Docs; d != nil {
		table = append(table,
			route{http.MethodGet, "/openapi.yaml", public, handleContractYAML(*d)},
			route{http.MethodGet, "/openapi.json", public, handleContractJSON(*d)},
			route{http.MethodGet, "/docs", public, handleDocsPage(*d)},
			route{http.MethodGet, "/docs/*file", public, handleDocsAsset(*d)},
		)
	}
	return table
}

// payHandler pays through cfg.Payer, or, without one, only marks the order
// paid.
func payHandler(cfg Config, idem idempotency, log *slog.Logger) change {
	if cfg.Payer == nil {
		return handleTransition(idem.store, models.Pay(), cfg.RequireIfMatch)
	}
	return handlePay(idem, cfg.Payer, cfg.RequireIfMatch, log)
}

// addRoutes registers table on r. A route that needs a scope runs noStore,
// auth.Authenticate (behind the limit of failed authentications, if any),
// the per-caller rate limit (if any), auth.RequireScope with its scope,
// then its handler; a public route runs its handler alone. It fails for a
// route with no scope.
func addRoutes(r gin.IRouter, table []route, v *auth.Verifier, writeError auth.WriteError, limits *limiting) error {
	guarded := []gin.HandlerFunc{noStore, limits.guardAuthentication(auth.Authenticate(v, writeError), writeError)}
	if perCaller := limits.perCaller(writeError); perCaller != nil {
		guarded = append(guarded, perCaller)
	}
	for _, rt := range table {
		h := adapt(rt.handle, writeError)
		switch rt.scope {
		case "":
			return fmt.Errorf("route %s %s has no scope; a route anyone may call is marked public", rt.method, rt.path)
		case public:
			r.Handle(rt.method, rt.path, h)
		default:
			r.Handle(rt.method, rt.path, append(slices.Clone(guarded), auth.RequireScope(rt.scope, v, writeError), h)...)
		}
	}
	return nil
}

// handler answers a request, or returns the error it should be answered
// with. Handlers never choose a status for an error or write an error body:
// adapt does, for all of them.
type handler func(c *gin.Context) error

// adapt turns h into a gin handler that answers h's error, if any, with
// writeError: the one place a handler's error becomes problem+json.
func adapt(h handler, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			writeError(c, err)
		}
	}
}

// serveHTTP makes h, which answers every request itself, a handler.
func serveHTTP(h http.Handler) handler {
	return func(c *gin.Context) error {
		h.ServeHTTP(c.Writer, c.Request)
		return nil
	}
}

// handleHealth says the process is up; it needs no token.
func handleHealth(c *gin.Context) error {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
	return nil
}

// noStore keeps every answer about orders, which are private, out of caches.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
}
