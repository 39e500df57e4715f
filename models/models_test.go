package models_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/coffeemesh/orders/models"
)

func TestParseOrderID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"01a21256-79a5-7e5e-a8f4-430a5716ca0f", "01a21256-79a5-7e5e-a8f4-430a5716ca0f", true},
		{"01A21256-79A5-7E5E-A8F4-430A5716CA0F", "01a21256-79a5-7e5e-a8f4-430a5716ca0f", true},
		{"{01a21256-79a5-7e5e-a8f4-430a5716ca0f}", "", false},
		{"urn:uuid:01a21256-79a5-7e5e-a8f4-430a5716ca0f", "", false},
		{"01a2125679a57e5ea8f4430a5716ca0f", "", false},
		{"", "", false},
		{"1", "", false},
		{"' OR 1=1 --", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := models.ParseOrderID("order_id", tt.in)
			var verr *models.ValidationError
			switch {
			case tt.ok && (err != nil || string(got) != tt.want):
				t.Errorf("ParseOrderID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			case !tt.ok && !errors.As(err, &verr):
				t.Errorf("ParseOrderID(%q) = %q, %v; want a ValidationError", tt.in, got, err)
			}
		})
	}
}

func TestValidateItems(t *testing.T) {
	t.Parallel()
	ok := models.Item{Product: "latte", Size: models.SizeBig, Quantity: 1}
	with := func(f func(*models.Item)) []models.Item { it := ok; f(&it); return []models.Item{it} }
	tests := []struct {
		name  string
		items []models.Item
		field string // "" when valid
	}{
		{"valid", []models.Item{ok}, ""},
		{"most quantity", with(func(i *models.Item) { i.Quantity = models.MaxQuantity }), ""},
		{"unicode product", with(func(i *models.Item) { i.Product = "café crème ☕" }), ""},
		{"no items", nil, "order"},
		{"too many items", make([]models.Item, models.MaxItems+1), "order"},
		{"empty product", with(func(i *models.Item) { i.Product = "" }), "order[0].product"},
		{"long product", with(func(i *models.Item) { i.Product = strings.Repeat("é", models.MaxProductLength+1) }), "order[0].product"},
		{"control character", with(func(i *models.Item) { i.Product = "lat\nte" }), "order[0].product"},
		{"invalid UTF-8", with(func(i *models.Item) { i.Product = "\xff" }), "order[0].product"},
		{"unknown size", with(func(i *models.Item) { i.Size = "venti" }), "order[0].size"},
		{"zero quantity", with(func(i *models.Item) { i.Quantity = 0 }), "order[0].quantity"},
		{"too much", with(func(i *models.Item) { i.Quantity = models.MaxQuantity + 1 }), "order[0].quantity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := models.ValidateItems("order", tt.items)
			if tt.field == "" {
				if err != nil {
					t.Errorf("ValidateItems = %v; want nil", err)
				}
				return
			}
			var verr *models.ValidationError
			if !errors.As(err, &verr) || verr.Fields[tt.field] == "" || len(verr.Fields) != 1 {
				t.Errorf("ValidateItems = %v; want a problem with %s alone", err, tt.field)
			}
		})
	}
}

func TestTransitions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		t    models.Transition
		from models.Status
		want bool
	}{
		{"pay created", models.Pay(), models.StatusCreated, true},
		{"pay paid", models.Pay(), models.StatusPaid, false},
		{"pay cancelled", models.Pay(), models.StatusCancelled, false},
		{"cancel created", models.Cancel(), models.StatusCreated, true},
		{"cancel paid", models.Cancel(), models.StatusPaid, true},
		{"cancel cancelled", models.Cancel(), models.StatusCancelled, false},
	}
	for _, tt := range tests {
		if got := tt.t.Allows(tt.from); got != tt.want {
			t.Errorf("%s: Allows = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidationErrorIsStable(t *testing.T) {
	t.Parallel()
	e := &models.ValidationError{}
	e.Add("b", "second")
	e.Add("a", "first")
	if got, want := e.Error(), "a: first; b: second"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
	if (&models.ValidationError{}).Err() != nil {
		t.Error("an empty ValidationError is an error")
	}
}

func TestValidationErrorNames(t *testing.T) {
	t.Parallel()
	want := []string{
		"order",
		"order[0].product",
		"order[0].size",
		"order[01]",
		"order[1]",
		"order[2].size",
		"order[9].quantity",
		"order[10].product",
		"order[011].size",
		"order[100].size",
		"query",
	}
	var verr models.ValidationError
	for _, f := range want {
		verr.Add(f, "is wrong")
	}
	if got := verr.Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %q; want %q", got, want)
	}
	if got, prefix := verr.Error(), "order: is wrong; order[0].product: is wrong; order[0].size: is wrong; order[01]: is wrong; order[1]: is wrong; order[2].size"; !strings.HasPrefix(got, prefix) {
		t.Errorf("Error() = %q; want it in the order of Names", got)
	}
}
