package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/coffeemesh/orders/models"
)

// maxBodyBytes bounds a request body; a larger one is 413.
const maxBodyBytes = 1 << 20

// jsonContentType is the media type of every JSON answer but problems.
const jsonContentType = "application/json; charset=utf-8"

// orderRequest is the body of POST /orders and PUT /orders/{order_id}. The
// order is kept raw, and members of other names are gathered in Unknown,
// so that one pass finds every problem of the body: decoding into typed
// fields, or rejecting unknown members, stops at the first.
type orderRequest struct {
	Order   jsontext.Value `json:"order"`
	Unknown jsontext.Value `json:",embed"`
}

// itemRequest is one item as sent, each member raw, so that a missing, null
// or mistyped member is told apart from an invalid value.
type itemRequest struct {
	Product  jsontext.Value `json:"product"`
	Size     jsontext.Value `json:"size"`
	Quantity jsontext.Value `json:"quantity"`
	Unknown  jsontext.Value `json:",embed"`
}

// toModel returns the request's items if they are valid, and otherwise a
// *models.ValidationError that names every problem: unknown members,
// members of the wrong type, and values that models.ValidateItems refuses.
// A list of the wrong length is refused for its length alone, beside any
// unknown member of the body.
func (r orderRequest) toModel() ([]models.Item, error) {
	var verr models.ValidationError
	if err := addUnknown(&verr, "", r.Unknown); err != nil {
		return nil, err
	}
	var raw []jsontext.Value
	switch kind := r.Order.Kind(); {
	case r.Order == nil || kind == 'n':
		verr.Add("order", "is required")
	case kind != '[':
		verr.Add("order", "must not be "+kindName(kind))
	default:
		if err := json.Unmarshal(r.Order, &raw); err != nil {
			return nil, decodeError(err)
		}
		if err := merge(&verr, models.ValidateItemCount("order", len(raw))); err != nil {
			return nil, err
		}
	}
	if _, wrong := verr.Fields["order"]; wrong {
		return nil, verr.Err() // its items are not judged
	}
	items := make([]models.Item, len(raw))
	for i, v := range raw {
		it, err := decodeItem(&verr, i, v)
		if err != nil {
			return nil, err
		}
		items[i] = it
	}
	if err := merge(&verr, models.ValidateItems("order", items)); err != nil {
		return nil, err
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	return items, nil
}

// merge adds to verr the problems of err, a *models.ValidationError, with
// fields of which verr names neither the field nor one holding it: what verr
// says of a member's shape comes before what validation says of its value.
// Any other error is returned.
func merge(verr *models.ValidationError, err error) error {
	if err == nil {
		return nil
	}
	var invalid *models.ValidationError
	if !errors.As(err, &invalid) {
		return err
	}
	for field, problem := range invalid.Fields {
		if !names(verr, field) {
			verr.Add(field, problem)
		}
	}
	return nil
}

// names reports whether verr names field, or a field that holds it, as
// order[0] holds order[0].size.
func names(verr *models.ValidationError, field string) bool {
	for {
		if _, ok := verr.Fields[field]; ok {
			return true
		}
		i := strings.LastIndexAny(field, ".[")
		if i <= 0 {
			return false
		}
		field = field[:i]
	}
}

// itemAt is the JSON pointer to the i-th item. Field names are made only
// for problems, so that a valid body pays for none.
func itemAt(i int) jsontext.Pointer {
	return jsontext.Pointer("/order/" + strconv.Itoa(i))
}

// decodeItem returns the i-th item, which v holds, and adds what is wrong
// with its shape to verr. A missing quantity is models.DefaultQuantity. It
// fails only for v that is not JSON.
func decodeItem(verr *models.ValidationError, i int, v jsontext.Value) (models.Item, error) {
	it := models.Item{Quantity: models.DefaultQuantity}
	var req itemRequest
	if err := json.Unmarshal(v, &req); err != nil {
		verr.Add(fieldName(itemAt(i)), "must not be "+kindName(v.Kind()))
		return it, nil
	}
	if req.Unknown != nil {
		if err := addUnknown(verr, itemAt(i), req.Unknown); err != nil {
			return it, err
		}
	}
	it.Product = itemString(verr, i, "product", req.Product)
	it.Size = models.Size(itemString(verr, i, "size", req.Size))
	if req.Quantity != nil {
		if req.Quantity.Kind() != '0' || json.Unmarshal(req.Quantity, &it.Quantity) != nil {
			verr.Add(fieldName(itemAt(i).AppendToken("quantity")), fmt.Sprintf("must be an integer between %d and %d", models.MinQuantity, models.MaxQuantity))
		}
	}
	return it, nil
}

// itemString returns the string that v, the member of the i-th item, holds,
// or adds to verr why it holds none.
func itemString(verr *models.ValidationError, i int, member string, v jsontext.Value) string {
	var s string
	problem := ""
	switch kind := v.Kind(); {
	case v == nil || kind == 'n':
		problem = "is required"
	case kind != '"':
		problem = "must not be " + kindName(kind)
	case json.Unmarshal(v, &s) != nil:
		problem = "must be a string"
	}
	if problem != "" {
		verr.Add(fieldName(itemAt(i).AppendToken(member)), problem)
	}
	return s
}

// addUnknown names in verr the members of unknown, an object of the
// members of the object at the JSON pointer at that no field of the request
// has: the first maxFieldErrors of them by name, and how many more there are
// under the name "…" in the object, so that a body of many unknown members
// costs little more to answer than one.
func addUnknown(verr *models.ValidationError, at jsontext.Pointer, unknown jsontext.Value) error {
	if unknown == nil {
		return nil
	}
	// The body's decoder refused repeated names already; checking them
	// again would double the cost of a body of many members.
	dec := jsontext.NewDecoder(bytes.NewReader(unknown), jsontext.AllowDuplicateNames(true))
	if _, err := dec.ReadToken(); err != nil {
		return decodeError(err)
	}
	n := 0
	for ; dec.PeekKind() == '"'; n++ {
		name, err := dec.ReadToken()
		if err != nil {
			return decodeError(err)
		}
		if n < maxFieldErrors {
			verr.Add(fieldName(at.AppendToken(name.String())), "is not a known field")
		}
		if err := dec.SkipValue(); err != nil {
			return decodeError(err)
		}
	}
	if n > maxFieldErrors {
		verr.Add(fieldName(at.AppendToken("…")), fmt.Sprintf("stands for %d more members that are not known fields", n-maxFieldErrors))
	}
	return nil
}

// decodeItems reads the request's body as an orderRequest and returns its
// valid items. The body must be application/json, at most maxBodyBytes, and
// exactly one JSON object whose member names match exactly, each once, with
// no unknown member: encoding/json would match "ORDER" for "order" and let a
// repeated member win, so the body is decoded with the stricter JSON v2. A
// body that is JSON but not a valid order is a *models.ValidationError that
// names every problem it has.
func decodeItems(c *gin.Context) ([]models.Item, error) {
	// Two Content-Type headers are refused, not read as the first: a proxy
	// may have read the other.
	types := c.Request.Header.Values("Content-Type")
	if len(types) != 1 {
		return nil, errMediaType
	}
	mt, params, err := mime.ParseMediaType(types[0])
	if cs, ok := params["charset"]; err != nil || mt != "application/json" || (ok && !strings.EqualFold(cs, "utf-8")) {
		return nil, errMediaType
	}
	// The whole body is read first, so that any body over the limit is 413
	// whatever a decoder would have found wrong in its first bytes.
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	if err != nil {
		return nil, decodeError(err)
	}
	var req orderRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, decodeError(err)
	}
	return req.toModel()
}

