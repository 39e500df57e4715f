package devissuer_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/internal/devissuer"
)

// newExchangeIssuer returns an issuer for the orders audience whose policy
// lets orders-api, with secret "dev secret", exchange tokens for payments
// with payments:charge.
func newExchangeIssuer(t *testing.T) *devissuer.Issuer {
	t.Helper()
	iss, err := devissuer.New("http://127.0.0.1:8001", ordersAudience, []string{"orders:read", "orders:write"})
	if err != nil {
		t.Fatal(err)
	}
	iss.SetExchangePolicy(devissuer.ExchangePolicy{Client: "orders-api", Secret: "dev secret", Audience: "payments", Scopes: []string{"payments:charge"}})
	return iss
}

const ordersAudience = "orders-api-audience"

// exchange posts a token exchange of subject to iss as orders-api with its
// secret; change may alter the request first.
func exchange(t *testing.T, iss *devissuer.Issuer, subject string, change func(*http.Request, url.Values)) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {devissuer.GrantTokenExchange}, "subject_token": {subject},
		"subject_token_type": {devissuer.TokenTypeAccess}, "audience": {"payments"}, "scope": {"payments:charge"}}
	req := httptest.NewRequest(http.MethodPost, devissuer.TokenPath, nil)
	req.SetBasicAuth("orders-api", url.QueryEscape("dev secret"))
	if change != nil {
		change(req, form)
	}
	req.Body = io.NopCloser(strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	iss.Handler().ServeHTTP(rec, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	return rec.Code, body
}

// TestTokenExchange: the issuer exchanges its own unexpired access tokens
// for the orders API for the policy's audience and scope, with the client
// as actor.
func TestTokenExchange(t *testing.T) {
	t.Parallel()
	iss := newExchangeIssuer(t)
	alice, err := iss.Mint("alice", []string{"orders:write"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		change func(*http.Request, url.Values)
	}{
		{"secret with Basic", nil},
		{"secret in the form", func(r *http.Request, f url.Values) {
			r.Header.Del("Authorization")
			f.Set("client_id", "orders-api")
			f.Set("client_secret", "dev secret")
		}},
		{"no scope asked", func(_ *http.Request, f url.Values) { f.Del("scope") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := exchange(t, iss, alice, tt.change)
			if status != http.StatusOK || body["token_type"] != "Bearer" || body["issued_token_type"] != devissuer.TokenTypeAccess {
				t.Fatalf("exchange = %d %v", status, body)
			}
			claims := jwt.MapClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(body["access_token"].(string), claims); err != nil {
				t.Fatal(err)
			}
			act, _ := claims["act"].(map[string]any)
			if claims["sub"] != "alice" || claims["aud"] != "payments" || claims["scope"] != "payments:charge" || act["sub"] != "orders-api" {
				t.Errorf("exchanged claims = %v; want alice, payments, payments:charge, act.sub orders-api", claims)
			}
		})
	}
}

// TestTokenExchangeRefusals: every exchange the policy does not allow is
// refused with the RFC 6749 or RFC 8693 error code.
func TestTokenExchangeRefusals(t *testing.T) {
	t.Parallel()
	iss := newExchangeIssuer(t)
	other, err := devissuer.New("http://127.0.0.1:9001", ordersAudience, []string{"orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	mint := func(i *devissuer.Issuer, ttl time.Duration) string {
		tok, err := i.Mint("alice", []string{"orders:write"}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice := mint(iss, time.Hour)
	status, body := exchange(t, iss, alice, nil)
	if status != http.StatusOK {
		t.Fatalf("exchange = %d %v", status, body)
	}
	exchanged := body["access_token"].(string)
	bound := sign(t, iss, jwt.MapClaims{"cnf": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiGuA4I"}})
	noPolicy, err := devissuer.New("http://127.0.0.1:8001", ordersAudience, []string{"orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		iss     *devissuer.Issuer
		subject string
		change  func(*http.Request, url.Values)
		status  int
		code    string
	}{
		{"no policy", noPolicy, mint(noPolicy, time.Hour), nil, http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", iss, alice, func(r *http.Request, _ url.Values) { r.SetBasicAuth("orders-api", "guess") }, http.StatusUnauthorized, "invalid_client"},
		{"no secret", iss, alice, func(r *http.Request, f url.Values) { r.Header.Del("Authorization"); f.Set("client_id", "orders-api") }, http.StatusUnauthorized, "invalid_client"},
		{"another client", iss, alice, func(r *http.Request, _ url.Values) { r.SetBasicAuth("mallory", url.QueryEscape("dev secret")) }, http.StatusUnauthorized, "invalid_client"},
		{"another issuer's token", iss, mint(other, time.Hour), nil, http.StatusBadRequest, "invalid_grant"},
		{"an expired token", iss, mint(iss, -time.Minute), nil, http.StatusBadRequest, "invalid_grant"},
		{"not a token", iss, "not.a.token", nil, http.StatusBadRequest, "invalid_grant"},
		{"an exchanged token exchanged again", iss, exchanged, func(_ *http.Request, f url.Values) { f.Set("audience", "payments") }, http.StatusBadRequest, "invalid_grant"},
		{"a token bound to a key", iss, bound, nil, http.StatusBadRequest, "invalid_grant"},
		{"no audience", iss, alice, func(_ *http.Request, f url.Values) { f.Del("audience") }, http.StatusBadRequest, "invalid_target"},
		{"two audiences", iss, alice, func(_ *http.Request, f url.Values) { f.Add("audience", "ledger") }, http.StatusBadRequest, "invalid_target"},
		{"another audience", iss, alice, func(_ *http.Request, f url.Values) { f.Set("audience", "ledger") }, http.StatusBadRequest, "invalid_target"},
		{"the orders API's own audience", iss, alice, func(_ *http.Request, f url.Values) { f.Set("audience", ordersAudience) }, http.StatusBadRequest, "invalid_target"},
		{"a wider scope", iss, alice, func(_ *http.Request, f url.Values) { f.Set("scope", "payments:charge orders:write") }, http.StatusBadRequest, "invalid_scope"},
		{"an id token", iss, alice, func(_ *http.Request, f url.Values) {
			f.Set("subject_token_type", "urn:ietf:params:oauth:token-type:id_token")
		}, http.StatusBadRequest, "invalid_request"},
		{"an id token asked for", iss, alice, func(_ *http.Request, f url.Values) {
			f.Set("requested_token_type", "urn:ietf:params:oauth:token-type:id_token")
		}, http.StatusBadRequest, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if status, body := exchange(t, tt.iss, tt.subject, tt.change); status != tt.status || body["error"] != tt.code {
				t.Errorf("exchange = %d %v; want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
}

// sign returns a token of iss for alice and the orders audience, with
// extra claims.
func sign(t *testing.T, iss *devissuer.Issuer, extra jwt.MapClaims) string {
	t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{"iss": iss.URL(), "sub": "alice", "aud": ordersAudience, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "orders:write"}
	for k, v := range extra {
		claims[k] = v
	}
	tok, err := devissuer.Sign(iss.Keys()[0], nil, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
