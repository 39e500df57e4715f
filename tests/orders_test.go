package tests

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffeemesh/orders/repository/repotest"
)

// order is the book's order representation, exactly: decoding fails on any
// other member, the owner included.
type order struct {
	ID      string `json:"id"`
	Created string `json:"created"`
	Status  string `json:"status"`
	Order   []item `json:"order"`
}

type item struct {
	Product  string `json:"product"`
	Size     string `json:"size"`
	Quantity int    `json:"quantity"`
}

type orderList struct {
	Orders []order `json:"orders"`
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func (e *env) create(t *testing.T, token string, items ...item) order {
	t.Helper()
	r := e.do(t, request{method: http.MethodPost, path: "/orders", token: token, body: map[string]any{"order": items}})
	r.wantStatus(t, http.StatusCreated)
	var o order
	r.decode(t, &o)
	return o
}

func (e *env) list(t *testing.T, token, query string) (orderList, response) {
	t.Helper()
	r := e.do(t, request{method: http.MethodGet, path: "/orders" + query, token: token})
	r.wantStatus(t, http.StatusOK)
	var l orderList
	r.decode(t, &l)
	return l, r
}

func TestOrderLifecycle(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.token(t, "alice", rw)

		r := e.do(t, request{method: http.MethodPost, path: "/orders", token: tok,
			body: `{"order":[{"product":"cappuccino","size":"medium"},{"product":"croissant","size":"small","quantity":3}]}`})
		r.wantStatus(t, http.StatusCreated)
		var created order
		r.decode(t, &created)
		if !uuidPattern.MatchString(created.ID) {
			t.Errorf("id = %q; want a lowercase UUID", created.ID)
		}
		when, err := time.Parse(time.RFC3339Nano, created.Created)
		if err != nil || time.Since(when) > time.Minute || !strings.HasSuffix(created.Created, "Z") {
			t.Errorf("created = %q; want RFC 3339 UTC, about now", created.Created)
		}
		wantItems := []item{{"cappuccino", "medium", 1}, {"croissant", "small", 3}}
		if created.Status != "created" || !cmp.Equal(created.Order, wantItems) {
			t.Errorf("created = %+v; want status created with %+v", created, wantItems)
		}
		if loc := r.header.Get("Location"); loc != "/orders/"+created.ID {
			t.Errorf("Location = %q; want /orders/%s", loc, created.ID)
		}

		path := "/orders/" + created.ID
		var got order
		e.do(t, request{method: http.MethodGet, path: path, token: tok}).decode(t, &got)
		if diff := cmp.Diff(created, got); diff != "" {
			t.Errorf("GET differs from POST (-post +get):\n%s", diff)
		}

		steps := []struct {
			name   string
			req    request
			status int
			want   string // status of the order afterwards
		}{
			{"replace items while created", request{method: http.MethodPut, path: path, body: `{"order":[{"product":"latte","size":"big","quantity":2}]}`}, 200, "created"},
			{"pay", request{method: http.MethodPost, path: path + "/pay"}, 200, "paid"},
			{"pay again", request{method: http.MethodPost, path: path + "/pay"}, 409, "paid"},
			{"replace items once paid", request{method: http.MethodPut, path: path, body: `{"order":[{"product":"tea","size":"small"}]}`}, 409, "paid"},
			{"cancel paid", request{method: http.MethodPost, path: path + "/cancel"}, 200, "cancelled"},
			{"cancel again", request{method: http.MethodPost, path: path + "/cancel"}, 409, "cancelled"},
			{"pay cancelled", request{method: http.MethodPost, path: path + "/pay"}, 409, "cancelled"},
			{"replace items once cancelled", request{method: http.MethodPut, path: path, body: `{"order":[{"product":"tea","size":"small"}]}`}, 409, "cancelled"},
		}
		for _, st := range steps {
			st.req.token = tok
			r := e.do(t, st.req)
			if st.status == http.StatusOK {
				r.wantStatus(t, st.status)
			} else {
				r.wantProblem(t, st.status)
			}
			var now order
			e.do(t, request{method: http.MethodGet, path: path, token: tok}).decode(t, &now)
			if now.Status != st.want {
				t.Errorf("%s: status afterwards = %q; want %q", st.name, now.Status, st.want)
			}
			if !cmp.Equal(now.Order, []item{{"latte", "big", 2}}) {
				t.Errorf("%s: items afterwards = %+v; want the replaced latte", st.name, now.Order)
			}
		}

		e.do(t, request{method: http.MethodDelete, path: path, token: tok}).wantStatus(t, http.StatusNoContent)
		e.do(t, request{method: http.MethodGet, path: path, token: tok}).wantProblem(t, http.StatusNotFound)
		e.do(t, request{method: http.MethodDelete, path: path, token: tok}).wantProblem(t, http.StatusNotFound)
	})
}

