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

// handleReady answers 200 when ready reports nothing wrong, and 503 with the
// reason otherwise.
func handleReady(ready func(context.Context) error) handler {
	return func(c *gin.Context) error {
		if ready != nil {
			ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
			defer cancel()
			if err := ready(ctx); err != nil {
				return &notReadyError{reason: err.Error()}
			}
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
		return nil
	}
}

// notReadyError is a readiness failure whose reason may be shown: it names
// the dependency, never a secret.
type notReadyError struct{ reason string }

func (e *notReadyError) Error() string { return "not ready: " + e.reason }
func (e *notReadyError) Unwrap() error { return errNotReady }