// decodeError sorts a decoding error into 400, 413 or 422.
func decodeError(err error) error {
	var (
		tooLarge  *http.MaxBytesError
		semantic  *json.SemanticError
		syntactic *jsontext.SyntacticError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errBodyTooLarge
	case errors.As(err, &syntactic) && errors.Is(err, jsontext.ErrDuplicateName):
		return models.Invalid(fieldName(syntactic.JSONPointer), "must appear only once")
	case errors.As(err, &semantic) && errors.Is(err, json.ErrUnknownName):
		return models.Invalid(fieldName(semantic.JSONPointer), "is not a known field")
	case errors.As(err, &semantic) && semantic.JSONKind != 0:
		return models.Invalid(fieldName(semantic.JSONPointer), "must not be "+kindName(semantic.JSONKind))
	// The cause is logged: of a JSON error it says where the body broke,
	// never the error's text, which quotes the body.
	case errors.As(err, &syntactic):
		return fmt.Errorf("%w: at byte %d", errMalformedBody, syntactic.ByteOffset)
	case errors.As(err, &semantic):
		return fmt.Errorf("%w: at byte %d", errMalformedBody, semantic.ByteOffset)
	}
	return fmt.Errorf("%w: %w", errMalformedBody, err)
}

// maxNameBytes bounds a member name quoted in an error: an unknown member
// may have a name of nearly a megabyte, which neither the answer nor the
// log should repeat.
const maxNameBytes = 64

