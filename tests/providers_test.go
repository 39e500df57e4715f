package tests

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
)

// providerCase is an identity provider as it shapes its access tokens, and
// the settings on our side that its guide in docs/providers.md gives.
type providerCase struct {
	name string
	// path follows the IdP's address in its issuer, as the provider's
	// issuers are formed.
	path string
	// trust is our configuration for it, as docs/providers.md gives it.
	trust func(iss *auth.Issuer)
	// header is the JOSE header beyond alg and kid; nil values remove.
	header map[string]any
	// claims are a token of the provider for audience, with the write
	// scope (or role, or group) or without it.
	claims func(issuer, audience string, write bool) jwt.MapClaims
	// audience is what our configuration accepts.
	audience string
}

func pick[T any](write bool, with, without T) T {
	if write {
		return with
	}
	return without
}

func providerCases() []providerCase {
	now := time.Now()
	base := func(issuer string) jwt.MapClaims {
		return jwt.MapClaims{"iss": issuer, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	with := func(m jwt.MapClaims, extra jwt.MapClaims) jwt.MapClaims {
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	const tenant = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490"
	return []providerCase{
		{
			name: "Auth0", path: "/", audience: "https://orders.example.com",
			trust:  func(iss *auth.Issuer) { mustProvider("auth0", iss) },
			header: map[string]any{"typ": "JWT"},
			claims: func(issuer, aud string, write bool) jwt.MapClaims {
				return with(base(issuer), jwt.MapClaims{
					"sub": "Xb7nW2qR@clients", "aud": []string{aud, issuer + "userinfo"}, "azp": "Xb7nW2qR",
					"gty":         "client-credentials",
					"scope":       pick(write, "orders:read orders:write", "orders:read"),
					"permissions": pick(write, []string{"orders:read", "orders:write"}, []string{"orders:read"}),
				})
			},
		},
		{
			name: "Okta", path: "/oauth2/default", audience: "api://orders",
			trust:  func(iss *auth.Issuer) { mustProvider("okta", iss) },
			header: map[string]any{"typ": "application/okta-internal-at+jwt"},
			claims: func(issuer, aud string, write bool) jwt.MapClaims {
				return with(base(issuer), jwt.MapClaims{
					"ver": 1, "jti": "AT.kQ4ofp5VH9", "aud": aud, "cid": "0oa1b2c3d4", "uid": "00u1a2b3c4",
					"sub": "alice@example.com",
					"scp": pick(write, []string{"orders:read", "orders:write"}, []string{"orders:read"}),
				})
			},
		},
		{
			name: "Entra ID, delegated scopes", path: "/" + tenant + "/v2.0", audience: "6e74172b-be56-4843-9ff4-e66a39bb12e3",
			trust: func(iss *auth.Issuer) {
				mustProvider("entra", iss)
				iss.ScopeNames = map[string][]auth.Scope{"Orders.Read": {api.ScopeRead}, "Orders.Write": {api.ScopeWrite}}
			},
			header: map[string]any{"typ": "JWT"},
			claims: func(issuer, aud string, write bool) jwt.MapClaims {
				return with(base(issuer), jwt.MapClaims{
					"aud": aud, "tid": tenant, "oid": "f3b1c0de-1111-2222-3333-444455556666", "azp": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
					"ver": "2.0", "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
					"scp": pick(write, "Orders.Read Orders.Write", "Orders.Read"),
				})
			},
		},
		{
			name: "Entra ID, application roles", path: "/" + tenant + "/v2.0", audience: "api://orders",
			trust: func(iss *auth.Issuer) {
				mustProvider("entra", iss)
				iss.ScopeNames = map[string][]auth.Scope{"Orders.Read": {api.ScopeRead}, "Orders.Write": {api.ScopeWrite}}
			},
			header: map[string]any{"typ": "JWT"},
			claims: func(issuer, aud string, write bool) jwt.MapClaims {
				return with(base(issuer), jwt.MapClaims{
					"aud": aud, "tid": tenant, "oid": "0a1b2c3d-0000-0000-0000-000000000001", "azp": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
					"ver": "2.0", "sub": "0a1b2c3d-0000-0000-0000-000000000001", "idtyp": "app",
					"roles": pick(write, []string{"Orders.Read", "Orders.Write"}, []string{"Orders.Read"}),
				})
			},
		},
		{
			name: "Cognito", path: "/eu-west-1_AbC123", audience: "3n4b5urk1ft4fl3mg5e62d9ado",
			trust: func(iss *auth.Issuer) {
				mustProvider("cognito", iss)
				iss.ScopeNames = map[string][]auth.Scope{"orders/read": {api.ScopeRead}, "orders/write": {api.ScopeWrite}}
			},
			header: map[string]any{"typ": nil},
			claims: func(issuer, aud string, write bool) jwt.MapClaims {
				return with(base(issuer), jwt.MapClaims{
					"sub": "3n4b5urk1ft4fl3mg5e62d9ado", "client_id": aud, "token_use": "access",
					"version": 2, "jti": "5d0f3c2e", "auth_time": now.Unix(),
					"scope": pick(write, "orders/read orders/write", "orders/read"),
				})
			},
		},
		{
			name: "Keycloak", path: "/realms/coffeemesh", audience: "orders-api",
			trust:  func(iss *auth.Issuer) { mustProvider("keycloak", iss) },
			header: map[string]any{"typ": "JWT"},
			claims: func(issuer, aud string, write bool) jwt.MapClaims {
				return with(base(issuer), jwt.MapClaims{
					"aud": []string{aud, "account"}, "typ": "Bearer", "azp": "orders-cli",
					"sub": "f:1b3a:alice", "preferred_username": "alice", "scope": "openid profile email",
					"realm_access": map[string]any{"roles": []string{"offline_access", "orders:read"}},
					"resource_access": map[string]any{
						aud:       map[string]any{"roles": pick(write, []string{"orders:write"}, []string{})},
						"account": map[string]any{"roles": []string{"manage-account", "orders:write"}},
					},
				})
			},
		},
		{
			// Dex issues no custom scopes; its access tokens are shaped like ID
			// tokens, with the client as audience, and carry groups.
			name: "Dex", path: "/dex", audience: "orders-api",
			trust: func(iss *auth.Issuer) {
				iss.ScopeClaims = []string{"groups"}
				iss.GrantScopes = []auth.Scope{api.ScopeRead}
				iss.ScopeNames = map[string][]auth.Scope{"orders-writers": {api.ScopeWrite}}
			},
			header: map[string]any{"typ": nil},
			claims: func(issuer, aud string, write bool) jwt.MapClaims {
				return with(base(issuer), jwt.MapClaims{
					"aud": aud, "sub": "CgVhbGljZRIEbG9jYWw", "email": "alice@example.com", "email_verified": true,
					"groups": pick(write, []string{"baristas", "orders-writers"}, []string{"baristas"}),
				})
			},
		},
		{
			name: "Ory Hydra", path: "/", audience: "orders-api",
			trust:  func(*auth.Issuer) {},
			header: map[string]any{"typ": "JWT"},
			claims: func(issuer, aud string, write bool) jwt.MapClaims {
				return with(base(issuer), jwt.MapClaims{
					"aud": []string{aud}, "client_id": "orders-cli", "sub": "orders-cli", "ext": map[string]any{}, "jti": "0f3e",
					"scp": pick(write, []string{"orders:read", "orders:write"}, []string{"orders:read"}),
				})
			},
		},
	}
}

func mustProvider(name string, iss *auth.Issuer) {
	if err := auth.ApplyProvider(name, iss); err != nil {
		panic(err)
	}
}

// TestProviders signs tokens shaped exactly like each provider's and checks
// an allowed call, a wrong audience (401) and a missing scope (403).
func TestProviders(t *testing.T) {
	t.Parallel()
	for _, pc := range providerCases() {
		t.Run(pc.name, func(t *testing.T) {
			t.Parallel()
			idp := authtest.NewIdPAt(t, pc.path)
			e := newEnvFor(t, idp, func(c *envConfig) {
				iss := auth.Issuer{URL: idp.URL(), Audiences: []string{pc.audience}}
				pc.trust(&iss)
				c.auth.Issuers = []auth.Issuer{iss}
			})
			key := idp.Keys()[0]
			token := func(aud string, write bool) string {
				return idp.Sign(t, key, pc.header, pc.claims(idp.URL(), aud, write))
			}
			body := `{"order":[{"product":"latte","size":"big"}]}`

			r := e.do(t, request{method: http.MethodPost, path: "/orders", token: token(pc.audience, true), body: body})
			r.wantStatus(t, http.StatusCreated)
			var o order
			r.decode(t, &o)
			e.do(t, request{method: http.MethodGet, path: "/orders/" + o.ID, token: token(pc.audience, false)}).wantStatus(t, http.StatusOK)

			r = e.do(t, request{method: http.MethodGet, path: "/orders", token: token("someone-else", true)})
			r.wantProblem(t, http.StatusUnauthorized)

			r = e.do(t, request{method: http.MethodPost, path: "/orders/" + o.ID + "/pay", token: token(pc.audience, false)})
			r.wantProblem(t, http.StatusForbidden)

			if pc.name == "Keycloak" {
				id := pc.claims(idp.URL(), pc.audience, true)
				id["typ"] = "ID"
				e.do(t, request{method: http.MethodGet, path: "/orders", token: idp.Sign(t, key, pc.header, id)}).wantProblem(t, http.StatusUnauthorized)
			}
		})
	}
}

// TestSeveralIssuers trusts two issuers at once, each with its own
// audience: a token is checked against the issuer its iss names, and a
// token of one issuer for the other's audience is refused.
func TestSeveralIssuers(t *testing.T) {
	t.Parallel()
	tenantA, tenantB := authtest.NewIdPAt(t, "/a/"), authtest.NewIdPAt(t, "/realms/b")
	var strangerFetches int64
	stranger := authtest.NewIdP(t)
	e := newEnvFor(t, tenantA, func(c *envConfig) {
		b := auth.Issuer{URL: tenantB.URL(), Audiences: []string{"orders-b"}}
		mustProvider("keycloak", &b)
		c.auth.Issuers = []auth.Issuer{
			{URL: tenantA.URL(), Audiences: []string{"orders-a"}},
			b,
		}
	})
	sign := func(idp *authtest.IdP, aud string, extra map[string]any) string {
		// typ Bearer: B is a Keycloak realm, whose access tokens carry it.
		c := idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: rw, Extra: map[string]any{"aud": aud, "typ": "Bearer"}})
		for k, v := range extra {
			c[k] = v
		}
		return idp.Sign(t, idp.Keys()[0], nil, c)
	}
	e.do(t, request{method: http.MethodGet, path: "/orders", token: sign(tenantA, "orders-a", nil)}).wantStatus(t, http.StatusOK)
	e.do(t, request{method: http.MethodGet, path: "/orders", token: sign(tenantB, "orders-b", nil)}).wantStatus(t, http.StatusOK)
	e.do(t, request{method: http.MethodGet, path: "/orders", token: sign(tenantA, "orders-b", nil)}).wantProblem(t, http.StatusUnauthorized)
	e.do(t, request{method: http.MethodGet, path: "/orders", token: sign(tenantB, "orders-a", nil)}).wantProblem(t, http.StatusUnauthorized)
	// A token of B that claims A as its issuer is checked with A's keys.
	e.do(t, request{method: http.MethodGet, path: "/orders", token: sign(tenantB, "orders-a", map[string]any{"iss": tenantA.URL()})}).wantProblem(t, http.StatusUnauthorized)
	// A subject is unique only within its issuer: B's alice is not A's.
	hers := e.create(t, sign(tenantA, "orders-a", nil), item{"latte", "big", 1})
	e.do(t, request{method: http.MethodGet, path: "/orders/" + hers.ID, token: sign(tenantB, "orders-b", nil)}).wantProblem(t, http.StatusNotFound)
	e.do(t, request{method: http.MethodDelete, path: "/orders/" + hers.ID, token: sign(tenantB, "orders-b", nil)}).wantProblem(t, http.StatusNotFound)
	if l, _ := e.list(t, sign(tenantB, "orders-b", nil), ""); len(l.Orders) != 0 {
		t.Errorf("issuer B's alice lists %d of issuer A's alice's orders", len(l.Orders))
	}
	e.do(t, request{method: http.MethodGet, path: "/orders/" + hers.ID, token: sign(tenantA, "orders-a", nil)}).wantStatus(t, http.StatusOK)
	// An untrusted issuer is never fetched.
	before := stranger.JWKSFetches()
	e.do(t, request{method: http.MethodGet, path: "/orders", token: sign(stranger, "orders-a", nil)}).wantProblem(t, http.StatusUnauthorized)
	strangerFetches = stranger.JWKSFetches() - before
	if strangerFetches != 0 {
		t.Errorf("an untrusted issuer's JWKS was fetched %d times", strangerFetches)
	}
}