func TestCancelCreatedOrder(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.token(t, "alice", rw)
		o := e.create(t, tok, item{"mocha", "big", 1})
		r := e.do(t, request{method: http.MethodPost, path: "/orders/" + o.ID + "/cancel", token: tok})
		r.wantStatus(t, http.StatusOK)
		var got order
		r.decode(t, &got)
		if got.Status != "cancelled" {
			t.Errorf("status = %q; want cancelled", got.Status)
		}
	})
}

// TestInvalidInputChangesNothing sends bodies that must be refused, and then
// checks that no order was created.
func TestInvalidInputChangesNothing(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.token(t, "alice", rw)
		existing := e.create(t, tok, item{"latte", "big", 1})
		long := strings.Repeat("x", 201)
		tests := []struct {
			name        string
			body        string
			contentType string
			status      int
			field       string
		}{
			{"empty object", `{}`, "", 422, "order"},
			{"no items", `{"order":[]}`, "", 422, "order"},
			{"order null", `{"order":null}`, "", 422, "order"},
			{"order a string", `{"order":"latte"}`, "", 422, "order"},
			{"body an array", `[{"product":"latte","size":"big"}]`, "", 422, "body"},
			{"no size", `{"order":[{"product":"latte"}]}`, "", 422, "order[0].size"},
			{"no product", `{"order":[{"size":"big"}]}`, "", 422, "order[0].product"},
			{"size off the menu", `{"order":[{"product":"latte","size":"huge"}]}`, "", 422, "order[0].size"},
			{"size in capitals", `{"order":[{"product":"latte","size":"BIG"}]}`, "", 422, "order[0].size"},
			{"quantity zero", `{"order":[{"product":"latte","size":"big","quantity":0}]}`, "", 422, "order[0].quantity"},
			{"quantity negative", `{"order":[{"product":"latte","size":"big","quantity":-1}]}`, "", 422, "order[0].quantity"},
			{"quantity over a million", `{"order":[{"product":"latte","size":"big","quantity":1000001}]}`, "", 422, "order[0].quantity"},
			{"quantity a fraction", `{"order":[{"product":"latte","size":"big","quantity":1.5}]}`, "", 422, "order[0].quantity"},
			{"quantity a string", `{"order":[{"product":"latte","size":"big","quantity":"2"}]}`, "", 422, "order[0].quantity"},
			{"quantity null", `{"order":[{"product":"latte","size":"big","quantity":null}]}`, "", 422, "order[0].quantity"},
			{"quantity huge", `{"order":[{"product":"latte","size":"big","quantity":1e400}]}`, "", 422, "order[0].quantity"},
			{"product empty", `{"order":[{"product":"","size":"big"}]}`, "", 422, "order[0].product"},
			{"product a number", `{"order":[{"product":7,"size":"big"}]}`, "", 422, "order[0].product"},
			{"product too long", `{"order":[{"product":"` + long + `","size":"big"}]}`, "", 422, "order[0].product"},
			{"product with a NUL", `{"order":[{"product":"lat\u0000te","size":"big"}]}`, "", 422, "order[0].product"},
			{"unknown member", `{"order":[{"product":"latte","size":"big"}],"owner":"bob"}`, "", 422, "owner"},
			{"member name in another case", `{"ORDER":[{"product":"latte","size":"big"}]}`, "", 422, "ORDER"},
			{"item member name in another case", `{"order":[{"Product":"latte","size":"big"}]}`, "", 422, "order[0].Product"},
			{"repeated member", `{"order":[{"product":"latte","size":"big"}],"order":[]}`, "", 422, "order"},
			{"repeated item member", `{"order":[{"product":"latte","size":"big","size":"small"}]}`, "", 422, "order[0].size"},
			{"invalid UTF-8", "{\"order\":[{\"product\":\"\xff\",\"size\":\"big\"}]}", "", 400, ""},
			{"merge patch", `{"order":[{"product":"latte","size":"big"}]}`, "application/merge-patch+json", 415, ""},
			{"unknown item member", `{"order":[{"product":"latte","size":"big","price":1}]}`, "", 422, "order[0].price"},
			{"second item bad", `{"order":[{"product":"latte","size":"big"},{"product":"tea","size":"xl"}]}`, "", 422, "order[1].size"},
			{"too many items", `{"order":[` + strings.TrimSuffix(strings.Repeat(`{"product":"a","size":"big"},`, 101), ",") + `]}`, "", 422, "order"},
			{"malformed JSON", `{"order":[`, "", 400, ""},
			{"two JSON values", `{"order":[{"product":"latte","size":"big"}]}{}`, "", 400, ""},
			{"empty body", ``, "", 400, ""},
			{"not JSON", `order=latte`, "application/x-www-form-urlencoded", 415, ""},
			{"no content type", `{"order":[{"product":"latte","size":"big"}]}`, "text/plain", 415, ""},
			{"over 1 MiB", `{"order":[{"product":"latte","size":"big"}],"x":"` + strings.Repeat("a", 1<<20) + `"}`, "", 413, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for _, req := range []request{
					{method: http.MethodPost, path: "/orders"},
					{method: http.MethodPut, path: "/orders/" + existing.ID},
				} {
					req.token, req.body, req.contentType = tok, tt.body, tt.contentType
					if tt.body == "" {
						req.body = []byte{}
					}
					p := e.do(t, req).wantProblem(t, tt.status)
					if tt.field != "" && !hasField(p, tt.field) {
						t.Errorf("%s: errors %+v do not name %q", req.method, p.Errors, tt.field)
					}
				}
			})
		}
		t.Run("too many valid items are refused for their number alone", func(t *testing.T) {
			body := `{"order":[` + strings.TrimSuffix(strings.Repeat(`{"product":"latte","size":"big"},`, 101), ",") + `]}`
			p := e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: body}).wantProblem(t, 422)
			if len(p.Errors) != 1 || !hasField(p, "order") {
				t.Errorf("errors = %+v; want one, about the order's length", p.Errors)
			}
		})
		l, _ := e.list(t, tok, "")
		if len(l.Orders) != 1 || !cmp.Equal(l.Orders[0], existing) {
			t.Errorf("orders after refused input = %+v; want only the untouched %+v", l.Orders, existing)
		}
	})
}