// fieldName turns a JSON pointer such as /order/0/size into order[0].size,
// the way fields are named in errors, each name cut to maxNameBytes.
func fieldName(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if len(tok) > maxNameBytes {
			tok = strings.ToValidUTF8(tok[:maxNameBytes], "") + "…"
		}
		switch {
		case tok != "" && strings.Trim(tok, "0123456789") == "":
			b.WriteString("[" + tok + "]")
		case b.Len() > 0:
			b.WriteString("." + tok)
		default:
			b.WriteString(tok)
		}
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

// kindName names a JSON kind for a client.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "of this type"
}

// createdFormat is RFC 3339 in UTC with a fixed six-digit fraction, so that
// the strings sort as the times do.
const createdFormat = "2006-01-02T15:04:05.000000Z07:00"

// The order representation is appended by hand: it is most of what every
// read answers, and appending it takes a fifth of the time JSON v2's encoder
// takes on a page of orders. jsontext.AppendQuote escapes each string;
// TestOrderJSON and FuzzOrderJSON decode the result strictly. The owner never
// appears.

// appendOrder appends o as the API shows it:
// {"id":…,"created":…,"status":…,"order":[{"product":…,"size":…,"quantity":…},…]}.
func appendOrder(b []byte, o models.Order) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, string(o.ID))
	b = append(b, `,"created":"`...)
	b = o.Created.UTC().AppendFormat(b, createdFormat)
	b = append(b, `","status":`...)
	b = appendString(b, string(o.Status))
	b = append(b, `,"order":[`...)
	for i, it := range o.Items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"product":`...)
		b = appendString(b, it.Product)
		b = append(b, `,"size":`...)
		b = appendString(b, string(it.Size))
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, it.Quantity, 10)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendOrderList appends the body of GET /orders; further pages are linked
// from the Link header, so the body stays the book's shape.
func appendOrderList(b []byte, orders []models.Order) []byte {
	b = append(b, `{"orders":[`...)
	for i, o := range orders {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOrder(b, o)
	}
	return append(b, "]}"...)
}

// appendString appends s as a JSON string. Invalid UTF-8, which validation
// keeps out of every order, would come out as U+FFFD, still valid JSON, so
// AppendQuote's report of it is not needed.
func appendString(b []byte, s string) []byte {
	b, _ = jsontext.AppendQuote(b, s)
	return b
}

// bodies are the buffers responses are appended into. A pool is the one
// package-level variable here: it holds no state, only spare memory, and
// one pool serves every engine, as fmt's does.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBody bounds the buffers kept for reuse; a larger one is left to
// the garbage collector.
const maxPooledBody = 64 << 10

// writeBody answers with status and the JSON that appendBody appends,
// with its Content-Length, so that net/http sends it in one piece rather
// than in chunks.
func writeBody(c *gin.Context, status int, appendBody func([]byte) []byte) {
	buf := bodies.Get().(*[]byte)
	body := appendBody((*buf)[:0])
	c.Header("Content-Type", jsonContentType)
	c.Header("Content-Length", strconv.Itoa(len(body)))
	c.Status(status)
	_, _ = c.Writer.Write(body) // the client has gone if this fails; nothing to do
	if cap(body) <= maxPooledBody {
		*buf = body
		bodies.Put(buf)
	}
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
