package repository

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"

	"github.com/coffeemesh/orders/models"
)

// TestItemsTakeTheFastPath checks that what encodeItems writes for usual
// orders is read by scanItems, and what needs escaping is not.
func TestItemsTakeTheFastPath(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		items []models.Item
		fast  bool
	}{
		{[]models.Item{{Product: "latte", Size: models.SizeBig, Quantity: 2}}, true},
		{[]models.Item{{Product: "café ☕", Size: models.SizeSmall, Quantity: 1}, {Product: "croissant", Size: models.SizeMedium, Quantity: 100000}}, true},
		{[]models.Item{{Product: `the "house" blend`, Size: models.SizeBig, Quantity: 1}}, false},
		{[]models.Item{{Product: `back\slash`, Size: models.SizeBig, Quantity: 1}}, false},
	} {
		enc, err := encodeItems(c.items)
		if err != nil {
			t.Fatal(err)
		}
		if _, fast := scanItems(nil, enc); fast != c.fast {
			t.Errorf("scanItems(%s) took the fast path: %v; want %v", enc, fast, c.fast)
		}
		got, err := appendItems(nil, enc)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(c.items, got); diff != "" {
			t.Errorf("appendItems(%s) (-want +got):\n%s", enc, diff)
		}
	}
}

// FuzzItems checks that scanItems reads only what JSON v2 reads the same
// way, and that any items read back as written.
func FuzzItems(f *testing.F) {
	for _, s := range []string{
		`[{"product":"latte","size":"big","quantity":2}]`,
		`[{"product":"a","size":"small","quantity":1},{"product":"b","size":"medium","quantity":-0}]`,
		`[{"product":"a","size":"small","quantity":01}]`, `[{"product":"a\u0041","size":"","quantity":1}]`,
		`[{"product":"a","size":"small","quantity":1e0}]`, `[]`, `[{"product":"a","size":"small","quantity":9223372036854775808}]`,
		"[{\"product\":\"\xff\",\"size\":\"small\",\"quantity\":1}]", ` [{"product":"a","size":"small","quantity":1}]`,
	} {
		f.Add(s, "latte", int64(1))
	}
	f.Fuzz(func(t *testing.T, stored, product string, quantity int64) {
		if fast, ok := scanItems(nil, stored); ok {
			var rows []itemRow
			if err := json.Unmarshal([]byte(stored), &rows); err != nil {
				t.Fatalf("scanItems read %q, which JSON v2 refuses: %v", stored, err)
			}
			want := make([]models.Item, len(rows))
			for i, r := range rows {
				want[i] = models.Item{Product: r.Product, Size: models.Size(r.Size), Quantity: r.Quantity}
			}
			if diff := cmp.Diff(want, fast); diff != "" {
				t.Errorf("scanItems(%q) differs from JSON v2 (-v2 +scan):\n%s", stored, diff)
			}
		}
		items := []models.Item{{Product: product, Size: models.SizeBig, Quantity: quantity}, {Product: "latte", Size: models.SizeSmall, Quantity: 1}}
		enc, err := encodeItems(items)
		if err != nil {
			return // invalid UTF-8, which validation keeps out
		}
		got, err := appendItems(nil, enc)
		if err != nil {
			t.Fatalf("appendItems(%s): %v", enc, err)
		}
		if diff := cmp.Diff(items, got); diff != "" {
			t.Errorf("items read back differ (-wrote +read):\n%s", diff)
		}
	})
}

