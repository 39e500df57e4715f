package migrations

import (
	"io/fs"
	"slices"
	"testing"
	"testing/fstest"
)

// TestOverlayDialectFileHidesShared checks that a dialect's file takes the
// place of a shared file of the same name, in the listing as in Open.
func TestOverlayDialectFileHidesShared(t *testing.T) {
	t.Parallel()
	shared := fstest.MapFS{"0001_a.sql": {Data: []byte("shared")}, "0002_b.sql": {Data: []byte("shared")}}
	own := fstest.MapFS{"0002_b.sql": {Data: []byte("own")}, "0003_c.sql": {Data: []byte("own")}}
	o := overlay{shared, own}
	entries, err := fs.ReadDir(o, ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"0001_a.sql", "0002_b.sql", "0003_c.sql"}; !slices.Equal(names, want) {
		t.Errorf("ReadDir = %v; want %v", names, want)
	}
	if b, err := fs.ReadFile(o, "0002_b.sql"); err != nil || string(b) != "own" {
		t.Errorf("0002_b.sql reads %q, %v; want the dialect's", b, err)
	}
}
