package models

import (
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

// Error lists the problems sorted by field, so the text is stable.
func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for _, f := range slices.Sorted(maps.Keys(e.Fields)) {
		parts = append(parts, fmt.Sprintf("%s: %s", f, e.Fields[f]))
	}
	return strings.Join(parts, "; ")
}
