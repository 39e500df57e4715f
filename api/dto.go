package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/models"
)

// maxBodyBytes bounds a request body; a larger one is 413.
const maxBodyBytes = 1 << 20

// orderRequest is the body of POST /orders and PUT /orders/{order_id}.
type orderRequest struct {
	Order *[]itemRequest `json:"order"`
}

// itemRequest is one item as sent. Pointers and the raw quantity tell a
// missing or null member from a zero one.
type itemRequest struct {
	Product  *string         `json:"product"`
	Size     *string         `json:"size"`
	Quantity json.RawMessage `json:"quantity"`
}

// toModel checks the request's shape and returns its items, which the caller
// still validates with models.ValidateItems.
func (r orderRequest) toModel() ([]models.Item, error) {
	if r.Order == nil {
		return nil, models.Invalid("order", "is required")
	}
	var verr models.ValidationError
	items := make([]models.Item, len(*r.Order))
	for i, it := range *r.Order {
		prefix := fmt.Sprintf("order[%d]", i)
		if it.Product == nil {
			verr.Add(prefix+".product", "is required")
		} else {
			items[i].Product = *it.Product
		}
		if it.Size == nil {
			verr.Add(prefix+".size", "is required")
		} else {
			items[i].Size = models.Size(*it.Size)
		}
		items[i].Quantity = models.DefaultQuantity
		if it.Quantity != nil {
			if bytes.Equal(it.Quantity, []byte("null")) || json.Unmarshal(it.Quantity, &items[i].Quantity) != nil {
				verr.Add(prefix+".quantity", fmt.Sprintf("must be an integer between %d and %d", models.MinQuantity, models.MaxQuantity))
			}
		}
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	if err := models.ValidateItems("order", items); err != nil {
		return nil, err
	}
	return items, nil
}

// decodeItems reads the request's JSON body as an orderRequest and returns
// its valid items. The body must be application/json, at most maxBodyBytes,
// one JSON object with no unknown member.
func decodeItems(c *gin.Context) ([]models.Item, error) {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, errMediaType
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	var req orderRequest
	if err := dec.Decode(&req); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, errBodyTooLarge
		}
		return nil, fmt.Errorf("%w: data after the JSON object", errMalformedBody)
	}
	return req.toModel()
}

// decodeError sorts a decoding error into 400, 413 or 422.
func decodeError(err error) error {
	var (
		tooLarge *http.MaxBytesError
		typeErr  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errBodyTooLarge
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return models.Invalid(field, "must be "+jsonType(typeErr.Type.Kind().String()))
	}
	// encoding/json reports an unknown member only as text (golang/go#29035),
	// so this is the one error recognised by its message.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return models.Invalid(strings.Trim(name, `"`), "is not a known field")
	}
	return fmt.Errorf("%w: %w", errMalformedBody, err)
}

// jsonType names a Go kind as the JSON type a client should have sent.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "ptr":
		return "an object"
	case "int64", "int":
		return "an integer"
	}
	return "of another type"
}

// createdFormat is RFC 3339 in UTC with a fixed six-digit fraction, so that
// the strings sort as the times do.
const createdFormat = "2006-01-02T15:04:05.000000Z07:00"

// orderResponse is an order as the API shows it; the owner never appears.
type orderResponse struct {
	ID      string         `json:"id"`
	Created string         `json:"created"`
	Status  string         `json:"status"`
	Order   []itemResponse `json:"order"`
}

type itemResponse struct {
	Product  string `json:"product"`
	Size     string `json:"size"`
	Quantity int64  `json:"quantity"`
}

func newOrderResponse(o models.Order) orderResponse {
	r := orderResponse{
		ID:      string(o.ID),
		Created: o.Created.UTC().Format(createdFormat),
		Status:  string(o.Status),
		Order:   make([]itemResponse, len(o.Items)),
	}
	for i, it := range o.Items {
		r.Order[i] = itemResponse{Product: it.Product, Size: string(it.Size), Quantity: it.Quantity}
	}
	return r
}

// listResponse is the body of GET /orders; further pages are linked from
// the Link header, so the body stays the book's shape.
type listResponse struct {
	Orders []orderResponse `json:"orders"`
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
