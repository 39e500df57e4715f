package api

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompareFields(t *testing.T) {
	t.Parallel()
	want := []string{
		"order",
		"order[0].product",
		"order[0].size",
		"order[2].size",
		"order[9].quantity",
		"order[10].product",
		"order[011].size",
		"order[100].size",
		"query",
	}
	got := slices.Clone(want)
	slices.Reverse(got)
	slices.SortFunc(got, compareFields)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sorted fields (-want +got):\n%s", diff)
	}
	for _, f := range want {
		if c := compareFields(f, f); c != 0 {
			t.Errorf("compareFields(%q, itself) = %d; want 0", f, c)
		}
	}
	if compareFields("order[1]", "order[01]") == 0 {
		t.Error("two different names compare equal")
	}
}
