package jsonobject_test

import (
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/coffeemesh/orders/auth/internal/jsonobject"
)

// TestMembers: an object splits into its members by exact name, each value
// as written; anything else, or an object that is not I-JSON, is an error.
func TestMembers(t *testing.T) {
	t.Parallel()
	m, err := jsonobject.Members([]byte(` {"sub":"alice", "Sub" : "bob","cnf":{"jkt":"x"},"n":[1, 2]} `))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"sub": `"alice"`, "Sub": `"bob"`, "cnf": `{"jkt":"x"}`, "n": `[1, 2]`}
	if len(m) != len(want) {
		t.Errorf("members %v; want %v", m, want)
	}
	for name, v := range want {
		if string(m[name]) != v {
			t.Errorf("member %q = %s; want %s", name, m[name], v)
		}
	}

	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", ``, jsonobject.ErrNotObject},
		{"an array", `["sub"]`, jsonobject.ErrNotObject},
		{"a string", `"sub"`, jsonobject.ErrNotObject},
		{"null", `null`, jsonobject.ErrNotObject},
		{"a name twice", `{"sub":"bob","sub":"alice"}`, jsontext.ErrDuplicateName},
		{"a name twice within", `{"cnf":{"jkt":"a","jkt":"b"}}`, jsontext.ErrDuplicateName},
		{"a name twice, escaped", `{"sub":"bob","\u0073ub":"alice"}`, jsontext.ErrDuplicateName},
		{"data after", `{"sub":"alice"}{}`, jsonobject.ErrTrailing},
		{"cut short", `{"sub":"alice"`, io.ErrUnexpectedEOF},
		{"invalid UTF-8", "{\"sub\":\"\xff\"}", nil},
		{"trailing comma", `{"sub":"alice",}`, nil},
	}
	for _, tt := range tests {
		_, err := jsonobject.Members([]byte(tt.in))
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: %v; want %v", tt.name, err, tt.want)
		}
	}
}

// FuzzMembers: no input makes Members panic, and what it accepts encoding/json
// reads as the same object.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":[1,"2",null]}}`, `{"a":1,"a":2}`, `[`, "{\"\xff\":1}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := jsonobject.Members(b)
		if err != nil {
			return
		}
		var std map[string]json.RawMessage
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("Members accepted %q, which encoding/json refuses: %v", b, err)
		}
		if len(std) != len(m) {
			t.Fatalf("Members found %d members in %q, encoding/json %d", len(m), b, len(std))
		}
	})
}
