package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/internal/devissuer"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  auth.Config
		want string
	}{
		{"no issuer", auth.Config{}, "issuer is required"},
		{"empty issuer", one(auth.Issuer{Audiences: []string{"a"}}), "issuer is required"},
		{"no audience", one(auth.Issuer{URL: "https://i.test"}), "audience is required"},
		{"plain http issuer", one(auth.Issuer{URL: "http://idp.example.com", Audiences: []string{"a"}}), "plain http"},
		{"plain http jwks", one(auth.Issuer{URL: "https://i.test", JWKSURL: "http://10.0.0.1/jwks", Audiences: []string{"a"}}), "plain http"},
		{"HS256", one(auth.Issuer{URL: "https://i.test", Audiences: []string{"a"}, Algorithms: []string{"HS256"}}), "not allowed"},
		{"none", one(auth.Issuer{URL: "https://i.test", Audiences: []string{"a"}, Algorithms: []string{"none"}}), "not allowed"},
		{"unknown audience claim", one(auth.Issuer{URL: "https://i.test", Audiences: []string{"a"}, AudienceClaim: "azp"}), "audience claim"},
		{"bad scope claim path", one(auth.Issuer{URL: "https://i.test", Audiences: []string{"a"}, ScopeClaims: []string{"realm_access..roles"}}), "scope claim"},
		{"same issuer twice", auth.Config{Issuers: []auth.Issuer{{URL: "https://i.test", Audiences: []string{"a"}}, {URL: "https://i.test", Audiences: []string{"b"}}}}, "twice"},
		{"leeway too long", auth.Config{Issuers: []auth.Issuer{{URL: "https://i.test", Audiences: []string{"a"}}}, Leeway: auth.MaxLeeway + 1}, "leeway"},
		{"loopback http is fine", one(auth.Issuer{URL: "http://127.0.0.1:9/", Audiences: []string{"a"}}), ""},
		{"localhost http is fine", one(auth.Issuer{URL: "http://localhost:9", Audiences: []string{"a"}}), ""},
		{"scope name with a space", one(auth.Issuer{URL: "https://i.test", Audiences: []string{"a"}, ScopeNames: map[string][]auth.Scope{"Orders Write": {"orders:write"}}}), "is not a scope"},
		{"scope name with a quote", one(auth.Issuer{URL: "https://i.test", Audiences: []string{"a"}, ScopeNames: map[string][]auth.Scope{`orders"write`: {"orders:write"}}}), "is not a scope"},
		{"scope names of a provider", one(auth.Issuer{URL: "https://i.test", Audiences: []string{"a"}, ScopeNames: map[string][]auth.Scope{"Orders.Write": {"orders:write"}, "orders/read": {"orders:read"}, "https://api.example.com/orders:read": {"orders:read"}}}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v; want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v; want an error about %q", err, tt.want)
			}
		})
	}
}

// one is a configuration that trusts iss only.
func one(iss auth.Issuer) auth.Config {
	return auth.Config{Issuers: []auth.Issuer{iss}, Leeway: auth.DefaultLeeway}
}

// TestCheckedSettings covers settings whose checks a mutation of the code
// would otherwise survive: the leeway is applied, any one of several
// audiences will do, and a configured JWKS URL is used without discovery.
func TestCheckedSettings(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	now := time.Now()
	t.Run("leeway applied", func(t *testing.T) {
		v := idp.NewVerifier(t)
		for _, exp := range []time.Duration{-10 * time.Second, -25 * time.Second} {
			tok := idp.Token(t, authtest.Claims{Subject: "alice", Extra: map[string]any{"exp": now.Add(exp).Unix(), "nbf": now.Add(-exp).Unix()}})
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Errorf("exp %v ago, nbf %v ahead, within the 30s leeway: %v", -exp, -exp, err)
			}
		}
		strict := idp.Trust()
		v0, err := auth.NewVerifier(auth.Config{Issuers: []auth.Issuer{strict}}, authtest.Discard())
		if err != nil {
			t.Fatal(err)
		}
		tok := idp.Token(t, authtest.Claims{Subject: "alice", Extra: map[string]any{"exp": now.Add(-2 * time.Second).Unix()}})
		if _, err := v0.Verify(t.Context(), tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("no leeway, expired 2s ago: %v; want refused", err)
		}
	})
	t.Run("any one of the audiences", func(t *testing.T) {
		iss := idp.Trust()
		iss.Audiences = []string{"https://first.example.com", authtest.Audience}
		v, err := auth.NewVerifier(one(iss), authtest.Discard())
		if err != nil {
			t.Fatal(err)
		}
		for _, aud := range []any{authtest.Audience, "https://first.example.com", []string{"x", authtest.Audience}} {
			if _, err := v.Verify(t.Context(), idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"aud": aud}})); err != nil {
				t.Errorf("aud %v: %v", aud, err)
			}
		}
	})
	t.Run("configured JWKS URL, no discovery", func(t *testing.T) {
		srv := jwksServer(t, func(string) string { return `{"issuer":"https://elsewhere.example.com"}` }, string(mustJWKS(t, idp)))
		iss := idp.Trust()
		iss.JWKSURL = srv.URL + devissuer.JWKSPath
		v, err := auth.NewVerifier(one(iss), authtest.Discard())
		if err != nil {
			t.Fatal(err)
		}
		idp.SetFailing(true)
		defer idp.SetFailing(false)
		if _, err := v.Verify(t.Context(), idp.Token(t, authtest.Claims{Subject: "a"})); err != nil {
			t.Errorf("keys from the configured JWKS URL: %v", err)
		}
	})
}

func mustJWKS(t *testing.T, idp *authtest.IdP) []byte {
	t.Helper()
	b, err := idp.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
