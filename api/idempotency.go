package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/models"
)

// DefaultIdempotencyTTL is how long an Idempotency-Key is remembered when
// Config.IdempotencyTTL is zero.
const DefaultIdempotencyTTL = 24 * time.Hour

// maxIdempotencyKey is the longest Idempotency-Key accepted.
const maxIdempotencyKey = 255

var (
	// errBadIdempotencyKey means the Idempotency-Key header is not one key
	// of 1 to 255 visible ASCII characters.
	errBadIdempotencyKey = errors.New("Idempotency-Key must be one key of 1 to 255 visible ASCII characters")
	// errKeyReused means the caller's Idempotency-Key was used before for
	// another request: another method, path or body.
	errKeyReused = errors.New("this Idempotency-Key was used for another request; use a new key for a new request")
)

// replayedHeader marks an answer that is the replay of a stored one.
const replayedHeader = "Idempotent-Replayed"

// idempotency makes the changes of POST /orders, pay and cancel idempotent
// under the caller's Idempotency-Key (draft-ietf-httpapi-idempotency-key-header):
// the change and its answer are stored in one transaction, and the same
// request with the same key is answered with the stored answer for ttl,
// without being made again. Only a success is stored: a failed request
// changed nothing, so its retry runs again, and a failed payment is never
// replayed as paid. A repeat that comes while the first is running waits
// for the first's transaction and is then answered its answer.
type idempotency struct {
	store OrderStore
	ttl   time.Duration
	m     *metrics
}

// change is the handler of a change that may run under an idempotency
// key: once is nil without one; with one, the handler sets once.Answer and
// makes its change with the store's ...Once method.
type change func(c *gin.Context, once *models.Once) error

// wrap runs h under the request's Idempotency-Key, if any. When h fails
// under a key, the key may have been used already, by this very request
// sent before or by another: its stored answer is then replayed, or, for
// another request, errKeyReused answered.
func (idem idempotency) wrap(h change) handler {
	return func(c *gin.Context) error {
		once, err := idem.once(c)
		if err != nil || once == nil {
			if err != nil {
				return err
			}
			return h(c, nil)
		}
		err = h(c, once)
		if err == nil {
			return nil
		}
		if replayed, rerr := idem.replay(c, once); replayed || rerr != nil {
			return rerr
		}
		return err
	}
}

// replay answers c with the answer stored for once's key, if there is one,
// and reports whether there was. A key stored for another request is
// errKeyReused.
func (idem idempotency) replay(c *gin.Context, once *models.Once) (bool, error) {
	who, err := owner(c)
	if err != nil {
		return false, err
	}
	a, err := idem.store.Answered(c.Request.Context(), who, once.Key)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case a.Fingerprint != once.Fingerprint:
		return false, errKeyReused
	}
	idem.m.control("idempotent_replay")
	c.Header(replayedHeader, "true")
	writeAnswer(c, a)
	return true, nil
}

// once returns the Once of the request's Idempotency-Key, nil without one.
// It reads the body, for the request's fingerprint, and puts it back for
// the handler.
func (idem idempotency) once(c *gin.Context) (*models.Once, error) {
	key, err := idempotencyKey(c.Request.Header)
	if err != nil || key == "" {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	if err != nil {
		return nil, decodeError(err)
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	h := sha256.New()
	for _, part := range [][]byte{[]byte(c.Request.Method), {0}, []byte(c.Request.URL.Path), {0}, body} {
		h.Write(part)
	}
	ttl := idem.ttl
	if ttl == 0 {
		ttl = DefaultIdempotencyTTL
	}
	return &models.Once{Key: key, Fingerprint: hex.EncodeToString(h.Sum(nil)), Expires: time.Now().Add(ttl)}, nil
}

// idempotencyKey returns the request's Idempotency-Key, "" if it has none.
// The key is 1 to 255 visible ASCII characters; the draft's form, a
// structured-field string in quotes, is read as the characters between
// them. Any other value, or two headers, is errBadIdempotencyKey.
func idempotencyKey(h http.Header) (string, error) {
	values := h.Values("Idempotency-Key")
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", errBadIdempotencyKey
	}
	key := values[0]
	if len(key) >= 2 && key[0] == '"' && key[len(key)-1] == '"' {
		key = key[1 : len(key)-1]
		if strings.ContainsAny(key, `"\`) {
			return "", errBadIdempotencyKey
		}
	}
	if key == "" || len(key) > maxIdempotencyKey {
		return "", errBadIdempotencyKey
	}
	for i := range len(key) {
		if key[i] < 0x21 || key[i] > 0x7e {
			return "", errBadIdempotencyKey
		}
	}
	return key, nil
}

// orderAnswer returns the answer of a change that answers status with o,
// and Location when location is not empty, and records it in *dst.
func orderAnswer(status int, location string, o models.Order, dst *models.Answer) models.Answer {
	*dst = models.Answer{
		Status:      status,
		Location:    location,
		ETag:        etag(o),
		ContentType: jsonContentType,
		Body:        appendOrder(nil, o),
	}
	return *dst
}

// writeAnswer answers c with a.
func writeAnswer(c *gin.Context, a models.Answer) {
	if a.Location != "" {
		c.Header("Location", a.Location)
	}
	if a.ETag != "" {
		c.Header("ETag", a.ETag)
	}
	c.Header("Content-Type", a.ContentType)
	c.Header("Content-Length", strconv.Itoa(len(a.Body)))
	c.Status(a.Status)
	_, _ = c.Writer.Write(a.Body) // the client has gone if this fails; nothing to do
}
