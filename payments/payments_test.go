package payments_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/clientauth"
	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/payments"
)

// issuerAndPayments is a token endpoint and a payments service that record
// what they were sent. The token endpoint answers with answer.
type issuerAndPayments struct {
	issuer, payments *httptest.Server

	mu       sync.Mutex
	answer   map[string]any
	status   int
	paid     int // the payments service's status
	issuers  []string
	forms    []url.Values
	auths    []string
	bodies   []map[string]string
	bearers  []string
	keys     []string
	problems []string
}

func newIssuerAndPayments(t *testing.T) *issuerAndPayments {
	t.Helper()
	s := &issuerAndPayments{status: http.StatusOK, paid: http.StatusCreated, answer: map[string]any{"access_token": "exchanged",
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer", "expires_in": 300}}
	s.issuer = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			s.problem("token request is not a form")
		}
		s.mu.Lock()
		s.forms = append(s.forms, r.PostForm)
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		status, answer := s.status, s.answer
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(s.issuer.Close)
	s.payments = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			s.problem("payment body is not JSON")
		}
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		s.bearers = append(s.bearers, r.Header.Get("Authorization"))
		s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
		paid := s.paid
		s.mu.Unlock()
		w.WriteHeader(paid)
	}))
	t.Cleanup(s.payments.Close)
	return s
}

func (s *issuerAndPayments) problem(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, p)
}

func (s *issuerAndPayments) config(mode payments.Mode, client clientauth.Credentials) payments.Config {
	return payments.Config{URL: s.payments.URL, Audience: "payments", Scope: "payments:charge", Mode: mode, Client: client,
		TokenEndpoint: func(_ context.Context, iss string) (string, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.issuers = append(s.issuers, iss)
			return s.issuer.URL + "/token", nil
		}}
}

// accessTokenType is RFC 8693's token type of access tokens.
const accessTokenType = "urn:ietf:params:oauth:token-type:access_token"

// issuerA is the issuer of the callers' tokens in these tests.
const issuerA = "https://a.example.com"

func mustNew(t *testing.T, cfg payments.Config) *payments.Client {
	t.Helper()
	c, err := payments.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestExchangeWithClientSecretBasic: the token request is an RFC 8693
// exchange of the caller's token, the client's id and secret form-encoded
// before Basic (RFC 6749, 2.3.1), and the payment carries the exchanged
// token and the order's key.
func TestExchangeWithClientSecretBasic(t *testing.T) {
	t.Parallel()
	s := newIssuerAndPayments(t)
	c := mustNew(t, s.config(payments.Exchange, clientauth.Credentials{ID: "orders api", Secret: "p@ss:word+1"}))
	if err := c.Pay(t.Context(), issuerA, "alice", "callers-token", "order-1"); err != nil {
		t.Fatal(err)
	}
	want := url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {"callers-token"},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:access_token"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"audience":             {"payments"}, "scope": {"payments:charge"},
	}
	if got := s.forms[0]; got.Encode() != want.Encode() {
		t.Errorf("token request form = %v; want %v", got, want)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("orders+api:p%40ss%3Aword%2B1"))
	if s.auths[0] != basic {
		t.Errorf("Authorization = %q; want %q", s.auths[0], basic)
	}
	if s.bearers[0] != "Bearer exchanged" || s.keys[0] != "order-order-1-pay" || s.bodies[0]["order_id"] != "order-1" || len(s.bodies[0]) != 1 {
		t.Errorf("payment: Authorization %q, key %q, body %v; want the exchanged token, order-order-1-pay, just the order id", s.bearers[0], s.keys[0], s.bodies[0])
	}
	if len(s.issuers) != 1 || s.issuers[0] != issuerA {
		t.Errorf("token endpoints asked of issuers %v; want just the caller's, %s", s.issuers, issuerA)
	}
	if len(s.problems) > 0 {
		t.Error(s.problems)
	}
}

// TestAssertionNamesTheTokenEndpoint: with a key, the client assertion's
// audience is the token endpoint it is sent to, which Ory Hydra requires
// (what else an assertion holds is auth/clientauth's, tested there).
func TestAssertionNamesTheTokenEndpoint(t *testing.T) {
	t.Parallel()
	s := newIssuerAndPayments(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, s.config(payments.Exchange, clientauth.Credentials{ID: "orders-api", Key: &clientauth.Key{Signer: key, Alg: "ES256", ID: "k1"}}))
	if err := c.Pay(t.Context(), issuerA, "alice", "callers-token", "order-1"); err != nil {
		t.Fatal(err)
	}
	form := s.forms[0]
	if s.auths[0] != "" || form.Get("client_assertion_type") != clientauth.AssertionType {
		t.Fatalf("Authorization %q, form %v; want a client assertion and no Basic", s.auths[0], form)
	}
	_, err = jwt.Parse(form.Get("client_assertion"), func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(s.issuer.URL+"/token"))
	if err != nil {
		t.Errorf("client assertion for the token endpoint: %v", err)
	}
}