// TestEveryProblemIsListed sends bodies with an unknown member beside an
// invalid value: the 422 names each of them, on create and on replace.
func TestEveryProblemIsListed(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, repotest.SQLite(t))
	tok := e.token(t, "alice", rw)
	existing := e.create(t, tok, item{"latte", "big", 1})
	tests := []struct {
		name   string
		body   string
		fields []string
	}{
		{"unknown item member and a bad size", `{"order":[{"product":"latte","size":"huge","quantity":1,"extra":1}]}`, []string{"order[0].extra", "order[0].size"}},
		{"unknown member and a bad item", `{"order":[{"product":"latte","size":"big","quantity":0}],"owner":"bob"}`, []string{"order[0].quantity", "owner"}},
		{"member name in another case", `{"order":[{"Product":"latte","size":"xl"}]}`, []string{"order[0].Product", "order[0].product", "order[0].size"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, req := range []request{
				{method: http.MethodPost, path: "/orders"},
				{method: http.MethodPut, path: "/orders/" + existing.ID},
			} {
				req.token, req.body = tok, tt.body
				p := e.do(t, req).wantProblem(t, http.StatusUnprocessableEntity)
				var got []string
				for _, fe := range p.Errors {
					got = append(got, fe.Field)
				}
				if !slices.Equal(got, tt.fields) {
					t.Errorf("%s: fields %v; want %v", req.method, got, tt.fields)
				}
				if want := fmt.Sprintf("(and %d more invalid fields)", len(tt.fields)-1); !strings.HasSuffix(p.Detail, want) {
					t.Errorf("%s: detail %q; want it to end %q", req.method, p.Detail, want)
				}
			}
		})
	}
}

