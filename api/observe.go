package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/coffeemesh/orders/auth"
)

// requestIDHeader carries a request's id, taken from the client when it is
// sane and made up otherwise, and always echoed.
const requestIDHeader = "X-Request-ID"

var saneRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

type requestIDKey struct{}

// requestID gives the request an id, stores it in the request's context for
// the logs, and echoes it.
func requestID(c *gin.Context) {
	id := c.GetHeader(requestIDHeader)
	if !saneRequestID.MatchString(id) {
		b := make([]byte, 8)
		_, _ = rand.Read(b) // crypto/rand never fails (Go 1.24+)
		id = hex.EncodeToString(b)
	}
	c.Header(requestIDHeader, id)
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestIDKey{}, id))
	c.Next()
}

// requestIDOf returns the id that requestID gave the request of ctx.
func requestIDOf(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// metrics are the API's Prometheus metrics; nil when none are wanted.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	auth     *prometheus.CounterVec
	// controls counts the requests that a control answered: replays of
	// idempotent requests, failed preconditions, rate limits.
	controls *prometheus.CounterVec
	// authOK is auth's counter of accepted requests, looked up once.
	authOK prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_http_requests_total", Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orders_http_request_duration_seconds", Help: "HTTP request latency by route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_auth_outcomes_total", Help: "Authentication and authorization outcomes: ok, or why a request was refused.",
		}, []string{"outcome"}),
		controls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_request_controls_total",
			Help: "Requests answered by a control: idempotent_replay, idempotency_key_reused, precondition_failed, precondition_required, rate_limited, failed_auth_limited; limiter_unavailable counts requests let through because a rate limit could not be read.",
		}, []string{"control"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.auth, m.controls} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.authOK = m.auth.WithLabelValues("ok")
	return m, nil
}

// control counts a request answered by the named control.
func (m *metrics) control(name string) {
	if m != nil {
		m.controls.WithLabelValues(name).Inc()
	}
}

// authRefused counts an authentication or authorization failure.
func (m *metrics) authRefused(err error) {
	var e *auth.Error
	if m != nil && errors.As(err, &e) {
		m.auth.WithLabelValues(e.Reason.String()).Inc()
	}
}

// observe logs one line per request (method, route pattern, status,
// latency, request id and the caller) and records its metrics. It never
// logs the query string, headers or body, where tokens could be.
func observe(log *slog.Logger, m *metrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		elapsed := time.Since(start)
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		attrs := []any{
			"request_id", requestIDOf(c.Request.Context()),
			"method", c.Request.Method,
			"route", route,
			"status", status,
			"latency_ms", float64(elapsed.Microseconds()) / 1000,
		}
		p, authenticated := auth.FromContext(c.Request.Context())
		if authenticated {
			attrs = append(attrs, "issuer", p.Issuer, "subject", p.Subject, "dpop", p.JKT != "", "cert_bound", p.X5T != "")
		}
		log.InfoContext(c.Request.Context(), "request", attrs...)
		if m != nil {
			method := methodLabel(c.Request.Method)
			m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
			m.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
			if authenticated && status != 403 {
				m.authOK.Inc()
			}
		}
	}
}

// methodLabel bounds the method label: net/http accepts any method name,
// and a label per made-up name would grow the metrics without end.
func methodLabel(m string) string {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH":
		return m
	}
	return "other"
}
