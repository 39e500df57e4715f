package tests

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/repository/repotest"
)

// operations are every /orders route with a body where it needs one, on an
// order that exists (id is filled in per test).
func operations(id string) []request {
	body := `{"order":[{"product":"latte","size":"big"}]}`
	return []request{
		{method: http.MethodGet, path: "/orders"},
		{method: http.MethodPost, path: "/orders", body: body},
		{method: http.MethodGet, path: "/orders/" + id},
		{method: http.MethodPut, path: "/orders/" + id, body: body},
		{method: http.MethodPost, path: "/orders/" + id + "/pay"},
		{method: http.MethodPost, path: "/orders/" + id + "/cancel"},
		{method: http.MethodDelete, path: "/orders/" + id},
	}
}

// contractScopes reads openapi.yaml, the published contract, and returns
// the scope each operation that needs a token asks for, by "METHOD /path".
// HEAD is the GET of the same path, and so not called separately.
func contractScopes(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type operation struct {
		Security []map[string][]string `yaml:"security"`
	}
	var spec struct {
		Paths map[string]struct{ Get, Put, Post, Delete, Patch *operation } `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	scopes := map[string]string{}
	for path, item := range spec.Paths {
		ops := map[string]*operation{http.MethodGet: item.Get, http.MethodPut: item.Put, http.MethodPost: item.Post, http.MethodDelete: item.Delete, http.MethodPatch: item.Patch}
		for method, op := range ops {
			if op == nil || len(op.Security) == 0 {
				continue // no such operation, or a public one
			}
			for _, scheme := range op.Security[0] {
				if len(scheme) != 1 {
					t.Fatalf("%s %s asks for scopes %v; want one", method, path, scheme)
				}
				scopes[method+" "+path] = scheme[0]
			}
		}
	}
	return scopes
}

// TestScopeMatrix calls every operation with every combination of scopes:
// each needs the scope openapi.yaml gives it (reads orders:read, changes
// orders:write), and a refusal names that scope. Every operation of the
// contract that needs a token is called.
func TestScopeMatrix(t *testing.T) {
	t.Parallel()
	scopes := contractScopes(t)
	called := map[string]bool{}
	for _, op := range operations("{order_id}") {
		called[op.method+" "+op.path] = true
	}
	for key := range scopes {
		if !called[key] {
			t.Errorf("%s: in openapi.yaml, but operations() does not call it", key)
		}
	}
	for _, scope := range []string{"", "orders:read", "orders:write", rw, "orders:admin Orders:Write"} {
		t.Run("scope="+scope, func(t *testing.T) {
			t.Parallel()
			repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
				t.Parallel()
				e := newEnvOn(t, db)
				for i, template := range operations("{order_id}") {
					o := e.create(t, e.token(t, "alice", rw), item{"latte", "big", 1})
					op := operations(o.ID)[i]
					op.token = e.token(t, "alice", scope)
					need := scopes[template.method+" "+template.path]
					if need == "" {
						t.Fatalf("%s %s: openapi.yaml asks for no scope", template.method, template.path)
					}
					r := e.do(t, op)
					if strings.Contains(" "+scope+" ", " "+need+" ") {
						if r.status >= 300 {
							t.Errorf("%s %s with %q = %d; want success", op.method, op.path, scope, r.status)
						}
						continue
					}
					r.wantProblem(t, http.StatusForbidden)
					want := `Bearer realm="orders", error="insufficient_scope", scope="` + need + `"`
					if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, want) {
						t.Errorf("%s %s: WWW-Authenticate = %q; want prefix %q", op.method, op.path, got, want)
					}
				}
			})
		})
	}
}

func indexOf(op request) int {
	for i, o := range operations("") {
		if o.method == op.method && o.path == op.path {
			return i
		}
	}
	panic("unknown operation")
}

// TestOwnershipMatrix has bob try every operation on alice's order: each is
// 404 with the very body of a missing order, and alice's order is unchanged.
func TestOwnershipMatrix(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		alice, bob := e.token(t, "alice", rw), e.token(t, "bob", rw)
		hers := e.create(t, alice, item{"flat white", "medium", 2})
		missing := "00000000-0000-7000-8000-000000000000"

		for _, op := range operations(hers.ID)[2:] {
			t.Run(op.method+" "+op.path, func(t *testing.T) {
				op.token = bob
				got := e.do(t, op).wantProblem(t, http.StatusNotFound)
				miss := operations(missing)[indexOf(request{method: op.method, path: strings.Replace(op.path, hers.ID, "", 1)})]
				miss.token = bob
				want := e.do(t, miss).wantProblem(t, http.StatusNotFound)
				if got.Detail != want.Detail || got.Title != want.Title {
					t.Errorf("another owner's order = %+v; a missing one = %+v; want the same", got, want)
				}
			})
		}
		l, _ := e.list(t, bob, "")
		if len(l.Orders) != 0 {
			t.Errorf("bob lists %d orders; want none of alice's", len(l.Orders))
		}
		var now order
		e.do(t, request{method: http.MethodGet, path: "/orders/" + hers.ID, token: alice}).decode(t, &now)
		if now.Status != hers.Status || now.Order[0] != hers.Order[0] {
			t.Errorf("alice's order changed to %+v", now)
		}

		bobs := e.create(t, bob, item{"espresso", "small", 1})
		l, _ = e.list(t, alice, "")
		if len(l.Orders) != 1 || l.Orders[0].ID != hers.ID || bobs.ID == hers.ID {
			t.Errorf("alice lists %+v; want only her order", l.Orders)
		}
	})
}

// TestAuthenticationFailures sends bad credentials to POST /orders: each is
// refused with the RFC 6750 answer, and no order is created.
func TestAuthenticationFailures(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		idp := e.idp
		key := idp.Keys()[0]
		claims := func(extra map[string]any) jwt.MapClaims {
			return idp.ClaimsMap(authtest.Claims{Subject: "mallory", Scope: rw, Extra: extra})
		}
		sign := func(extra map[string]any) string { return idp.Sign(t, key, nil, claims(extra)) }
		der, err := x509.MarshalPKIXPublicKey(key.Signer.Public())
		if err != nil {
			t.Fatal(err)
		}
		hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
		hs.Header["kid"] = key.ID
		hsToken, err := hs.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		good := sign(nil)

		tests := []struct {
			name      string
			header    []string
			query     string
			status    int
			challenge string // the WWW-Authenticate value's start
		}{
			{"no token", nil, "", 401, `Bearer realm="orders"`},
			{"token in the query only", nil, "?access_token=" + good, 401, `Bearer realm="orders"`},
			{"basic scheme", []string{"Basic bWFsbG9yeTpwdw=="}, "", 401, `Bearer realm="orders"`},
			{"token scheme", []string{"Token " + good}, "", 401, `Bearer realm="orders"`},
			{"bare token", []string{good}, "", 401, `Bearer realm="orders"`},
			{"empty bearer", []string{"Bearer "}, "", 401, `Bearer realm="orders", error="invalid_token"`},
			{"malformed", []string{"Bearer not.a.jwt"}, "", 401, `Bearer realm="orders", error="invalid_token"`},
			{"alg none", []string{"Bearer " + authtest.Compact(t, map[string]any{"alg": "none", "typ": "JWT"}, claims(nil), nil)}, "", 401, `Bearer realm="orders", error="invalid_token"`},
			{"HS256 signed with the public key", []string{"Bearer " + hsToken}, "", 401, `Bearer realm="orders", error="invalid_token"`},
			{"unknown kid", []string{"Bearer " + idp.Sign(t, authtest.NewKey(t, "unknown", "RS256"), nil, claims(nil))}, "", 401, `Bearer realm="orders", error="invalid_token"`},
			{"expired", []string{"Bearer " + sign(map[string]any{"exp": now.Add(-time.Hour).Unix()})}, "", 401, `Bearer realm="orders", error="invalid_token", error_description="the token has expired"`},
			{"not yet valid", []string{"Bearer " + sign(map[string]any{"nbf": now.Add(time.Hour).Unix()})}, "", 401, `Bearer realm="orders", error="invalid_token"`},
			{"wrong issuer", []string{"Bearer " + sign(map[string]any{"iss": "https://evil.example.com"})}, "", 401, `Bearer realm="orders", error="invalid_token"`},
			{"wrong audience", []string{"Bearer " + sign(map[string]any{"aud": "https://other.example.com"})}, "", 401, `Bearer realm="orders", error="invalid_token"`},
			{"no sub", []string{"Bearer " + sign(map[string]any{"sub": authtest.Omit})}, "", 401, `Bearer realm="orders", error="invalid_token"`},
			{"two Authorization headers", []string{"Bearer " + good, "Bearer " + good}, "", 400, `Bearer realm="orders", error="invalid_request"`},
			{"header and query token", []string{"Bearer " + good}, "?access_token=" + good, 400, `Bearer realm="orders", error="invalid_request"`},
			{"two tokens in one header", []string{"Bearer " + good + " " + good}, "", 400, `Bearer realm="orders", error="invalid_request"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.do(t, request{method: http.MethodPost, path: "/orders" + tt.query,
					body: `{"order":[{"product":"latte","size":"big"}]}`, header: http.Header{"Authorization": tt.header}})
				p := r.wantProblem(t, tt.status)
				got := r.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(got, tt.challenge) {
					t.Errorf("WWW-Authenticate = %q; want prefix %q", got, tt.challenge)
				}
				if tt.challenge == `Bearer realm="orders"` && got != tt.challenge {
					t.Errorf("WWW-Authenticate = %q; want no error code when no bearer token was sent", got)
				}
				if strings.Contains(p.Detail, "eyJ") || strings.Contains(got, "eyJ") {
					t.Errorf("the answer quotes the token")
				}
			})
		}
		l, _ := e.list(t, e.token(t, "mallory", rw), "")
		if len(l.Orders) != 0 {
			t.Errorf("refused requests created %d orders", len(l.Orders))
		}
	})
}

