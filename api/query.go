package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coffeemesh/orders/models"
)

// parseListQuery reads GET /orders' raw query: cancelled (true or false),
// limit (1 to models.MaxPageSize) and cursor (from a Link header). Each may
// appear at most once; other parameters are ignored. A query string that does
// not parse is refused rather than read in part, which would drop a filter.
func parseListQuery(raw string) (models.ListQuery, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return models.ListQuery{}, models.Invalid("query", "is not a well-formed query string")
	}
	lq := models.ListQuery{Limit: models.DefaultPageSize}
	var verr models.ValidationError
	for name, vs := range q {
		if len(vs) > 1 && (name == "cancelled" || name == "limit" || name == "cursor") {
			verr.Add(name, "must appear at most once")
		}
	}
	if q.Has("cancelled") {
		switch q.Get("cancelled") {
		case "true":
			lq.Cancelled = ptr(true)
		case "false":
			lq.Cancelled = ptr(false)
		default:
			verr.Add("cancelled", "must be true or false")
		}
	}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > models.MaxPageSize {
			verr.Add("limit", fmt.Sprintf("must be an integer between 1 and %d", models.MaxPageSize))
		}
		lq.Limit = n
	}
	if q.Has("cursor") {
		c, err := decodeCursor(q.Get("cursor"))
		if err != nil {
			verr.Add("cursor", "is not a cursor this API issued")
		}
		lq.After = c
	}
	if err := verr.Err(); err != nil {
		return models.ListQuery{}, err
	}
	return lq, nil
}

func ptr[T any](v T) *T { return &v }

// appendCursor appends c, encoded, to b. A cursor is opaque to clients:
// base64url of "<unix microseconds>.<id>" of the last order of the page
// before.
func appendCursor(b []byte, c models.Cursor) []byte {
	var buf [64]byte
	plain := strconv.AppendInt(buf[:0], c.Created.UnixMicro(), 10)
	plain = append(append(plain, '.'), c.ID...)
	return base64.RawURLEncoding.AppendEncode(b, plain)
}

func decodeCursor(s string) (*models.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	micros, id, ok := strings.Cut(string(b), ".")
	if !ok {
		return nil, errors.New("cursor has no separator")
	}
	us, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return nil, errors.New("cursor time is invalid")
	}
	oid, err := models.ParseOrderID("cursor", id)
	if err != nil {
		return nil, err
	}
	return &models.Cursor{Created: time.UnixMicro(us).UTC(), ID: oid}, nil
}

// nextLink is the RFC 8288 Link header value that points at the page after
// this one, keeping the request's filter and limit. Its query, in the order
// url.Values.Encode would write it, needs no escaping: a boolean, base64url
// and digits.
func nextLink(path string, q models.ListQuery, next models.Cursor) string {
	b := make([]byte, 0, 160)
	b = append(append(b, '<'), path...)
	b = append(b, '?')
	if q.Cancelled != nil {
		b = strconv.AppendBool(append(b, "cancelled="...), *q.Cancelled)
		b = append(b, '&')
	}
	b = appendCursor(append(b, "cursor="...), next)
	b = strconv.AppendInt(append(b, "&limit="...), int64(q.Limit), 10)
	return string(append(b, `>; rel="next"`...))
}
