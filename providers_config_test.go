package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth"
)

func TestProviderPresets(t *testing.T) {
	t.Parallel()
	tenant := "8eaef023-2b34-4da1-9baa-8bc8c9d6a490"
	tests := []struct {
		name    string
		env     map[string]string
		want    func(iss auth.Issuer) string // "" when iss is right
		wantErr string
	}{
		{"auth0", map[string]string{"ORDERS_AUTH_PROVIDER": "auth0", "ORDERS_AUTH_ISSUER": "https://t.eu.auth0.com/", "ORDERS_AUTH_AUDIENCE": "https://orders.example.com"},
			func(iss auth.Issuer) string { return cmp.Diff([]string{"scope", "permissions"}, iss.ScopeClaims) }, ""},
		{"auth0 without the slash", map[string]string{"ORDERS_AUTH_PROVIDER": "auth0", "ORDERS_AUTH_ISSUER": "https://t.eu.auth0.com", "ORDERS_AUTH_AUDIENCE": "x"}, nil, "ends with a slash"},
		{"okta", map[string]string{"ORDERS_AUTH_PROVIDER": "okta", "ORDERS_AUTH_ISSUER": "https://dev-1.okta.com/oauth2/default", "ORDERS_AUTH_AUDIENCE": "api://orders"},
			func(iss auth.Issuer) string {
				return cmp.Diff([]string{"scp"}, iss.ScopeClaims) + cmp.Diff([]string{"", "jwt", "at+jwt", "okta-internal-at+jwt"}, iss.Types)
			}, ""},
		{"entra v2", map[string]string{"ORDERS_AUTH_PROVIDER": "entra", "ORDERS_AUTH_ISSUER": "https://login.microsoftonline.com/" + tenant + "/v2.0", "ORDERS_AUTH_AUDIENCE": "api://orders,6e74172b-be56-4843-9ff4-e66a39bb12e3", "ORDERS_AUTH_READ_SCOPE": "Orders.Read", "ORDERS_AUTH_WRITE_SCOPE": "Orders.Write"},
			func(iss auth.Issuer) string {
				return cmp.Diff([]string{"scp", "roles"}, iss.ScopeClaims) + cmp.Diff(map[string][]auth.Scope{"Orders.Read": {api.ScopeRead}, "Orders.Write": {api.ScopeWrite}}, iss.ScopeNames) + cmp.Diff("", iss.JWKSURL)
			}, ""},
		{"entra v1 finds its keys", map[string]string{"ORDERS_AUTH_PROVIDER": "entra", "ORDERS_AUTH_ISSUER": "https://sts.windows.net/" + tenant + "/", "ORDERS_AUTH_AUDIENCE": "api://orders"},
			func(iss auth.Issuer) string {
				return cmp.Diff("https://login.microsoftonline.com/"+tenant+"/discovery/keys", iss.JWKSURL)
			}, ""},
		{"entra with another issuer", map[string]string{"ORDERS_AUTH_PROVIDER": "entra", "ORDERS_AUTH_ISSUER": "https://login.microsoftonline.com/common/v2.0", "ORDERS_AUTH_AUDIENCE": "x"}, nil, "Entra ID issuer"},
		{"cognito", map[string]string{"ORDERS_AUTH_PROVIDER": "cognito", "ORDERS_AUTH_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123", "ORDERS_AUTH_AUDIENCE": "3n4b5urk1ft4fl3mg5e62d9ado"},
			func(iss auth.Issuer) string { return cmp.Diff(auth.AudienceClaimClientID, iss.AudienceClaim) }, ""},
		{"cognito with aud", map[string]string{"ORDERS_AUTH_PROVIDER": "cognito", "ORDERS_AUTH_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123", "ORDERS_AUTH_AUDIENCE": "x", "ORDERS_AUTH_AUDIENCE_CLAIM": "aud"}, nil, "client_id"},
		{"cognito with another issuer", map[string]string{"ORDERS_AUTH_PROVIDER": "cognito", "ORDERS_AUTH_ISSUER": "https://auth.example.com", "ORDERS_AUTH_AUDIENCE": "x"}, nil, "Cognito issuer"},
		{"keycloak", map[string]string{"ORDERS_AUTH_PROVIDER": "keycloak", "ORDERS_AUTH_ISSUER": "https://kc.example.com/realms/coffeemesh", "ORDERS_AUTH_AUDIENCE": "orders-api"},
			func(iss auth.Issuer) string {
				return cmp.Diff([]string{"scope", "realm_access.roles", "resource_access[orders-api].roles"}, iss.ScopeClaims)
			}, ""},
		{"keycloak with another issuer", map[string]string{"ORDERS_AUTH_PROVIDER": "keycloak", "ORDERS_AUTH_ISSUER": "https://kc.example.com/auth", "ORDERS_AUTH_AUDIENCE": "x"}, nil, "Keycloak issuer"},
		{"explicit settings beat the preset", map[string]string{"ORDERS_AUTH_PROVIDER": "okta", "ORDERS_AUTH_ISSUER": "https://dev-1.okta.com/oauth2/default", "ORDERS_AUTH_AUDIENCE": "x", "ORDERS_AUTH_SCOPE_CLAIMS": "scope"},
			func(iss auth.Issuer) string { return cmp.Diff([]string{"scope"}, iss.ScopeClaims) }, ""},
		{"unknown provider", map[string]string{"ORDERS_AUTH_PROVIDER": "ping", "ORDERS_AUTH_ISSUER": "https://x.example.com", "ORDERS_AUTH_AUDIENCE": "x"}, nil, "auth0, cognito, entra, keycloak, okta"},
		{"scope checks off", map[string]string{"ORDERS_AUTH_ISSUER": "https://dex.example.com", "ORDERS_AUTH_AUDIENCE": "x", "ORDERS_AUTH_READ_SCOPE": "none", "ORDERS_AUTH_WRITE_SCOPE": "none"},
			func(iss auth.Issuer) string {
				return cmp.Diff([]auth.Scope{api.ScopeRead, api.ScopeWrite}, iss.GrantScopes) + cmp.Diff(map[string][]auth.Scope{}, iss.ScopeNames)
			}, ""},
		{"one scope for both", map[string]string{"ORDERS_AUTH_ISSUER": "https://x.example.com", "ORDERS_AUTH_AUDIENCE": "x", "ORDERS_AUTH_READ_SCOPE": "orders", "ORDERS_AUTH_WRITE_SCOPE": "orders"},
			func(iss auth.Issuer) string {
				return cmp.Diff(map[string][]auth.Scope{"orders": {api.ScopeRead, api.ScopeWrite}}, iss.ScopeNames)
			}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(nil, env(tt.env), nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadConfig = %v; want an error about %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := tt.want(c.auth.Issuers[0]); diff != "" {
				t.Errorf("issuer %+v:\n%s", c.auth.Issuers[0], diff)
			}
		})
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFile(t *testing.T) {
	t.Parallel()
	yamlFile := writeFile(t, "orders.yaml", `
addr: 127.0.0.1:9000
cors_origins: [https://app.example.com]
auth:
  leeway: 10s
  issuers:
    - provider: auth0
      issuer: https://tenant.eu.auth0.com/
      audience: [https://orders.example.com]
    - provider: cognito
      issuer: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123
      audience: [3n4b5urk1ft4fl3mg5e62d9ado]
      read_scope: orders/read
      write_scope: orders/write
`)
	jsonFile := writeFile(t, "orders.json", `{"auth": {"issuers": [
		{"issuer": "https://kc.example.com/realms/a", "provider": "keycloak", "audience": ["orders-api"], "require_at_jwt": true}]}}`)

	c, err := loadConfig(nil, env(map[string]string{"ORDERS_CONFIG": yamlFile, "ORDERS_ADDR": "127.0.0.1:9100"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:9100" || c.auth.Leeway.String() != "10s" || len(c.api.CORSOrigins) != 1 {
		t.Errorf("addr %q (want the environment's), leeway %v, origins %v", c.addr, c.auth.Leeway, c.api.CORSOrigins)
	}
	if len(c.auth.Issuers) != 2 || c.auth.Issuers[1].AudienceClaim != auth.AudienceClaimClientID ||
		!cmp.Equal(c.auth.Issuers[1].ScopeNames["orders/write"], []auth.Scope{api.ScopeWrite}) {
		t.Errorf("issuers = %+v", c.auth.Issuers)
	}

	c, err = loadConfig([]string{"--config", jsonFile}, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.auth.Issuers[0]; !cmp.Equal(got.Types, []string{"at+jwt"}) || got.ScopeClaims[2] != "resource_access[orders-api].roles" {
		t.Errorf("JSON issuer = %+v", got)
	}

	for _, tt := range []struct{ name, content, env, want string }{
		{"unknown key", "auth:\n  issuers:\n    - issuer: https://a.example.com\n      audiences: [x]\n", "", "unknown field"},
		{"not YAML", "auth: [", "", "ORDERS_CONFIG"},
		{"issuer in file and environment", "auth:\n  issuers:\n    - issuer: https://a.example.com\n      audience: [x]\n", "https://b.example.com", "the configuration file lists the issuers"},
		{"second issuer invalid", "auth:\n  issuers:\n    - issuer: https://a.example.com\n      audience: [x]\n    - issuer: http://b.example.com\n      audience: [y]\n", "", "issuer 2"},
		{"same issuer twice", "auth:\n  issuers:\n    - issuer: https://a.example.com\n      audience: [x]\n    - issuer: https://a.example.com\n      audience: [y]\n", "", "twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "bad.yaml", tt.content)
			_, err := loadConfig(nil, env(map[string]string{"ORDERS_CONFIG": path, "ORDERS_AUTH_ISSUER": tt.env}), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("loadConfig = %v; want an error about %q", err, tt.want)
			}
		})
	}
	if _, err := loadConfig(nil, env(map[string]string{"ORDERS_CONFIG": "/nonexistent/orders.yaml"}), nil); err == nil {
		t.Error("a missing configuration file was not an error")
	}
}
