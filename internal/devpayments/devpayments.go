// Package devpayments is a stand-in for the payments service, for
// development and tests: a resource server built from package auth that
// takes a payment only with a token for its own audience and scope that
// names the orders API as its actor (act.sub, RFC 8693, section 4.1). It
// charges nothing and remembers payments in memory, one per idempotency
// key.
//
// It is what `serve --dev` runs on loopback with ORDERS_DEV_PAYMENTS_ADDR,
// and what the end-to-end tests pay through. It must never be reachable
// from a network.
package devpayments

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth"
)

// Payment is one payment taken.
type Payment struct {
	// Key is the request's Idempotency-Key.
	Key string
	// OrderID is the body's order_id.
	OrderID string
	// Subject is who pays: the token's sub.
	Subject string
	// Actor is the token's act.sub, the service acting for Subject.
	Actor string
	// Token is the access token the payment was made with.
	Token string
}

// Service is the payments stand-in. It is safe for concurrent use.
type Service struct {
	verifier *auth.Verifier
	scope    auth.Scope
	actor    string

	mu       sync.Mutex
	calls    int
	payments map[string]Payment
	order    []string // keys in the order first seen
}

// New returns a service that accepts the tokens verifier accepts (which
// pins the issuer and the payments audience) when they hold scope and
// name actor as act.sub.
func New(verifier *auth.Verifier, scope auth.Scope, actor string) *Service {
	return &Service{verifier: verifier, scope: scope, actor: actor, payments: map[string]Payment{}}
}

// Handler serves POST /payments: 201 for a new payment, 200 for a payment
// of a known idempotency key (the first one's answer, nothing charged
// again), 400 for a request without a key or order_id, or with two
// Authorization headers, 401 for a refused token, 403 for a token without
// the scope or the actor. Tokens are checked by auth.Authenticate, as the
// orders API checks its own: a token bound to a DPoP key or a client
// certificate is refused without its proof or certificate.
func (s *Service) Handler() http.Handler {
	r := gin.New()
	r.POST("/payments", s.count, auth.Authenticate(s.verifier, refuse), s.servePayment)
	return r
}

// count counts a request for a payment, taken or refused.
func (s *Service) count(*gin.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
}

// refuse answers a request Authenticate refused.
func refuse(c *gin.Context, err error) {
	status := http.StatusUnauthorized
	switch {
	case errors.Is(err, auth.ErrInvalidRequest):
		status = http.StatusBadRequest
	case errors.Is(err, auth.ErrUnavailable):
		status = http.StatusServiceUnavailable
	}
	answer(c.Writer, status, "the token is not for this service")
}

func (s *Service) servePayment(c *gin.Context) {
	w, r := c.Writer, c.Request
	p, _ := auth.FromContext(r.Context()) // Authenticate has stored it
	token, err := auth.SubjectToken(r)
	if err != nil {
		answer(w, http.StatusUnauthorized, "a bearer token is required")
		return
	}
	actor := actorOf(token)
	if !p.Has(s.scope) || actor != s.actor {
		answer(w, http.StatusForbidden, "the token lacks the scope, or does not name the orders API as its actor")
		return
	}
	var body struct {
		OrderID string `json:"order_id"`
	}
	key := r.Header.Get("Idempotency-Key")
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil || body.OrderID == "" || key == "" {
		answer(w, http.StatusBadRequest, "an Idempotency-Key and an order_id are required")
		return
	}
	s.mu.Lock()
	_, seen := s.payments[key]
	if !seen {
		s.payments[key] = Payment{Key: key, OrderID: body.OrderID, Subject: p.Subject, Actor: actor, Token: token}
		s.order = append(s.order, key)
	}
	s.mu.Unlock()
	status := http.StatusCreated
	if seen {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"payment": key, "order_id": body.OrderID}) // the client has gone if this fails
}

// actorOf returns act.sub of token, which the verifier has already
// verified, so its claims need no second check of the signature.
func actorOf(token string) string {
	var claims struct {
		jwt.RegisteredClaims
		Act struct {
			Sub string `json:"sub"`
		} `json:"act"`
	}
	if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err != nil {
		return ""
	}
	return claims.Act.Sub
}

func answer(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg}) // the client has gone if this fails
}

// Calls counts the requests for payments so far, taken or refused.
func (s *Service) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Payments returns the payments taken, in the order they were first made.
func (s *Service) Payments() []Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Payment, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, s.payments[k])
	}
	return out
}