// TestParseOrderText checks how an order selected as one text is read: items
// with spaces and escapes, an order before 1970, several orders' items in
// one array, and texts that are no order's.
func TestParseOrderText(t *testing.T) {
	t.Parallel()
	const owner = models.OwnerID("https://issuer.example alice")
	first, items, err := parseOrderText(owner, `1700000000123456 7 paid 0192f1f4-6b1e-7c3a-9d2e-3f4a5b6c7d8e [{"product":"flat white","size":"big","quantity":2}]`, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, items, err := parseOrderText(owner, `-1 1 cancelled 0192f1f4-6b1e-7c3a-9d2e-3f4a5b6c7d8f [{"product":"the \"house\" blend","size":"small","quantity":1},{"product":"tea","size":"medium","quantity":3}]`, items)
	if err != nil {
		t.Fatal(err)
	}
	want := []models.Order{{
		ID: "0192f1f4-6b1e-7c3a-9d2e-3f4a5b6c7d8e", Owner: owner, Created: time.UnixMicro(1700000000123456).UTC(), Status: models.StatusPaid,
		Items: []models.Item{{Product: "flat white", Size: models.SizeBig, Quantity: 2}}, Version: 7,
	}, {
		ID: "0192f1f4-6b1e-7c3a-9d2e-3f4a5b6c7d8f", Owner: owner, Created: time.UnixMicro(-1).UTC(), Status: models.StatusCancelled,
		Items: []models.Item{{Product: `the "house" blend`, Size: models.SizeSmall, Quantity: 1}, {Product: "tea", Size: models.SizeMedium, Quantity: 3}}, Version: 1,
	}}
	if diff := cmp.Diff(want, []models.Order{first, second}); diff != "" {
		t.Errorf("orders (-want +got):\n%s", diff)
	}
	if len(items) != 3 || cap(first.Items) != 1 {
		t.Errorf("the page's items: %d, the first order's capacity %d; want 3 and 1, so that appending to one order's items cannot overwrite the next's", len(items), cap(first.Items))
	}
	for _, tt := range []struct{ name, text string }{
		{"empty", ""},
		{"no id", "1700000000123456 1 paid"},
		{"created not a number", "soon 1 paid 0192f1f4-6b1e-7c3a-9d2e-3f4a5b6c7d8e []"},
		{"no version", "1 paid 0192f1f4-6b1e-7c3a-9d2e-3f4a5b6c7d8e []"},
		{"items not an array", `1 1 paid 0192f1f4-6b1e-7c3a-9d2e-3f4a5b6c7d8e {"product":"tea"}`},
		{"id with a space", `1 1 paid 0192f1f4 6b1e [{"product":"tea","size":"big","quantity":1}]`},
		{"id ending in a space", `1 1 paid 0192f1f4  [{"product":"tea","size":"big","quantity":1}]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if o, _, err := parseOrderText(owner, tt.text, nil); err == nil {
				t.Errorf("parseOrderText(%q) = %+v; want an error", tt.text, o)
			}
		})
	}
}

// FuzzOrderText checks that an order laid out as orderText is read back as
// it was, and that an id with a space makes it unreadable rather than read
// wrong.
func FuzzOrderText(f *testing.F) {
	f.Add(int64(1700000000123456), uint8(0), "0192f1f4-6b1e-7c3a-9d2e-3f4a5b6c7d8e", "flat white", "big", int64(2))
	f.Add(int64(-1), uint8(2), "a b", `the "house" blend`, "small", int64(1))
	f.Add(int64(0), uint8(1), "x ", "tea", "medium", int64(0))
	statuses := []models.Status{models.StatusCreated, models.StatusPaid, models.StatusCancelled}
	f.Fuzz(func(t *testing.T, micros int64, status uint8, id, product, size string, quantity int64) {
		want := models.Order{
			ID: models.OrderID(id), Owner: "o", Created: time.UnixMicro(micros).UTC(), Status: statuses[int(status)%len(statuses)],
			Items: []models.Item{{Product: product, Size: models.Size(size), Quantity: quantity}}, Version: 1,
		}
		enc, err := encodeItems(want.Items)
		if err != nil {
			return // not storable: JSON v2 refuses invalid UTF-8
		}
		text := fmt.Sprintf("%d 1 %s %s %s", micros, want.Status, id, enc)
		got, _, err := parseOrderText(want.Owner, text, nil)
		if strings.Contains(id, " ") {
			if err == nil {
				t.Fatalf("parseOrderText(%q) = %+v; want an error for an id with a space", text, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("parseOrderText(%q): %v", text, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parseOrderText(%q) (-want +got):\n%s", text, diff)
		}
	})
}
