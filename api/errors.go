package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/models"
)

// Errors of the API layer itself, beside those of models and auth.
var (
	// errMalformedBody means the body is not one JSON value.
	errMalformedBody = errors.New("the body is not valid JSON")
	// errBodyTooLarge means the body is over maxBodyBytes.
	errBodyTooLarge = errors.New("the body is larger than 1 MiB")
	// errMediaType means the body is not application/json.
	errMediaType = errors.New("the body must be application/json")
	// errNoRoute means no route matches the path.
	errNoRoute = errors.New("no such resource")
	// errNoMethod means the path exists but not with this method.
	errNoMethod = errors.New("the resource does not support this method")
)

// statusOf is the one place that chooses a response status for an error.
func statusOf(err error) int {
	var invalid *models.ValidationError
	switch {
	case errors.As(err, &invalid):
		return http.StatusUnprocessableEntity
	case errors.Is(err, models.ErrNotFound), errors.Is(err, errNoRoute):
		return http.StatusNotFound
	case errors.Is(err, models.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, models.ErrStale):
		return http.StatusPreconditionFailed
	case errors.Is(err, errPreconditionRequired):
		return http.StatusPreconditionRequired
	case errors.Is(err, auth.ErrInsufficientScope):
		return http.StatusForbidden
	case errors.Is(err, auth.ErrNoToken), errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrInvalidProof):
		return http.StatusUnauthorized
	case errors.Is(err, errKeyReused):
		return http.StatusUnprocessableEntity
	case errors.Is(err, auth.ErrInvalidRequest), errors.Is(err, errMalformedBody), errors.Is(err, errBadIdempotencyKey):
		return http.StatusBadRequest
	case errors.Is(err, auth.ErrUnavailable), errors.Is(err, errNotReady), errors.Is(err, models.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, errNoMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errRateLimited), errors.Is(err, errTooManyFailures):
		return http.StatusTooManyRequests
	case errors.Is(err, models.ErrPaymentTimeout), errors.Is(err, models.ErrIssuerTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, models.ErrPaymentUnavailable), errors.Is(err, models.ErrIssuerUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, models.ErrExchangeRefused), errors.Is(err, models.ErrPaymentFailed):
		return http.StatusBadGateway
	case errors.Is(err, models.ErrPaymentOrphaned):
		return http.StatusConflict
	default:
		return http.StatusInternalServerError
	}
}

// problem is an RFC 9457 problem details object.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	// Errors lists invalid fields, on 422.
	Errors []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// maxFieldErrors bounds the invalid fields listed in a 422, so that a body
// of many bad items gets a small answer.
const maxFieldErrors = 20

