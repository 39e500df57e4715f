package tests

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/repository/repotest"
)

// TestForbiddenNamesTheIssuersScope: a 403 names the missing scope as the
// token's issuer spells it, in the challenge and in the detail, since that
// is what the client must ask its provider for; the same for a scope read
// from a claim of groups.
func TestForbiddenNamesTheIssuersScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		trust  func(iss *auth.Issuer)
		claims map[string]any
		want   string
	}{
		{"API's own names", func(*auth.Issuer) {}, map[string]any{"scope": "orders:read"}, "orders:write"},
		{"issuer's names", func(iss *auth.Issuer) {
			iss.ScopeNames = map[string][]auth.Scope{"Orders.Read": {"orders:read"}, "Orders.Write": {"orders:write"}}
		}, map[string]any{"scope": "Orders.Read"}, "Orders.Write"},
		{"a name granting the scope alone before one granting more", func(iss *auth.Issuer) {
			iss.ScopeNames = map[string][]auth.Scope{"Orders.Admin": {"orders:read", "orders:write"}, "Orders.Read": {"orders:read"}, "Orders.Write": {"orders:write"}}
		}, map[string]any{"scope": "Orders.Read"}, "Orders.Write"},
		{"groups mapped to scopes", func(iss *auth.Issuer) {
			iss.ScopeClaims = []string{"groups"}
			iss.ScopeNames = map[string][]auth.Scope{"baristas": {"orders:read"}, "orders-writers": {"orders:write"}}
		}, map[string]any{"groups": []string{"baristas"}}, "orders-writers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := authtest.NewIdP(t)
			e := newEnvFor(t, idp, func(c *envConfig) {
				iss := idp.Trust()
				tt.trust(&iss)
				c.auth.Issuers = []auth.Issuer{iss}
			})
			tok := idp.Token(t, authtest.Claims{Subject: "alice", Extra: tt.claims})
			e.do(t, request{method: http.MethodGet, path: "/orders", token: tok}).wantStatus(t, http.StatusOK)
			r := e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: `{"order":[{"product":"latte","size":"big"}]}`})
			p := r.wantProblem(t, http.StatusForbidden)
			challenge := r.header.Get("WWW-Authenticate")
			if !strings.Contains(challenge, `scope="`+tt.want+`"`) || !strings.Contains(challenge, `error_description="the token lacks the scope `+tt.want+`"`) {
				t.Errorf("challenge %s; want scope=%q named in it and its description", challenge, tt.want)
			}
			if p.Detail != "the token lacks the scope "+tt.want {
				t.Errorf("detail %q; want it to name %s", p.Detail, tt.want)
			}
		})
	}
}

// TestRefusalsAreLoggedWithTheirReason: every refused authentication or
// authorization is logged at info level with its reason code, the same
// code the metrics count; the env's log check (checkLog) fails the test if
// any token it sent is in the log.
func TestRefusalsAreLoggedWithTheirReason(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, repotest.SQLite(t))
	expired := e.idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw, Extra: map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}})
	readOnly := e.token(t, "alice", "orders:read")
	for _, tt := range []struct {
		req    request
		status int
		reason string
	}{
		{request{method: http.MethodGet, path: "/orders"}, http.StatusUnauthorized, "missing"},
		{request{method: http.MethodGet, path: "/orders", token: expired}, http.StatusUnauthorized, "expired"},
		{request{method: http.MethodGet, path: "/orders", token: "a.b"}, http.StatusUnauthorized, "not_jws"},
		{request{method: http.MethodDelete, path: "/orders/01a212ca-1f9e-7845-9d34-85af37bf4303", token: readOnly}, http.StatusForbidden, "insufficient_scope"},
	} {
		e.do(t, tt.req).wantProblem(t, tt.status)
		found := false
		for _, line := range strings.Split(e.log.String(), "\n") {
			found = found || strings.Contains(line, `"level":"INFO","msg":"request refused"`) &&
				strings.Contains(line, fmt.Sprintf(`"status":%d`, tt.status)) && strings.Contains(line, `"reason":"`+tt.reason+`"`)
		}
		if !found {
			t.Errorf("no info line for the %d refusal with reason %s", tt.status, tt.reason)
		}
	}
}
