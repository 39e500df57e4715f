package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"

	"github.com/coffeemesh/orders/models"
)

func decodeBody(body string) ([]models.Item, error) {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
	c.Request.Header.Set("Content-Type", "application/json")
	return decodeItems(c)
}

func FuzzDecodeItems(f *testing.F) {
	for _, s := range []string{
		`{"order":[{"product":"latte","size":"big"}]}`,
		`{"order":[{"product":"latte","size":"big","quantity":3}]}`,
		`{"order":[]}`, `{}`, `[]`, `{"order":[{"product":"a","size":"small","quantity":1e3}]}`, `{"order":null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		items, err := decodeBody(body)
		if err != nil {
			if statusOf(err) >= 500 {
				t.Fatalf("decode(%q) = %v, a server error", body, err)
			}
			return
		}
		if verr := models.ValidateItems("order", items); verr != nil {
			t.Fatalf("decode(%q) accepted items that do not validate: %v", body, verr)
		}
	})
}

// TestDecodeListsEveryProblem checks that a 422 names every problem of a
// body, unknown members beside invalid values, and that what is wrong with
// a member's shape is what is said of it.
func TestDecodeListsEveryProblem(t *testing.T) {
	t.Parallel()
	tooMany := strings.TrimSuffix(strings.Repeat(`{"product":"a","size":"big"},`, models.MaxItems+1), ",")
	tests := []struct {
		name string
		body string
		want map[string]string
	}{
		{"unknown item member and a bad size", `{"order":[{"product":"latte","size":"huge","quantity":1,"extra":1}]}`, map[string]string{
			"order[0].extra": "is not a known field", "order[0].size": "must be one of small, medium, big"}},
		{"unknown top-level member and a bad item", `{"order":[{"product":"latte","size":"huge"}],"owner":"bob"}`, map[string]string{
			"owner": "is not a known field", "order[0].size": "must be one of small, medium, big"}},
		{"member name in another case", `{"ORDER":[{"product":"latte","size":"big"}]}`, map[string]string{
			"ORDER": "is not a known field", "order": "is required"}},
		{"item member name in another case and a fraction", `{"order":[{"Product":"latte","size":"big","quantity":1.5}]}`, map[string]string{
			"order[0].Product": "is not a known field", "order[0].product": "is required", "order[0].quantity": "must be an integer between 1 and 1000000"}},
		{"a mistyped member and a second bad item", `{"order":[{"product":7,"size":"big"},{"product":"tea","size":"xl","price":1}]}`, map[string]string{
			"order[0].product": "must not be a number", "order[1].size": "must be one of small, medium, big", "order[1].price": "is not a known field"}},
		{"an item not an object beside a bad one", `{"order":["latte",{"product":"","size":null}]}`, map[string]string{
			"order[0]": "must not be a string", "order[1].product": "must not be empty", "order[1].size": "is required"}},
		{"too many items and an unknown member", `{"order":[` + tooMany + `],"extra":1}`, map[string]string{
			"order": "must hold at most 100 items", "extra": "is not a known field"}},
		{"order of the wrong type and an unknown member", `{"order":{},"x":[]}`, map[string]string{
			"order": "must not be an object", "x": "is not a known field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeBody(tt.body)
			var verr *models.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("decode = %v; want a *models.ValidationError", err)
			}
			if diff := cmp.Diff(tt.want, verr.Fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeBoundsUnknownMembers checks that an object of many unknown
// members has the first maxFieldErrors named and the rest counted, and that
// they hide no other problem.
func TestDecodeBoundsUnknownMembers(t *testing.T) {
	t.Parallel()
	members := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(`,"m` + strconv.Itoa(i) + `":0`)
		}
		return b.String()
	}
	named := func(at string, n int) map[string]string {
		want := map[string]string{}
		for i := range n {
			want[at+"m"+strconv.Itoa(i)] = "is not a known field"
		}
		return want
	}
	top := named("", maxFieldErrors)
	top["…"] = "stands for 5 more members that are not known fields"
	top["order[0].size"] = "must be one of small, medium, big"
	item := named("order[0].", maxFieldErrors)
	item["order[0].…"] = "stands for 1 more members that are not known fields"
	item["order[0].product"] = "must not be empty"
	for _, tt := range []struct {
		name string
		body string
		want map[string]string
	}{
		{"in the body", `{"order":[{"product":"latte","size":"xl"}]` + members(maxFieldErrors+5) + `}`, top},
		{"in an item", `{"order":[{"product":"","size":"big"` + members(maxFieldErrors+1) + `}]}`, item},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeBody(tt.body)
			var verr *models.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("decode = %v; want a *models.ValidationError", err)
			}
			if diff := cmp.Diff(tt.want, verr.Fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeDefaultsQuantity(t *testing.T) {
	t.Parallel()
	items, err := decodeBody(`{"order":[{"product":"latte","size":"big"},{"quantity":4,"size":"small","product":"tea"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []models.Item{{Product: "latte", Size: "big", Quantity: 1}, {Product: "tea", Size: "small", Quantity: 4}}
	if diff := cmp.Diff(want, items); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
}

func TestParseListQuery(t *testing.T) {
	t.Parallel()
	cur := models.Cursor{Created: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), ID: "01a21256-79a5-7e5e-a8f4-430a5716ca0f"}
	// An order migrated from before 1970 may end a page.
	old := models.Cursor{Created: time.Date(1969, 12, 31, 23, 59, 59, 999000, time.UTC), ID: cur.ID}
	yes := true
	tests := []struct {
		query string
		want  models.ListQuery
		field string
	}{
		{"", models.ListQuery{Limit: 50}, ""},
		{"limit=1&cancelled=true", models.ListQuery{Limit: 1, Cancelled: &yes}, ""},
		{"limit=100&cursor=" + string(appendCursor(nil, cur)), models.ListQuery{Limit: 100, After: &cur}, ""},
		{"cursor=" + string(appendCursor(nil, old)), models.ListQuery{Limit: 50, After: &old}, ""},
		{"unknown=1&access_token=x", models.ListQuery{Limit: 50}, ""},
		{"limit=101", models.ListQuery{}, "limit"},
		{"limit=0x10", models.ListQuery{}, "limit"},
		{"cancelled=", models.ListQuery{}, "cancelled"},
		{"cancelled=true&cancelled=false", models.ListQuery{}, "cancelled"},
		{"cursor=", models.ListQuery{}, "cursor"},
		{"cursor=MTIz", models.ListQuery{}, "cursor"},
		{"cancelled=%", models.ListQuery{}, "query"},
		{"limit=%zz", models.ListQuery{}, "query"},
		{"limit=5;cancelled=true", models.ListQuery{}, "query"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, err := parseListQuery(tt.query)
			if tt.field != "" {
				var verr *models.ValidationError
				if !errors.As(err, &verr) || verr.Fields[tt.field] == "" {
					t.Errorf("parseListQuery(%q) = %v; want a problem with %s", tt.query, err, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzCursor(f *testing.F) {
	f.Add(string(appendCursor(nil, models.Cursor{Created: time.Unix(1700000000, 123000).UTC(), ID: "01a21256-79a5-7e5e-a8f4-430a5716ca0f"})))
	f.Add("")
	f.Add("LTEuMDFhMjEyNTYtNzlhNS03ZTVlLWE4ZjQtNDMwYTU3MTZjYTBm")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		back, err := decodeCursor(string(appendCursor(nil, *c)))
		if err != nil || !back.Created.Equal(c.Created) || back.ID != c.ID {
			t.Fatalf("cursor %q does not survive a round trip: %+v, %v", s, back, err)
		}
	})
}

// orderJSON is the order representation of openapi.yaml, decoded strictly.
type orderJSON struct {
	ID      string     `json:"id"`
	Created string     `json:"created"`
	Status  string     `json:"status"`
	Order   []itemJSON `json:"order"`
}

type itemJSON struct {
	Product  string `json:"product"`
	Size     string `json:"size"`
	Quantity int64  `json:"quantity"`
}

func toJSON(o models.Order) orderJSON {
	j := orderJSON{ID: string(o.ID), Created: o.Created.UTC().Format(createdFormat), Status: string(o.Status), Order: []itemJSON{}}
	for _, it := range o.Items {
		j.Order = append(j.Order, itemJSON{Product: it.Product, Size: string(it.Size), Quantity: it.Quantity})
	}
	return j
}

// TestOrderJSON checks that the hand-appended representation is, byte for
// byte, what JSON v2 makes of the same order, for strings that need
// escaping too.
func TestOrderJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 12, 59, 48, 123456000, time.UTC)
	orders := []models.Order{
		{ID: "01a212ca-1f9e-7845-9d34-85af37bf4303", Created: at, Status: models.StatusCreated,
			Items: []models.Item{{Product: "latte", Size: models.SizeBig, Quantity: 2}}},
		{ID: "x", Created: at.Truncate(time.Second).In(time.FixedZone("CET", 3600)), Status: models.StatusPaid, Items: []models.Item{
			{Product: `"quoted" \\ back/slash`, Size: models.SizeSmall, Quantity: 1},
			{Product: "café ☕ </script> \u2028\u2029 \x7f", Size: models.SizeMedium, Quantity: 1000},
			{Product: "tab\there\nnew line", Size: models.SizeBig, Quantity: -1},
		}},
		{ID: "", Created: time.Unix(0, 0), Status: models.StatusCancelled, Items: nil},
	}
	for _, o := range orders {
		want, err := json.Marshal(toJSON(o))
		if err != nil {
			t.Fatal(err)
		}
		if got := appendOrder(nil, o); string(got) != string(want) {
			t.Errorf("appendOrder(%+v)\n got %s\nwant %s", o, got, want)
		}
	}
	want, err := json.Marshal(struct {
		Orders []orderJSON `json:"orders"`
	}{Orders: []orderJSON{toJSON(orders[0]), toJSON(orders[1])}})
	if err != nil {
		t.Fatal(err)
	}
	if got := appendOrderList(nil, orders[:2]); string(got) != string(want) {
		t.Errorf("appendOrderList\n got %s\nwant %s", got, want)
	}
	if got := appendOrderList(nil, nil); string(got) != `{"orders":[]}` {
		t.Errorf("appendOrderList(nil) = %s", got)
	}
}

// FuzzOrderJSON checks that any order, whatever its strings, comes out as
// one valid JSON object that decodes strictly to the order.
func FuzzOrderJSON(f *testing.F) {
	f.Add("01a212ca-1f9e-7845-9d34-85af37bf4303", int64(1764075588123456), "created", "latte", "big", int64(2))
	f.Add(`"\`, int64(-1), "</script>", "\u2028\xff", "\x00", int64(-9223372036854775808))
	f.Fuzz(func(t *testing.T, id string, micros int64, status, product, size string, quantity int64) {
		o := models.Order{ID: models.OrderID(id), Created: time.UnixMicro(micros), Status: models.Status(status),
			Items: []models.Item{{Product: product, Size: models.Size(size), Quantity: quantity}, {Product: size}}}
		b := appendOrder(nil, o)
		var got orderJSON
		if err := json.Unmarshal(b, &got, json.RejectUnknownMembers(true)); err != nil {
			t.Fatalf("appendOrder wrote %s: %v", b, err)
		}
		want := toJSON(o)
		if !utf8.ValidString(id) || !utf8.ValidString(status) || !utf8.ValidString(product) || !utf8.ValidString(size) {
			return // invalid UTF-8 comes out as U+FFFD
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("decoded order differs (-want +got):\n%s", diff)
		}
	})
}

// TestNextLink checks the Link header against the same query written by
// url.Values, for each filter.
func TestNextLink(t *testing.T) {
	t.Parallel()
	cur := models.Cursor{Created: time.Unix(1700000000, 123000).UTC(), ID: "01a21256-79a5-7e5e-a8f4-430a5716ca0f"}
	for _, tt := range []struct {
		name      string
		cancelled *bool
	}{
		{"all", nil},
		{"cancelled", ptr(true)},
		{"not cancelled", ptr(false)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{"limit": {"7"}, "cursor": {string(appendCursor(nil, cur))}}
			if tt.cancelled != nil {
				v.Set("cancelled", strconv.FormatBool(*tt.cancelled))
			}
			want := `</orders?` + v.Encode() + `>; rel="next"`
			if got := nextLink("/orders", models.ListQuery{Limit: 7, Cancelled: tt.cancelled}, cur); got != want {
				t.Errorf("nextLink = %s; want %s", got, want)
			}
		})
	}
}

// BenchmarkDecodeItems measures reading the body of POST /orders: three
// items, as the load script sends them.
func BenchmarkDecodeItems(b *testing.B) {
	const body = `{"order":[{"product":"cappuccino","size":"big","quantity":2},{"product":"croissant","size":"small"},{"product":"latte","size":"medium"}]}`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeBody(body); err != nil {
			b.Fatal(err)
		}
	}
}
