package tests

import (
	"net/http"
	"testing"

	"github.com/coffeemesh/orders/repository/repotest"
)

// TestConditionalRequests checks ETag and If-Match (RFC 9110, section 13)
// on every change of an order: the ETag changes with each change, a stale
// or weak one is 412 and changes nothing, and "*" matches any version.
func TestConditionalRequests(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.token(t, "alice", rw)
		created := e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: `{"order":[{"product":"latte","size":"big"}]}`})
		created.wantStatus(t, http.StatusCreated)
		var o order
		created.decode(t, &o)
		path := "/orders/" + o.ID
		first := created.header.Get("ETag")
		if first != `"1"` {
			t.Fatalf("ETag of a new order = %q; want a strong tag", first)
		}
		get := e.do(t, request{method: http.MethodGet, path: path, token: tok})
		if got := get.header.Get("ETag"); got != first {
			t.Errorf("GET's ETag = %q; want POST's %q", got, first)
		}
		notModified := e.do(t, request{method: http.MethodGet, path: path, token: tok, header: http.Header{"If-None-Match": {`W/` + first}}})
		if notModified.status != http.StatusNotModified || len(notModified.body) != 0 || notModified.header.Get("ETag") != first {
			t.Errorf("GET with If-None-Match of the current tag = %d %q, ETag %q; want 304, no body", notModified.status, notModified.body, notModified.header.Get("ETag"))
		}

		latte := `{"order":[{"product":"latte","size":"small"}]}`
		put := e.do(t, request{method: http.MethodPut, path: path, token: tok, body: latte, header: http.Header{"If-Match": {first}}})
		put.wantStatus(t, http.StatusOK)
		second := put.header.Get("ETag")
		if second == first || second == "" {
			t.Fatalf("ETag after PUT = %q; want a new one, not %q", second, first)
		}
		if r := e.do(t, request{method: http.MethodGet, path: path, token: tok, header: http.Header{"If-None-Match": {first}}}); r.status != http.StatusOK {
			t.Errorf("GET with If-None-Match of an old tag = %d; want 200", r.status)
		}

		stale := []struct {
			name string
			req  request
		}{
			{"replace with a stale tag", request{method: http.MethodPut, path: path, body: `{"order":[{"product":"tea","size":"big"}]}`, header: http.Header{"If-Match": {first}}}},
			{"replace with a weak tag", request{method: http.MethodPut, path: path, body: `{"order":[{"product":"tea","size":"big"}]}`, header: http.Header{"If-Match": {"W/" + second}}}},
			{"replace with a tag of another kind", request{method: http.MethodPut, path: path, body: `{"order":[{"product":"tea","size":"big"}]}`, header: http.Header{"If-Match": {`"abc"`}}}},
			{"pay with a stale tag", request{method: http.MethodPost, path: path + "/pay", header: http.Header{"If-Match": {first}}}},
			{"cancel with stale tags", request{method: http.MethodPost, path: path + "/cancel", header: http.Header{"If-Match": {first + `, "9"`}}}},
			{"delete with a stale tag", request{method: http.MethodDelete, path: path, header: http.Header{"If-Match": {first}}}},
		}
		for _, tt := range stale {
			t.Run(tt.name, func(t *testing.T) {
				tt.req.token = tok
				e.do(t, tt.req).wantProblem(t, http.StatusPreconditionFailed)
				now := e.do(t, request{method: http.MethodGet, path: path, token: tok})
				var got order
				now.decode(t, &got)
				if now.header.Get("ETag") != second || got.Status != "created" || got.Order[0].Size != "small" {
					t.Errorf("after a stale change the order is %+v, ETag %s; want it unchanged", got, now.header.Get("ETag"))
				}
			})
		}

		pay := e.do(t, request{method: http.MethodPost, path: path + "/pay", token: tok, header: http.Header{"If-Match": {`"77", ` + second}}})
		pay.wantStatus(t, http.StatusOK)
		third := pay.header.Get("ETag")
		if third == second {
			t.Errorf("ETag after pay = %q; want a new one", third)
		}
		cancel := e.do(t, request{method: http.MethodPost, path: path + "/cancel", token: tok, header: http.Header{"If-Match": {"*"}}})
		cancel.wantStatus(t, http.StatusOK)
		if cancel.header.Get("ETag") == third {
			t.Errorf("ETag after cancel = %q; want a new one", third)
		}
		other := e.token(t, "bob", rw)
		e.do(t, request{method: http.MethodDelete, path: path, token: other, header: http.Header{"If-Match": {cancel.header.Get("ETag")}}}).wantProblem(t, http.StatusNotFound)
		if r := e.do(t, request{method: http.MethodDelete, path: path, token: tok, header: http.Header{"If-Match": {cancel.header.Get("ETag")}}}); r.status != http.StatusNoContent {
			t.Errorf("DELETE with the current tag = %d; want 204", r.status)
		}
	})
}

// TestIfMatchRequired checks that ORDERS_REQUIRE_IF_MATCH makes a change
// without If-Match a 428 that changes nothing, while reads and creation
// need none.
func TestIfMatchRequired(t *testing.T) {
	t.Parallel()
	e := newEnvFor(t, nil, func(c *envConfig) { c.api.RequireIfMatch = true })
	tok := e.token(t, "alice", rw)
	o := e.create(t, tok, item{"latte", "big", 1})
	path := "/orders/" + o.ID
	for _, req := range []request{
		{method: http.MethodPut, path: path, body: `{"order":[{"product":"tea","size":"big"}]}`},
		{method: http.MethodPost, path: path + "/pay"},
		{method: http.MethodPost, path: path + "/cancel"},
		{method: http.MethodDelete, path: path},
	} {
		req.token = tok
		e.do(t, req).wantProblem(t, http.StatusPreconditionRequired)
	}
	get := e.do(t, request{method: http.MethodGet, path: path, token: tok})
	get.wantStatus(t, http.StatusOK)
	if get.header.Get("ETag") != `"1"` {
		t.Errorf("after refused changes ETag = %q; want the first", get.header.Get("ETag"))
	}
	e.do(t, request{method: http.MethodPost, path: path + "/pay", token: tok, header: http.Header{"If-Match": {get.header.Get("ETag")}}}).wantStatus(t, http.StatusOK)
}
