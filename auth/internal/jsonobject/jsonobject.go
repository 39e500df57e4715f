// Package jsonobject splits a JSON object into its members as strictly as
// a token's header and claims must be read: I-JSON (RFC 7493), so no name
// twice in any object, valid UTF-8, nothing after the object. It serves
// package auth (token claims) and package dpop (proof headers and claims).
// It decodes no member's value and knows no claim: what a member means is
// its caller's to decide. Its errors never quote the input, which may be a
// token.
package jsonobject

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// Errors of Members besides jsontext's: a *jsontext.SyntacticError
// (errors.Is jsontext.ErrDuplicateName for a repeated name) for invalid
// JSON within the object, io.ErrUnexpectedEOF for an object cut short.
var (
	ErrNotObject = errors.New("not a JSON object")
	ErrTrailing  = errors.New("data after the object")
)

// Members returns the members of the JSON object b by their exact names.
// JSON v2's tokenizer refuses repeated names and invalid UTF-8 by itself,
// in one pass. The members' values share b's memory; each is a valid JSON
// value.
func Members(b []byte) (map[string]json.RawMessage, error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(b))
	if t, err := dec.ReadToken(); err != nil || t.Kind() != '{' {
		return nil, ErrNotObject
	}
	members := make(map[string]json.RawMessage)
	for dec.PeekKind() != '}' {
		t, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		name := t.String()
		v, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		end := int(dec.InputOffset())
		members[name] = json.RawMessage(b[end-len(v) : end : end])
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, ErrTrailing
	}
	return members, nil
}