func hasField(p problem, field string) bool {
	for _, fe := range p.Errors {
		if fe.Field == field && fe.Message != "" {
			return true
		}
	}
	return false
}

func TestQuantityBounds(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.token(t, "alice", rw)
		o := e.create(t, tok, item{"latte", "big", 1000000}, item{"tea", "small", 1})
		if o.Order[0].Quantity != 1000000 || o.Order[1].Quantity != 1 {
			t.Errorf("items = %+v; want quantities 1000000 and 1", o.Order)
		}
	})
}

func TestInvalidQueryAndIDs(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.token(t, "alice", rw)
		tests := []struct {
			method, path, field string
		}{
			{"GET", "/orders?limit=0", "limit"},
			{"GET", "/orders?limit=101", "limit"},
			{"GET", "/orders?limit=-1", "limit"},
			{"GET", "/orders?limit=ten", "limit"},
			{"GET", "/orders?limit=", "limit"},
			{"GET", "/orders?limit=1&limit=2", "limit"},
			{"GET", "/orders?cancelled=yes", "cancelled"},
			{"GET", "/orders?cancelled=1", "cancelled"},
			{"GET", "/orders?cancelled=TRUE", "cancelled"},
			{"GET", "/orders?cursor=not-a-cursor", "cursor"},
			{"GET", "/orders/123", "order_id"},
			{"GET", "/orders/not-a-uuid", "order_id"},
			{"GET", "/orders/%7B01a21256-79a5-7e5e-a8f4-430a5716ca0f%7D", "order_id"},
			{"PUT", "/orders/1", "order_id"},
			{"DELETE", "/orders/1", "order_id"},
			{"POST", "/orders/1/pay", "order_id"},
			{"POST", "/orders/1/cancel", "order_id"},
		}
		for _, tt := range tests {
			t.Run(tt.method+" "+tt.path, func(t *testing.T) {
				req := request{method: tt.method, path: tt.path, token: tok}
				if tt.method == "PUT" {
					req.body = `{"order":[{"product":"latte","size":"big"}]}`
				}
				p := e.do(t, req).wantProblem(t, http.StatusUnprocessableEntity)
				if !hasField(p, tt.field) {
					t.Errorf("errors %+v do not name %q", p.Errors, tt.field)
				}
			})
		}
	})
}

func TestUppercaseIDIsTheSameOrder(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.token(t, "alice", rw)
		o := e.create(t, tok, item{"latte", "big", 1})
		e.do(t, request{method: http.MethodGet, path: "/orders/" + strings.ToUpper(o.ID), token: tok}).wantStatus(t, http.StatusOK)
	})
}

// TestPagination walks the Link headers: newest first, every order once,
// filters kept, and orders added meanwhile neither skipped nor repeated.
func TestPagination(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.token(t, "alice", rw)
		var want []string
		for i := range 7 {
			o := e.create(t, tok, item{fmt.Sprintf("drink %d", i), "small", 1})
			want = append([]string{o.ID}, want...)
		}
		e.create(t, e.token(t, "bob", rw), item{"bob's", "small", 1})

		var got []string
		next := "/orders?limit=3"
		pages := 0
		for next != "" {
			pages++
			l, r := e.list(t, tok, strings.TrimPrefix(next, "/orders"))
			for _, o := range l.Orders {
				got = append(got, o.ID)
			}
			e.create(t, tok, item{"added while paging", "big", 1})
			next = nextLink(t, r.header.Get("Link"))
		}
		if pages != 3 {
			t.Errorf("pages = %d; want 3 for 7 orders at 3 a page", pages)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("orders across pages (-want +got):\n%s", diff)
		}

		l, _ := e.list(t, tok, "")
		if len(l.Orders) != 10 {
			t.Errorf("default page holds %d orders; want all 10", len(l.Orders))
		}
		for i := 1; i < len(l.Orders); i++ {
			if l.Orders[i-1].Created < l.Orders[i].Created {
				t.Errorf("orders not newest first: %s before %s", l.Orders[i-1].Created, l.Orders[i].Created)
			}
		}
	})
}

