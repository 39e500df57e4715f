package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// errNotReady means a dependency is not there yet; the detail says which.
var errNotReady = errors.New("not ready")

// readyTimeout bounds the readiness checks, so a hung database cannot hang
// the probe.
const readyTimeout = 2 * time.Second

// addOperations adds the routes that need no token: health, readiness,
// metrics and the documentation.
func addOperations(r gin.IRouter, cfg Config, writeError func(*gin.Context, error)) {
	r.GET("/readyz", handleReady(cfg.Ready, writeError))
	if cfg.MetricsHandler != nil {
		r.GET("/metrics", gin.WrapH(cfg.MetricsHandler))
	}
	if cfg.Docs != nil {
		addDocs(r, *cfg.Docs, writeError)
	}
}

// handleReady answers 200 when ready reports nothing wrong, and 503 with the
// reason otherwise.
func handleReady(ready func(context.Context) error, writeError func(*gin.Context, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
			defer cancel()
			if err := ready(ctx); err != nil {
				writeError(c, &notReadyError{reason: err.Error()})
				return
			}
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}

// notReadyError is a readiness failure whose reason may be shown: it names
// the dependency, never a secret.
type notReadyError struct{ reason string }

func (e *notReadyError) Error() string { return "not ready: " + e.reason }
func (e *notReadyError) Unwrap() error { return errNotReady }