// TestClientCredentials: the API's own token, no subject token sent, and
// the caller's subject in the payment's body.
func TestClientCredentials(t *testing.T) {
	t.Parallel()
	s := newIssuerAndPayments(t)
	c := mustNew(t, s.config(payments.ClientCredentials, clientauth.Credentials{ID: "orders-api", Secret: "secret"}))
	for _, caller := range []string{"alice-token", "bob-token"} {
		if err := c.Pay(t.Context(), issuerA, strings.TrimSuffix(caller, "-token"), caller, "order-1"); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.forms) != 1 || s.forms[0].Get("grant_type") != "client_credentials" || s.forms[0].Has("subject_token") {
		t.Errorf("token requests = %v; want one client_credentials request without a subject token", s.forms)
	}
	if s.bodies[0]["subject"] != "alice" || s.bodies[1]["subject"] != "bob" || s.bodies[0]["issuer"] != issuerA {
		t.Errorf("payment bodies = %v; want the callers' subjects and issuer", s.bodies)
	}
}

// TestTokenAnswers: what the token endpoint answers decides the error, and
// whether the token is kept.
func TestTokenAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		answer        map[string]any
		want          error
		tokenRequests int // for two pays
	}{
		{"cached until shortly before it expires", http.StatusOK, map[string]any{"access_token": "x", "issued_token_type": accessTokenType, "token_type": "bearer", "expires_in": 300}, nil, 1},
		{"not cached without expires_in", http.StatusOK, map[string]any{"access_token": "x", "issued_token_type": accessTokenType, "token_type": "Bearer"}, nil, 2},
		{"an id token", http.StatusOK, map[string]any{"access_token": "x", "issued_token_type": "urn:ietf:params:oauth:token-type:id_token", "token_type": "Bearer", "expires_in": 300}, models.ErrExchangeRefused, 2},
		{"no issued_token_type", http.StatusOK, map[string]any{"access_token": "x", "token_type": "Bearer", "expires_in": 300}, models.ErrExchangeRefused, 2},
		{"issuer overloaded", http.StatusTooManyRequests, map[string]any{"error": "slow_down"}, models.ErrIssuerUnavailable, 2},
		{"refused", http.StatusBadRequest, map[string]any{"error": "invalid_grant", "error_description": "secret detail"}, models.ErrExchangeRefused, 2},
		{"unauthorized client", http.StatusUnauthorized, map[string]any{"error": "invalid_client"}, models.ErrExchangeRefused, 2},
		{"issuer fails", http.StatusInternalServerError, map[string]any{}, models.ErrIssuerUnavailable, 2},
		{"not a bearer token", http.StatusOK, map[string]any{"access_token": "x", "issued_token_type": accessTokenType, "token_type": "N_A", "expires_in": 300}, models.ErrExchangeRefused, 2},
		{"no token", http.StatusOK, map[string]any{"token_type": "Bearer"}, models.ErrExchangeRefused, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newIssuerAndPayments(t)
			s.status, s.answer = tt.status, tt.answer
			c := mustNew(t, s.config(payments.Exchange, clientauth.Credentials{ID: "orders-api", Secret: "secret"}))
			for range 2 {
				err := c.Pay(t.Context(), issuerA, "alice", "callers-token", "order-1")
				if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
					t.Fatalf("Pay = %v; want %v", err, tt.want)
				}
				if err != nil && (strings.Contains(err.Error(), "secret detail") || strings.Contains(err.Error(), "callers-token")) {
					t.Errorf("error %q holds the issuer's description or the caller's token", err)
				}
			}
			if len(s.forms) != tt.tokenRequests {
				t.Errorf("token requests = %d; want %d", len(s.forms), tt.tokenRequests)
			}
		})
	}
}

// TestNewRefusesIncompleteConfig: a client that cannot authenticate
// (clientauth.Credentials.Check) is refused when the API starts, not at
// its first payment.
func TestNewRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	s := newIssuerAndPayments(t)
	if _, err := payments.New(s.config(payments.Exchange, clientauth.Credentials{ID: "orders-api"})); err == nil || !strings.HasPrefix(err.Error(), "payments: ") {
		t.Errorf("New = %v; want a payments error", err)
	}
}
