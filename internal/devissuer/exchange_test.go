package devissuer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/internal/devissuer"
)

// TestTokenExchange: the issuer exchanges its own unexpired access tokens
// for the requested audience and scope, with the client as actor, and
// refuses every other subject token.
func TestTokenExchange(t *testing.T) {
	t.Parallel()
	iss, err := devissuer.New("http://127.0.0.1:8001", "orders-api", []string{"orders:read", "orders:write"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := devissuer.New("http://127.0.0.1:9001", "orders-api", []string{"orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := iss.Mint("alice", []string{"orders:write"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Mint("alice", []string{"orders:write"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, err := iss.Mint("alice", []string{"orders:write"}, -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	exchange := func(subject string, change func(url.Values)) (int, map[string]any) {
		form := url.Values{"grant_type": {devissuer.GrantTokenExchange}, "subject_token": {subject},
			"subject_token_type": {devissuer.TokenTypeAccess}, "audience": {"payments"}, "scope": {"payments:charge"}}
		if change != nil {
			change(form)
		}
		req := httptest.NewRequest(http.MethodPost, devissuer.TokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("orders-api", "any")
		rec := httptest.NewRecorder()
		iss.Handler().ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		return rec.Code, body
	}

	status, body := exchange(alice, nil)
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

	status, body = exchange(body["access_token"].(string), func(f url.Values) { f.Set("audience", "ledger") })
	claims = jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(body["access_token"].(string), claims); status != http.StatusOK || err != nil {
		t.Fatalf("second exchange = %d %v", status, err)
	}
	if act, _ := claims["act"].(map[string]any); act["act"] == nil {
		t.Errorf("a token exchanged twice has act %v; want the first actor nested", claims["act"])
	}

	for name, tt := range map[string]struct {
		subject string
		change  func(url.Values)
		code    string
	}{
		"another issuer's token": {foreign, nil, "invalid_grant"},
		"an expired token":       {expired, nil, "invalid_grant"},
		"not a token":            {"not.a.token", nil, "invalid_grant"},
		"no audience":            {alice, func(f url.Values) { f.Del("audience") }, "invalid_target"},
		"two audiences":          {alice, func(f url.Values) { f.Add("audience", "ledger") }, "invalid_target"},
		"an id token":            {alice, func(f url.Values) { f.Set("subject_token_type", "urn:ietf:params:oauth:token-type:id_token") }, "invalid_request"},
	} {
		if status, body := exchange(tt.subject, tt.change); status != http.StatusBadRequest || body["error"] != tt.code {
			t.Errorf("%s: %d %v; want 400 %s", name, status, body, tt.code)
		}
	}
}
