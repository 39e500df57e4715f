package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
)

type spec struct {
	OpenAPI string              `yaml:"openapi"`
	Paths   map[string]pathItem `yaml:"paths"`
}

type pathItem struct {
	Get, Put, Post, Delete, Patch, Head, Options *operation
}

// operations returns the path's operations by method.
func (p pathItem) operations() map[string]*operation {
	all := map[string]*operation{"GET": p.Get, "PUT": p.Put, "POST": p.Post, "DELETE": p.Delete, "PATCH": p.Patch, "HEAD": p.Head, "OPTIONS": p.Options}
	for m, op := range all {
		if op == nil {
			delete(all, m)
		}
	}
	return all
}

type operation struct {
	OperationID string                `yaml:"operationId"`
	Security    []map[string][]string `yaml:"security"`
	Responses   map[string]any        `yaml:"responses"`
}

func loadSpec(t *testing.T) spec {
	t.Helper()
	b, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var s spec
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// openAPIPath writes a gin path as openapi.yaml does: /orders/{order_id}.
func openAPIPath(path string) string {
	segments := strings.Split(path, "/")
	for i, s := range segments {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segments[i] = "{" + name + "}"
		}
	}
	return strings.Join(segments, "/")
}

// TestContractMatchesRoutes checks that openapi.yaml documents exactly the
// routes of the route table, each with the scope the table gives it, and
// the reverse. HEAD is served for every GET (headAsGet), and the contract
// documents it for every GET, with its GET's security.
func TestContractMatchesRoutes(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	if !strings.HasPrefix(s.OpenAPI, "3.1") {
		t.Errorf("openapi = %q; want 3.1", s.OpenAPI)
	}
	documented := map[string]operation{}
	for path, ops := range s.Paths {
		for method, op := range ops.operations() {
			documented[method+" "+path] = *op
		}
	}
	table := map[string]route{}
	for _, rt := range routes(fullConfig(), nil, authtest.Discard(), nil) {
		if rt.path == "/docs/*file" {
			continue // the documentation page's assets
		}
		table[rt.method+" "+openAPIPath(rt.path)] = rt
		if rt.method == http.MethodGet {
			head := rt
			head.method = http.MethodHead
			table[head.method+" "+openAPIPath(rt.path)] = head
		}
	}
	for key, rt := range table {
		op, ok := documented[key]
		if !ok {
			t.Errorf("%s: in the route table, not in openapi.yaml", key)
			continue
		}
		checkOperation(t, rt, openAPIPath(rt.path), op)
	}
	for key := range documented {
		if _, ok := table[key]; !ok {
			t.Errorf("%s: in openapi.yaml, not in the route table", key)
		}
	}
}

// checkOperation checks that an operation asks for the scope of its route,
// and documents the error responses the route can give.
func checkOperation(t *testing.T, rt route, path string, op operation) {
	t.Helper()
	if rt.scope == public {
		if len(op.Security) != 0 {
			t.Errorf("%s %s: security %v; want none, as the route is public", rt.method, path, op.Security)
		}
		return
	}
	for _, req := range op.Security {
		for scheme, scopes := range req {
			if !slices.Equal(scopes, []string{string(rt.scope)}) {
				t.Errorf("%s %s: %s scopes %v; want [%s], as in the route table", rt.method, path, scheme, scopes, rt.scope)
			}
		}
	}
	if len(op.Security) == 0 {
		t.Errorf("%s %s: no security requirement; the route needs %s", rt.method, path, rt.scope)
	}
	if rt.method == http.MethodHead {
		return // a HEAD answer has no body to document
	}
	codes := []string{"400", "401", "403", "422", "503"}
	if strings.Contains(path, "{order_id}") {
		codes = append(codes, "404")
	}
	if rt.method == http.MethodPost && path == "/orders" || rt.method == http.MethodPut {
		codes = append(codes, "413", "415")
	}
	if rt.method == http.MethodPut || strings.HasSuffix(path, "/pay") || strings.HasSuffix(path, "/cancel") {
		codes = append(codes, "409")
	}
	for _, c := range codes {
		if _, ok := op.Responses[c]; !ok {
			t.Errorf("%s %s: response %s is not documented", rt.method, path, c)
		}
	}
}

// TestContractKeepsTheBooksOperations checks that every operation of the
// book's Orders API is still there, under its operationId.
func TestContractKeepsTheBooksOperations(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	want := map[string]string{
		"GET /orders": "getOrders", "POST /orders": "createOrder",
		"GET /orders/{order_id}": "getOrder", "PUT /orders/{order_id}": "updateOrder",
		"DELETE /orders/{order_id}": "deleteOrder", "POST /orders/{order_id}/pay": "payOrder",
		"POST /orders/{order_id}/cancel": "cancelOrder",
	}
	for route, id := range want {
		method, path, _ := strings.Cut(route, " ")
		op := s.Paths[path].operations()[method]
		if op == nil || op.OperationID != id {
			t.Errorf("%s: operation %+v; want operationId %q", route, op, id)
		}
	}
}

// TestNoCORSByDefault checks that without configured origins a preflight
// gets no CORS headers, and that unusable origins are refused at start.
func TestNoCORSByDefault(t *testing.T) {
	t.Parallel()
	v, err := auth.NewVerifier(authtest.NewIdP(t).Config(), authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{}, v, nil, authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodOptions, "/orders", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "" || rec.Code < 400 {
		t.Errorf("preflight without configured origins: %d, Allow-Origin %q", rec.Code, got)
	}
	for _, o := range []string{"https://*.example.com", "https://App.Example.com", "https://a.example.com?", "https://a.example.com/", "app.example.com", "*,https://a.example.com"} {
		if err := (Config{CORSOrigins: strings.Split(o, ",")}).Validate(); err == nil {
			t.Errorf("origin %q accepted", o)
		}
	}
}

// TestDocsAskForTheIssuersScopeNames: with renamed scopes, the page and the
// served contract ask for the issuer's names.
func TestDocsAskForTheIssuersScopeNames(t *testing.T) {
	t.Parallel()
	d := Docs{OpenAPI: []byte("openapi: 3.1.0\ncomponents:\n  securitySchemes:\n    oauth2:\n      type: oauth2\n      flows: {}\n"),
		Scopes: map[string]string{"Orders.Read": "grants orders:read", "Orders.Write": "grants orders:write"},
		OAuth: func(context.Context) (string, string, error) {
			return "https://i.example.com/a", "https://i.example.com/t", nil
		}}
	b, err := contractJSON(t.Context(), d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"Orders.Write":"grants orders:write"`) || strings.Contains(string(b), `"orders:read"`+":") {
		t.Errorf("contract scopes: %s", b)
	}
	var page strings.Builder
	if err := docsPage.Execute(&page, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), `["Orders.Read","Orders.Write"]`) {
		t.Errorf("the page does not ask for the issuer's names:\n%s", page.String())
	}
}

// TestDocsPageHidesClientSecret: the page is a public client, so its
// Authorize dialog must not ask for a client secret in the authorization
// code flow (tests/browser checks the rendered dialog).
func TestDocsPageHidesClientSecret(t *testing.T) {
	t.Parallel()
	var page strings.Builder
	if err := docsPage.Execute(&page, Docs{ClientID: "orders-docs"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`label[for="client_secret_authorizationCode"]) { display: none; }`, `usePkceWithAuthorizationCodeGrant: true`} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}