// detailOf says what went wrong in words safe for the client: never the
// wrapped cause, which may hold SQL, paths or token text.
func detailOf(err error, status int) (string, []fieldError) {
	var (
		invalid  *models.ValidationError
		authErr  *auth.Error
		notReady *notReadyError
	)
	switch {
	case errors.As(err, &notReady):
		return notReady.reason, nil
	case errors.As(err, &invalid):
		names := invalid.Names()
		fields := make([]fieldError, 0, min(len(names), maxFieldErrors))
		for _, f := range names[:min(len(names), maxFieldErrors)] {
			fields = append(fields, fieldError{Field: f, Message: invalid.Fields[f]})
		}
		detail := fmt.Sprintf("%s: %s", names[0], invalid.Fields[names[0]])
		if len(names) > 1 {
			detail += fmt.Sprintf(" (and %d more invalid fields)", len(names)-1)
		}
		return detail, fields
	case errors.As(err, &authErr):
		return authErr.Description(), nil
	case errors.Is(err, models.ErrNotFound):
		return "no order with this id", nil
	case errors.Is(err, models.ErrConflict):
		return "the order's status does not allow this change", nil
	case errors.Is(err, models.ErrStale):
		return "If-Match names no current ETag of the order (it changed, or the tag is weak, which never matches); nothing was changed; read the order again", nil
	case errors.Is(err, models.ErrUnavailable):
		return "the database is unavailable or overloaded; retry after the time in Retry-After", nil
	case errors.Is(err, models.ErrPaymentOrphaned):
		return "the payment was taken, but the order was cancelled or deleted meanwhile and stays so; the payment is to be refunded", nil
	case errors.Is(err, models.ErrIssuerTimeout):
		return "the issuer did not answer in time; nothing was sent to the payments service, the order was not paid, and paying again is safe", nil
	case errors.Is(err, models.ErrIssuerUnavailable):
		return "the issuer cannot be reached; nothing was sent to the payments service and the order was not paid; retry after the time in Retry-After", nil
	case errors.Is(err, models.ErrExchangeRefused):
		return "the issuer refused to exchange the caller's token for a token for the payments service; nothing was sent to the payments service and the order was not paid", nil
	case errors.Is(err, models.ErrPaymentTimeout):
		return "the payments service did not answer in time; the order is still created; the payment may have been taken; paying again will not charge twice", nil
	case errors.Is(err, models.ErrPaymentUnavailable):
		return "the payments service cannot be reached or is unavailable; the order is still created; the payment may have been taken; paying again will not charge twice; retry after the time in Retry-After", nil
	case errors.Is(err, models.ErrPaymentFailed):
		return "the payments service failed or refused the payment; the order is still created; if the payment was taken, paying again will not charge twice", nil
	}
	for _, e := range []error{errMalformedBody, errBodyTooLarge, errMediaType, errNoRoute, errNoMethod, errPreconditionRequired,
		errBadIdempotencyKey, errKeyReused, errRateLimited, errTooManyFailures} {
		if errors.Is(err, e) {
			return e.Error(), nil
		}
	}
	if status >= http.StatusInternalServerError {
		return "the server could not complete the request", nil
	}
	return http.StatusText(status), nil
}

// retryAfterSeconds is what a 503 tells the client to wait before it
// retries, unless the middleware that refused set its own Retry-After.
const retryAfterSeconds = "5"

// logError logs a failed request: the route, its status, its cause and,
// for a refusal of authentication or authorization, its reason code.
func logError(ctx context.Context, log *slog.Logger, route string, status int, err error) {
	log = log.With("request_id", requestIDOf(ctx), "route", route)
	if errors.Is(err, context.Canceled) {
		// The client went away; there is nobody to answer and nothing wrong.
		log.InfoContext(ctx, "request abandoned by the client")
		return
	}
	attrs := []any{"status", status, "error", err}
	var refusal *auth.Error
	if errors.As(err, &refusal) {
		attrs = append(attrs, "reason", refusal.Reason.String())
	}
	switch {
	case status == http.StatusServiceUnavailable:
		log.WarnContext(ctx, "request refused while unavailable", attrs...)
	case status >= http.StatusInternalServerError:
		log.ErrorContext(ctx, "request failed", attrs...)
	case refusal != nil:
		log.InfoContext(ctx, "request refused", attrs...)
	default:
		log.DebugContext(ctx, "request refused", attrs...)
	}
}

// countControl counts a refusal by one of the controls of retries and
// concurrent edits.
func countControl(m *metrics, status int, err error) {
	switch {
	case status == http.StatusPreconditionFailed:
		m.control("precondition_failed")
	case status == http.StatusPreconditionRequired:
		m.control("precondition_required")
	case errors.Is(err, errKeyReused):
		m.control("idempotency_key_reused")
	}
}

// errorWriter returns the function that answers every failed request with
// problem+json. It logs server errors with their cause, refusals of
// authentication or authorization at info level with their reason code,
// and other client errors at debug level.
func errorWriter(log *slog.Logger, m *metrics) auth.WriteError {
	return func(c *gin.Context, err error) {
		status := statusOf(err)
		detail, fields := detailOf(err, status)
		m.authRefused(err)
		countControl(m, status, err)
		logError(c.Request.Context(), log, c.FullPath(), status, err)
		c.Header("Content-Type", "application/problem+json")
		c.Header("Cache-Control", "no-store")
		if status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
			c.Header("Retry-After", retryAfterSeconds)
		}
		c.AbortWithStatusJSON(status, problem{
			Type:   "about:blank",
			Title:  http.StatusText(status),
			Status: status,
			Detail: detail,
			Errors: fields,
		})
	}
}