func TestListFiltersAndKeepsFilterInLink(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.token(t, "alice", rw)
		var cancelled []string
		for i := range 3 {
			o := e.create(t, tok, item{fmt.Sprint(i), "big", 1})
			e.do(t, request{method: http.MethodPost, path: "/orders/" + o.ID + "/cancel", token: tok}).wantStatus(t, http.StatusOK)
			cancelled = append([]string{o.ID}, cancelled...)
		}
		open := e.create(t, tok, item{"open", "big", 1})

		l, r := e.list(t, tok, "?cancelled=true&limit=2")
		link := nextLink(t, r.header.Get("Link"))
		if !strings.Contains(link, "cancelled=true") || !strings.Contains(link, "limit=2") {
			t.Errorf("next link %q lost the filter or the limit", link)
		}
		l2, r2 := e.list(t, tok, strings.TrimPrefix(link, "/orders"))
		if r2.header.Get("Link") != "" {
			t.Errorf("last page has a Link header %q", r2.header.Get("Link"))
		}
		got := []string{l.Orders[0].ID, l.Orders[1].ID, l2.Orders[0].ID}
		if !cmp.Equal(got, cancelled) || len(l2.Orders) != 1 {
			t.Errorf("cancelled orders = %v; want %v", got, cancelled)
		}
		l3, _ := e.list(t, tok, "?cancelled=false")
		if len(l3.Orders) != 1 || l3.Orders[0].ID != open.ID {
			t.Errorf("cancelled=false = %+v; want only %s", l3.Orders, open.ID)
		}
	})
}

var linkPattern = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// nextLink returns the target of a Link rel="next" header, or "" for none.
func nextLink(t *testing.T, header string) string {
	t.Helper()
	if header == "" {
		return ""
	}
	m := linkPattern.FindStringSubmatch(header)
	if m == nil {
		t.Fatalf("Link = %q; want <...>; rel=\"next\"", header)
	}
	return m[1]
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		e.do(t, request{method: http.MethodGet, path: "/healthz"}).wantStatus(t, http.StatusOK)
	})
}

// TestHeadIsGetWithoutBody: every GET route answers HEAD with the status
// and headers of the GET, token checks included, and no body.
func TestHeadIsGetWithoutBody(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, repotest.SQLite(t))
	tok := e.token(t, "alice", rw)
	o := e.create(t, tok, item{"latte", "big", 1})
	for _, tt := range []struct {
		path, token string
		status      int
	}{
		{"/healthz", "", http.StatusOK},
		{"/orders", tok, http.StatusOK},
		{"/orders/" + o.ID, tok, http.StatusOK},
		{"/orders", "", http.StatusUnauthorized},
		{"/orders/" + o.ID + "/pay", tok, http.StatusMethodNotAllowed},
	} {
		get := e.do(t, request{method: http.MethodGet, path: tt.path, token: tt.token})
		head := e.do(t, request{method: http.MethodHead, path: tt.path, token: tt.token})
		if head.status != tt.status || get.status != tt.status || len(head.body) != 0 {
			t.Errorf("HEAD %s = %d with %d bytes of body, GET %d; want %d and no body", tt.path, head.status, len(head.body), get.status, tt.status)
		}
		for _, h := range []string{"Content-Type", "Content-Length", "Cache-Control", "WWW-Authenticate", "Allow"} {
			if head.header.Get(h) != get.header.Get(h) {
				t.Errorf("HEAD %s: %s = %q; the GET has %q", tt.path, h, head.header.Get(h), get.header.Get(h))
			}
		}
	}
	var after order
	e.do(t, request{method: http.MethodGet, path: "/orders/" + o.ID, token: tok}).decode(t, &after)
	if after.Status != "created" {
		t.Errorf("the order is %q after the HEAD requests; want created", after.Status)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.token(t, "alice", rw)
		e.do(t, request{method: http.MethodGet, path: "/nothing-here", token: tok}).wantProblem(t, http.StatusNotFound)
		e.do(t, request{method: http.MethodGet, path: "/orders/", token: tok}).wantProblem(t, http.StatusNotFound)
		e.do(t, request{method: http.MethodPatch, path: "/orders", token: tok}).wantProblem(t, http.StatusMethodNotAllowed)
	})
}