func TestCORS(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		preflight := func(origin string) response {
			return e.do(t, request{method: http.MethodOptions, path: "/orders", header: http.Header{
				"Origin":                         {origin},
				"Access-Control-Request-Method":  {"POST"},
				"Access-Control-Request-Headers": {"authorization, content-type"},
			}})
		}
		r := preflight(allowedOrigin)
		if r.status != http.StatusNoContent && r.status != http.StatusOK {
			t.Fatalf("preflight from an allowed origin = %d; want 204 before authentication", r.status)
		}
		if got := r.header.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
			t.Errorf("Access-Control-Allow-Origin = %q; want %q", got, allowedOrigin)
		}
		if got := strings.ToLower(r.header.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "authorization") {
			t.Errorf("Access-Control-Allow-Headers = %q; want Authorization allowed", got)
		}
		if r.header.Get("Access-Control-Allow-Credentials") == "true" {
			t.Error("credentials allowed; bearer tokens need none")
		}

		r = preflight("https://evil.example.com")
		if r.header.Get("Access-Control-Allow-Origin") != "" || r.status < 400 {
			t.Errorf("preflight from another origin = %d with Allow-Origin %q; want refused", r.status, r.header.Get("Access-Control-Allow-Origin"))
		}

		r = e.do(t, request{method: http.MethodGet, path: "/orders", token: e.token(t, "alice", rw), header: http.Header{"Origin": {allowedOrigin}}})
		r.wantStatus(t, http.StatusOK)
		if r.header.Get("Access-Control-Allow-Origin") != allowedOrigin {
			t.Errorf("actual request lacks Access-Control-Allow-Origin")
		}
		if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Link") {
			t.Errorf("Access-Control-Expose-Headers = %q; want Link exposed", r.header.Get("Access-Control-Expose-Headers"))
		}
	})
}
