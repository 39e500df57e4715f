package devissuer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/coffeemesh/orders/auth/devissuer"
)

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	iss, err := devissuer.New("http://127.0.0.1:8001", "orders-api", []string{"orders:read", "orders:write"})
	if err != nil {
		t.Fatal(err)
	}
	h := iss.Handler()
	tests := []struct {
		name   string
		form   url.Values
		basic  string
		status int
		code   string
	}{
		{"client id in the form", url.Values{"grant_type": {"client_credentials"}, "client_id": {"alice"}}, "", 200, ""},
		{"client id in basic auth", url.Values{"grant_type": {"client_credentials"}}, "alice", 200, ""},
		{"narrower scope", url.Values{"grant_type": {"client_credentials"}, "client_id": {"bob"}, "scope": {"orders:read"}}, "", 200, ""},
		{"other grant", url.Values{"grant_type": {"password"}, "client_id": {"alice"}}, "", 400, "unsupported_grant_type"},
		{"no client", url.Values{"grant_type": {"client_credentials"}}, "", 401, "invalid_client"},
		{"odd client id", url.Values{"grant_type": {"client_credentials"}, "client_id": {"a b"}}, "", 401, "invalid_client"},
		{"unknown scope", url.Values{"grant_type": {"client_credentials"}, "client_id": {"alice"}, "scope": {"admin"}}, "", 400, "invalid_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, devissuer.TokenPath, strings.NewReader(tt.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic != "" {
				req.SetBasicAuth(tt.basic, "")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.status || (tt.code != "" && body["error"] != tt.code) {
				t.Fatalf("status %d body %v; want %d %q", rec.Code, body, tt.status, tt.code)
			}
			if tt.status == 200 && (body["token_type"] != "Bearer" || body["access_token"] == "") {
				t.Errorf("token response %v", body)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q; want no-store", rec.Header().Get("Cache-Control"))
			}
		})
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	t.Parallel()
	iss, err := devissuer.New("http://127.0.0.1:8001", "orders-api", []string{"orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	iss.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, devissuer.DiscoveryPath, nil))
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != "http://127.0.0.1:8001" || doc["jwks_uri"] != "http://127.0.0.1:8001/jwks.json" {
		t.Errorf("discovery = %v", doc)
	}
	rec = httptest.NewRecorder()
	iss.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, devissuer.JWKSPath, nil))
	if strings.Contains(rec.Body.String(), `"d"`) || !strings.Contains(rec.Body.String(), `"kid"`) {
		t.Errorf("jwks = %s; want public keys with kids only", rec.Body)
	}
}
