package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
)

// fullConfig turns on every optional route, so the table is complete.
func fullConfig() Config {
	return Config{MetricsHandler: http.NotFoundHandler(), Docs: &Docs{}}
}

// scopesOf returns the scopes the table asks for, each once, sorted.
func scopesOf(table []route) []auth.Scope {
	var scopes []auth.Scope
	for _, rt := range table {
		if rt.scope != public && !slices.Contains(scopes, rt.scope) {
			scopes = append(scopes, rt.scope)
		}
	}
	slices.Sort(scopes)
	return scopes
}

// requestFor returns a request for rt that its handler, once reached,
// refuses as invalid before it needs the store: path parameters that name
// no order, a limit of 0 and an empty object for a body. The store is nil.
func requestFor(rt route, token string) *http.Request {
	segments := strings.Split(rt.path, "/")
	for i, s := range segments {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			segments[i] = "not-an-order-id"
		}
	}
	req := httptest.NewRequest(rt.method, strings.Join(segments, "/")+"?limit=0", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// TestScopeMatrix walks the route table: for every route that needs a
// scope, a request without a token is 401, a token with every scope but the
// route's is 403 naming the route's scope, and a token with exactly that
// scope gets past the scope check; a public route needs no token.
func TestScopeMatrix(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	h, err := New(fullConfig(), idp.NewVerifier(t), nil, authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	table := routes(fullConfig(), nil, authtest.Discard(), nil)
	all := scopesOf(table)
	if len(all) < 2 {
		t.Fatalf("the table asks for scopes %v; want at least two", all)
	}
	serve := func(rt route, scope *string) *httptest.ResponseRecorder {
		token := ""
		if scope != nil {
			token = idp.Token(t, authtest.Claims{Subject: "alice", Scope: *scope})
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, requestFor(rt, token))
		return rec
	}
	for _, rt := range table {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			t.Parallel()
			if rt.scope == public {
				if got := serve(rt, nil).Code; got == http.StatusUnauthorized || got == http.StatusForbidden {
					t.Errorf("without a token: %d; want a public route", got)
				}
				return
			}
			if got := serve(rt, nil).Code; got != http.StatusUnauthorized {
				t.Errorf("without a token: %d; want 401", got)
			}
			var others []string
			for _, s := range all {
				if s != rt.scope {
					others = append(others, string(s))
				}
			}
			for _, scope := range []string{"", strings.Join(others, " ")} {
				rec := serve(rt, &scope)
				want := `error="insufficient_scope", scope="` + string(rt.scope) + `"`
				if rec.Code != http.StatusForbidden || !strings.Contains(rec.Header().Get("WWW-Authenticate"), want) {
					t.Errorf("with scope %q: %d, WWW-Authenticate %q; want 403 naming %s", scope, rec.Code, rec.Header().Get("WWW-Authenticate"), rt.scope)
				}
			}
			exact := string(rt.scope)
			if got := serve(rt, &exact).Code; got == http.StatusUnauthorized || got == http.StatusForbidden {
				t.Errorf("with scope %q: %d; want the scope check passed", exact, got)
			}
		})
	}
}

// TestRouteWithoutScopeIsRefused checks that a route whose scope was left
// out stops the engine from starting, rather than being public.
func TestRouteWithoutScopeIsRefused(t *testing.T) {
	t.Parallel()
	table := []route{{method: http.MethodGet, path: "/orders", handle: func(*gin.Context) error { return nil }}}
	err := addRoutes(gin.New(), table, authtest.NewIdP(t).NewVerifier(t), func(*gin.Context, error) {}, &limiting{})
	if err == nil || !strings.Contains(err.Error(), "GET /orders has no scope") {
		t.Errorf("addRoutes with a route without scope = %v; want an error naming it", err)
	}
}
