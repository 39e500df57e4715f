package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
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
	yes := true
	tests := []struct {
		query string
		want  models.ListQuery
		field string
	}{
		{"", models.ListQuery{Limit: 50}, ""},
		{"limit=1&cancelled=true", models.ListQuery{Limit: 1, Cancelled: &yes}, ""},
		{"limit=100&cursor=" + encodeCursor(cur), models.ListQuery{Limit: 100, After: &cur}, ""},
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
	f.Add(encodeCursor(models.Cursor{Created: time.Unix(1700000000, 123000).UTC(), ID: "01a21256-79a5-7e5e-a8f4-430a5716ca0f"}))
	f.Add("")
	f.Add("LTEuMDFhMjEyNTYtNzlhNS03ZTVlLWE4ZjQtNDMwYTU3MTZjYTBm")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		back, err := decodeCursor(encodeCursor(*c))
		if err != nil || !back.Created.Equal(c.Created) || back.ID != c.ID {
			t.Fatalf("cursor %q does not survive a round trip: %+v, %v", s, back, err)
		}
	})
}