// TestEncodedSlashIsNoSeparator: %2F belongs to the segment it stands in,
// so it cannot reach a route a proxy would have matched differently, while
// other escapes in a path, in a fixed segment or in the order's id, still
// mean the characters they encode.
func TestEncodedSlashIsNoSeparator(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, repotest.SQLite(t))
	tok := e.token(t, "alice", rw)
	o := e.create(t, tok, item{"latte", "big", 1})
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodPost, "/orders/" + o.ID + "%2Fpay", http.StatusMethodNotAllowed},
		{http.MethodPost, "/orders/" + o.ID + "%2fcancel", http.StatusMethodNotAllowed},
		{http.MethodPost, "/orders%2F" + o.ID + "%2Fcancel", http.StatusNotFound},
		{http.MethodGet, "/orders%2F" + o.ID, http.StatusNotFound},
		{http.MethodGet, "/orders/" + o.ID + "%2F", http.StatusUnprocessableEntity},
		{http.MethodPost, "/%6Frders/" + o.ID + "%2Fpay", http.StatusNotFound},
	} {
		e.do(t, request{method: tt.method, path: tt.path, token: tok}).wantProblem(t, tt.status)
	}
	// Sent as written: Go's client would re-escape these, %2F into a slash.
	for _, target := range []string{"/orders/" + o.ID + "%2F\"x/pay", "/orders/" + o.ID + "%2Fé/pay", "/orders/" + o.ID + "%2Fpay{x"} {
		if status := rawPost(t, e.url, target, tok); status == http.StatusOK {
			t.Errorf("POST %s = %d; want no route to pay", target, status)
		}
	}
	e.do(t, request{method: http.MethodGet, path: "/heal%74hz"}).wantStatus(t, http.StatusOK)
	e.do(t, request{method: http.MethodGet, path: "/%6Frders/" + o.ID, token: tok}).wantStatus(t, http.StatusOK)
	escaped := "%" + fmt.Sprintf("%X", o.ID[0]) + o.ID[1:]
	r := e.do(t, request{method: http.MethodGet, path: "/orders/" + escaped, token: tok})
	r.wantStatus(t, http.StatusOK)
	var got order
	r.decode(t, &got)
	if got.ID != o.ID || got.Status != "created" {
		t.Errorf("the order after the encoded-slash requests = %+v; want %s, still created", got, o.ID)
	}
}

// rawPost sends POST target to the server at base exactly as written, and
// returns the status of its answer.
func rawPost(t *testing.T, base, target, token string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: orders\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", target, token); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHostileBodiesGetSmallAnswers sends bodies full of invalid items: the
// answer lists at most 20 fields, whatever the body's size.
func TestHostileBodiesGetSmallAnswers(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, repotest.SQLite(t))
	tok := e.token(t, "alice", rw)
	huge := `{"order":[` + strings.TrimSuffix(strings.Repeat("{},", (1<<20-20)/3), ",") + `]}`
	hundred := `{"order":[` + strings.TrimSuffix(strings.Repeat(`{"product":"a","size":"xl"},`, 100), ",") + `]}`
	longName := `{"order":[{"product":"a","size":"big"}],"` + strings.Repeat("n", 900<<10) + `":1}`
	var members strings.Builder
	for i := 0; members.Len() < 1<<20-100; i++ {
		fmt.Fprintf(&members, `,"%d":0`, i)
	}
	unknown := `{"order":[{"product":"a","size":"xl"}]` + members.String() + `}`
	for name, body := range map[string]string{"1 MiB of empty items": huge, "100 bad items": hundred, "a member name of 900 KB": longName, "1 MiB of unknown members": unknown} {
		r := e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: body})
		p := r.wantProblem(t, http.StatusUnprocessableEntity)
		if len(r.body) > 8<<10 || len(p.Errors) > 20 {
			t.Errorf("%s: a %d-byte answer with %d errors; want a small one", name, len(r.body), len(p.Errors))
		}
	}
}

