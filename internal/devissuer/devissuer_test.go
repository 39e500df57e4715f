package devissuer_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/coffeemesh/orders/auth/dpop/dpoptest"
	"github.com/coffeemesh/orders/internal/devissuer"
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
		{"the same client in both", url.Values{"grant_type": {"client_credentials"}, "client_id": {"alice"}}, "alice", 200, ""},
		{"two clients", url.Values{"grant_type": {"client_credentials"}, "client_id": {"bob"}}, "alice", 400, "invalid_request"},
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

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	t.Parallel()
	iss, err := devissuer.New("http://127.0.0.1:8001", "orders-api", []string{"orders:read", "orders:write"})
	if err != nil {
		t.Fatal(err)
	}
	h := iss.Handler()
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	params := url.Values{"response_type": {"code"}, "client_id": {"orders-docs"}, "redirect_uri": {"http://localhost:8000/docs/oauth2-redirect.html"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"xyz"}, "scope": {"orders:read"}}
	do := func(method, target string, form url.Values) *httptest.ResponseRecorder {
		var req *http.Request
		if method == http.MethodGet {
			req = httptest.NewRequest(method, target+"?"+form.Encode(), nil)
		} else {
			req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do(http.MethodGet, devissuer.AuthorizePath, params); rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="subject"`) {
		t.Fatalf("login page: %d %s", rec.Code, rec.Body)
	}
	for name, change := range map[string][2]string{
		"implicit flow":         {"response_type", "token"},
		"no PKCE":               {"code_challenge_method", "plain"},
		"redirect to a network": {"redirect_uri", "https://evil.example.com/cb"},
	} {
		bad := url.Values{}
		for k, v := range params {
			bad[k] = v
		}
		bad.Set(change[0], change[1])
		if rec := do(http.MethodGet, devissuer.AuthorizePath, bad); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d; want 400", name, rec.Code)
		}
	}
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("subject", "carol")
	form["grant"] = []string{"orders:read", "orders:write", "admin"}
	rec := do(http.MethodPost, devissuer.AuthorizePath, form)
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || err != nil || loc.Query().Get("state") != "xyz" || loc.Query().Get("code") == "" {
		t.Fatalf("sign in: %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
	exchange := func(v string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, devissuer.TokenPath, strings.NewReader(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
			"redirect_uri": params["redirect_uri"], "client_id": {"orders-docs"}, "code_verifier": {v}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://localhost:8000")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := exchange(strings.Repeat("w", 50)); rec.Code != http.StatusBadRequest {
		t.Errorf("wrong verifier: %d; want 400", rec.Code)
	}
	// The failed attempt used the code up.
	if rec := exchange(verifier); rec.Code != http.StatusBadRequest {
		t.Errorf("code reused: %d; want 400", rec.Code)
	}
	rec = do(http.MethodPost, devissuer.AuthorizePath, form)
	loc, _ = url.Parse(rec.Header().Get("Location"))
	rec = exchange(verifier)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 || body["scope"] != "orders:read orders:write" {
		t.Fatalf("token: %d %v", rec.Code, body)
	}
	if rec.Header().Get("Access-Control-Allow-Origin") != "http://localhost:8000" {
		t.Error("the token endpoint does not allow the API's own pages")
	}
	req := httptest.NewRequest(http.MethodOptions, devissuer.TokenPath, nil)
	req.Header.Set("Origin", "https://evil.example.com")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("a page of another origin may read tokens: Allow-Origin %q", got)
	}
}

// TestTokenEndpointBindsToCertificate: a token request from loopback may
// ask for a token bound to a certificate's thumbprint; from elsewhere, or
// with something that is no SHA-256 thumbprint, it is refused.
func TestTokenEndpointBindsToCertificate(t *testing.T) {
	t.Parallel()
	iss, err := devissuer.New("http://127.0.0.1:8001", "orders-api", []string{"orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("a certificate"))
	x5t := base64.RawURLEncoding.EncodeToString(sum[:])
	tests := []struct {
		name   string
		remote string
		x5t    string
		status int
	}{
		{"from IPv4 loopback", "127.0.0.1:5000", x5t, 200},
		{"from IPv6 loopback", "[::1]:5000", x5t, 200},
		{"from another host", "192.0.2.1:5000", x5t, 400},
		{"not base64url", "127.0.0.1:5000", "a+b/", 400},
		{"padded", "127.0.0.1:5000", x5t + "=", 400},
		{"SHA-1 long", "127.0.0.1:5000", base64.RawURLEncoding.EncodeToString(sum[:20]), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"alice"}, devissuer.CertThumbprintParam: {tt.x5t}}
			req := httptest.NewRequest(http.MethodPost, devissuer.TokenPath, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.RemoteAddr = tt.remote
			rec := httptest.NewRecorder()
			iss.Handler().ServeHTTP(rec, req)
			var body struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != tt.status {
				t.Fatalf("status %d %s; want %d", rec.Code, rec.Body, tt.status)
			}
			if tt.status != 200 {
				return
			}
			_, payload, _ := strings.Cut(body.AccessToken, ".")
			payload, _, _ = strings.Cut(payload, ".")
			raw, err := base64.RawURLEncoding.DecodeString(payload)
			if err != nil {
				t.Fatal(err)
			}
			var claims struct {
				Cnf map[string]string `json:"cnf"`
			}
			if err := json.Unmarshal(raw, &claims); err != nil || claims.Cnf["x5t#S256"] != x5t {
				t.Errorf("claims %s; want cnf x5t#S256 %s", raw, x5t)
			}
		})
	}
}

// TestTokenEndpointDPoP: a token request with a DPoP proof gets a DPoP
// token bound to the proof's key; a bad, replayed or doubled proof gets
// invalid_dpop_proof, never a token.
func TestTokenEndpointDPoP(t *testing.T) {
	t.Parallel()
	const tokenURL = "http://127.0.0.1:8001" + devissuer.TokenPath
	iss, err := devissuer.New("http://127.0.0.1:8001", "orders-api", []string{"orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	h := iss.Handler()
	client := dpoptest.NewClient(t, "ES256")
	used := client.Proof(t, http.MethodPost, tokenURL, "")
	tests := []struct {
		name   string
		proofs []string
		status int
		typ    string
	}{
		{"no proof", nil, 200, "Bearer"},
		{"a proof", []string{used}, 200, "DPoP"},
		{"the same proof again", []string{used}, 400, ""},
		{"a proof for another URL", []string{client.Proof(t, http.MethodPost, "http://127.0.0.1:8001/other", "")}, 400, ""},
		{"a proof with ath", []string{client.Proof(t, http.MethodPost, tokenURL, "a.b.c")}, 400, ""},
		{"two proofs", []string{client.Proof(t, http.MethodPost, tokenURL, ""), client.Proof(t, http.MethodPost, tokenURL, "")}, 400, ""},
	}
	for _, tt := range tests {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"alice"}}
		req := httptest.NewRequest(http.MethodPost, devissuer.TokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, p := range tt.proofs {
			req.Header.Add("DPoP", p)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var body struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
			Error       string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if rec.Code != tt.status || body.TokenType != tt.typ || (tt.status == 400 && body.Error != "invalid_dpop_proof") {
			t.Errorf("%s: %d %+v; want %d token_type %q", tt.name, rec.Code, body, tt.status, tt.typ)
			continue
		}
		if tt.status != 200 {
			continue
		}
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(body.AccessToken, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			CNF struct {
				JKT string `json:"jkt"`
			} `json:"cnf"`
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"Bearer": "", "DPoP": client.Thumbprint}[tt.typ]; claims.CNF.JKT != want {
			t.Errorf("%s: cnf.jkt %q; want %q", tt.name, claims.CNF.JKT, want)
		}
	}
}
