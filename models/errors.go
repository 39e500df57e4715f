package models

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Errors of the domain. Callers test for them with errors.Is.
var (
	// ErrNotFound means the order does not exist or belongs to someone else;
	// the two are indistinguishable by design.
	ErrNotFound = errors.New("order not found")
	// ErrConflict means the order's status does not allow the change.
	ErrConflict = errors.New("order status does not allow this change")
	// ErrStale means the order no longer has the version that the change
	// required: someone changed it since the caller read it. Nothing was
	// changed.
	ErrStale = errors.New("order has changed since the required version")
	// ErrUnavailable means the store cannot answer for now: the database is
	// unreachable or restarting, a statement ran past its time limit, or no
	// connection was free in time. The same request may succeed when retried
	// later. A change was not made, unless the connection failed while its
	// commit was under way, when the database alone knows.
	ErrUnavailable = errors.New("database unavailable")
)

// ValidationError lists what is wrong with input, by field. Field names are
// those of the API's representation, for example "order[0].size".
type ValidationError struct {
	Fields map[string]string
}

// Invalid returns a *ValidationError for one field.
func Invalid(field, problem string) *ValidationError {
	return &ValidationError{Fields: map[string]string{field: problem}}
}

// Add records a problem with field.
func (e *ValidationError) Add(field, problem string) {
	if e.Fields == nil {
		e.Fields = make(map[string]string)
	}
	e.Fields[field] = problem
}

// Err returns e if it holds any problem, and nil otherwise.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// Names returns the names of the invalid fields in a reader's order: sorted,
// with a run of digits compared as a number, so order[2] comes before
// order[10].
func (e *ValidationError) Names() []string {
	return slices.SortedFunc(maps.Keys(e.Fields), compareFields)
}

// Error lists the problems in the order of Names, so the text is stable.
func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range e.Names() {
		parts = append(parts, fmt.Sprintf("%s: %s", f, e.Fields[f]))
	}
	return strings.Join(parts, "; ")
}

// compareFields orders field names as Names says.
func compareFields(a, b string) int {
	x, y := a, b
	for x != "" && y != "" {
		nx, ny := leadingDigits(x), leadingDigits(y)
		if nx > 0 && ny > 0 {
			dx, dy := strings.TrimLeft(x[:nx], "0"), strings.TrimLeft(y[:ny], "0")
			if c := cmp.Or(cmp.Compare(len(dx), len(dy)), strings.Compare(dx, dy)); c != 0 {
				return c
			}
			x, y = x[nx:], y[ny:]
			continue
		}
		if x[0] != y[0] {
			return cmp.Compare(x[0], y[0])
		}
		x, y = x[1:], y[1:]
	}
	return cmp.Or(cmp.Compare(len(x), len(y)), strings.Compare(a, b))
}

// leadingDigits is how many ASCII digits s starts with.
func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
