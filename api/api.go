// Package api is the HTTP face of the orders API: the gin engine, the route
// table (and with it the authorization policy), the handlers, the request and
// response shapes, and the mapping of errors to problem+json responses.
//
// It reaches storage only through the OrderStore interface it declares, and
// identity only through package auth; it never touches SQL or parses tokens.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/coffeemesh/orders/auth"
)

// Config holds the API's own settings.
type Config struct {
	// CORSOrigins are the origins a browser may call the API from, each
	// scheme://host[:port], or the single value "*". None by default.
	CORSOrigins []string
	// Ready reports whether the API can serve requests, or why not, for
	// GET /readyz; nil means always ready.
	Ready func(ctx context.Context) error
	// Metrics, when set, receives the request and authentication metrics.
	Metrics prometheus.Registerer
	// MetricsHandler, when set, is served at GET /metrics.
	MetricsHandler http.Handler
	// Docs, when set, serves the contract and the interactive documentation.
	Docs *Docs
	// Payer, when set, takes the payment of POST /orders/{order_id}/pay
	// before the order is marked paid; nil marks it paid at once.
	Payer Payer
	// RequireIfMatch makes a change of an order (PUT, DELETE, pay, cancel)
	// without If-Match a 428, so that no client can overwrite a change it
	// has not seen.
	RequireIfMatch bool
	// IdempotencyTTL is how long an Idempotency-Key and its answer are
	// kept; DefaultIdempotencyTTL when zero.
	IdempotencyTTL time.Duration
	// CallerLimit, when set, limits the requests of each caller (owner).
	CallerLimit *RateLimit
	// FailedAuthLimit, when set, limits the requests that fail
	// authentication, per client address.
	FailedAuthLimit *RateLimit
	// TrustedProxies are the networks of the proxies whose
	// X-Forwarded-For names the client, for FailedAuthLimit.
	TrustedProxies []netip.Prefix
}

// Validate checks c.
func (c Config) Validate() error {
	for _, o := range c.CORSOrigins {
		if o == "*" {
			if len(c.CORSOrigins) > 1 {
				return errors.New(`cors origins: "*" must stand alone`)
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" ||
			u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil || strings.Contains(o, "*") {
			return fmt.Errorf("cors origins: %q is not an origin like https://app.example.com (no wildcards, paths or queries)", o)
		}
		if o != strings.ToLower(o) {
			// Browsers send origins in lower case; this one would never match.
			return fmt.Errorf("cors origins: %q must be in lower case, as browsers send it", o)
		}
	}
	return nil
}

// New returns the API's handler. Every /orders route requires a token that v
// accepts; store holds the orders; log receives one line per request.
func New(cfg Config, v *auth.Verifier, store OrderStore, log *slog.Logger) (http.Handler, error) {
	e, err := newEngine(cfg, v, store, log)
	if err != nil {
		return nil, err
	}
	return headAsGet(keepEncodedSlashes(e)), nil
}

// keepEncodedSlashes routes a path that holds an encoded slash (%2F)
// entirely as it was sent, no escape decoded, so that the slash stays inside
// its segment (RFC 3986, 2.2): /orders/ID%2Fpay must not reach the pay
// route that a proxy's rule for /orders/*/pay did not see; its segment, %2F
// and all, names no order. Other paths are routed decoded, so /%6Frders is
// /orders (RFC 3986, 6.2.2.2), and so is /orders/ID/p%61y the pay route: a
// proxy in front must match paths normalized, as RFC 3986 asks.
func keepEncodedSlashes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if raw := r.URL.RawPath; strings.Contains(raw, "%2F") || strings.Contains(raw, "%2f") {
			r = r.WithContext(r.Context())
			u := *r.URL
			u.Path, u.RawPath = raw, ""
			r.URL = &u
		}
		h.ServeHTTP(w, r)
	})
}

// newEngine returns the gin engine that holds every route.
func newEngine(cfg Config, v *auth.Verifier, store OrderStore, log *slog.Logger) (*gin.Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false

	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	writeError := errorWriter(log, m)
	e.Use(requestID, observe(log, m), recoverPanics(log, writeError))
	if len(cfg.CORSOrigins) > 0 {
		e.Use(newCORS(cfg.CORSOrigins))
	}
	e.NoRoute(func(c *gin.Context) { writeError(c, errNoRoute) })
	e.NoMethod(func(c *gin.Context) { writeError(c, errNoMethod) })
	limits := &limiting{cfg: cfg, log: log, m: m}
	if err := addRoutes(e, routes(cfg, store, log, m), v, writeError, limits); err != nil {
		return nil, err
	}
	return e, nil
}

// headAsGet answers HEAD as the same request with GET, authentication and
// all, so that every GET route supports HEAD (RFC 9110, 9.3.2), as health
// checkers and caches expect. The GET is a copy of the request: net/http
// still holds the original, and so sends the headers the handler set and
// drops the body it writes. The log and the metrics count such a request
// as a GET.
func headAsGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			r = r.WithContext(r.Context())
			r.Method = http.MethodGet
		}
		h.ServeHTTP(w, r)
	})
}

// newCORS answers preflight requests before authentication, for the given
// origins only. Bearer tokens are not cookies, so credentials are never
// allowed, and "*" is never combined with them. A request from an origin not
// on the list gets no CORS headers, so the browser keeps the response from
// the page; the request itself is answered as any other (a preflight is then
// 405), rather than with gin-contrib/cors's bare 403.
func newCORS(origins []string) gin.HandlerFunc {
	cfg := cors.Config{
		AllowMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete},
		AllowHeaders: []string{"Authorization", "Content-Type", "DPoP", "If-Match", "If-None-Match", "Idempotency-Key"},
		ExposeHeaders: []string{"Link", "Location", "WWW-Authenticate", "Retry-After", "DPoP-Nonce", "ETag", replayedHeader,
			"RateLimit", "RateLimit-Policy"},
		AllowCredentials: false,
		MaxAge:           10 * time.Minute,
	}
	if len(origins) == 1 && origins[0] == "*" {
		cfg.AllowAllOrigins = true
	} else {
		cfg.AllowOrigins = origins
	}
	handle := cors.New(cfg)
	return func(c *gin.Context) {
		if origin := c.GetHeader("Origin"); origin != "" && !cfg.AllowAllOrigins && !slices.Contains(origins, origin) {
			c.Next()
			return
		}
		handle(c)
	}
}

// recoverPanics turns a panic into a 500 problem response; the stack goes to
// the log, never to the client.
func recoverPanics(log *slog.Logger, writeError auth.WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			log.ErrorContext(c.Request.Context(), "panic", "route", c.FullPath(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			writeError(c, fmt.Errorf("panic: %v", r))
		}()
		c.Next()
	}
}