func TestStrictInputEdges(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, repotest.SQLite(t))
	tok := e.token(t, "alice", rw)
	body := `{"order":[{"product":"latte","size":"big"}]}`
	e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: body, contentType: "application/json; charset=utf-16"}).wantProblem(t, http.StatusUnsupportedMediaType)
	e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: body, contentType: "application/json; charset=UTF-8"}).wantStatus(t, http.StatusCreated)
	e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: body, header: http.Header{"Content-Type": {"application/json", "text/plain"}}}).wantProblem(t, http.StatusUnsupportedMediaType)
	p := e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: "{\"order\":[{\"product\":\"lat\u202ete\",\"size\":\"big\"}]}"}).wantProblem(t, http.StatusUnprocessableEntity)
	if !hasField(p, "order[0].product") {
		t.Errorf("a bidi override in a product: %+v", p)
	}
	for _, q := range []string{"?cancelled=%", "?limit=%zz", "?limit=5;cancelled=true"} {
		p := e.do(t, request{method: http.MethodGet, path: "/orders" + q, token: tok}).wantProblem(t, http.StatusUnprocessableEntity)
		if !hasField(p, "query") {
			t.Errorf("%s: %+v; want the query refused", q, p)
		}
	}
	r := e.do(t, request{method: http.MethodGet, path: "/orders", token: tok})
	r.wantStatus(t, http.StatusOK)
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control on a list of orders = %q; want no-store", got)
	}
}

// TestBodiesNeverLogged sends bodies that do not parse, whose decoders'
// errors would quote them: the debug log of their refusal says where they
// broke, never what they held. (An unknown member is named, as in the 422.)
func TestBodiesNeverLogged(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, repotest.SQLite(t))
	tok := e.token(t, "alice", rw)
	for _, tt := range []struct{ name, body string }{
		{"a control character in a string", `{"order":[{"product":"secret` + "\x01" + `"}]}`},
		{"a trailing comma", `{"order":[{"product":"secret",}]}`},
		{"a lone surrogate", `{"order":[{"product":"\ud800secret"}]}`},
		{"a bad escape", `{"order":[{"product":"\uZZZZsecret"}]}`},
		{"a string for a number", `{"order":[{"product":"latte","size":"big","quantity":"secret"}]}`},
		{"a string for the items", `{"order":"secret"}`},
		{"no JSON", `secret`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: tt.body}); r.status != 400 && r.status != 422 {
				t.Errorf("status %d; want 400 or 422", r.status)
			}
		})
	}
	if strings.Contains(e.log.String(), "secret") {
		t.Errorf("the server log quotes a request body:\n%s", e.log.String())
	}
}

// TestQueryTokenNeverLogged sends a token in the query string, where gin's
// default logger would have written it down.
func TestQueryTokenNeverLogged(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, repotest.SQLite(t))
	tok := e.token(t, "alice", rw)
	e.do(t, request{method: http.MethodGet, path: "/orders?access_token=" + tok}).wantProblem(t, http.StatusUnauthorized)
	e.do(t, request{method: http.MethodGet, path: "/nowhere?access_token=" + tok}).wantProblem(t, http.StatusNotFound)
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	if strings.Contains(e.log.String(), sig) || strings.Contains(e.log.String(), "access_token") {
		t.Errorf("the log holds the query string:\n%s", e.log.String())
	}
}
