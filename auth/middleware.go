package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// WriteError writes an error response. The middlewares set the
// WWW-Authenticate (or Retry-After) header, then hand the body to it, so that
// the API has one response format.
type WriteError func(c *gin.Context, err error)

// retryAfterSeconds is what a client is told to wait while the issuer's keys
// are not available.
const retryAfterSeconds = "5"

// Authenticate requires a valid bearer token from the Authorization header
// and stores its Principal in the request's context (see FromContext).
// Tokens are read from that header only, never from the query or the body.
// Failures follow RFC 6750, section 3: 401 with a Bearer challenge, 400 for
// an ambiguous request, and 503 while the issuer's keys are unavailable.
func Authenticate(v *Verifier, writeError WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, err := bearerToken(c.Request)
		if err == nil {
			var p Principal
			if p, err = v.Verify(c.Request.Context(), token); err == nil {
				c.Request = c.Request.WithContext(NewContext(c.Request.Context(), p))
				c.Next()
				return
			}
		}
		challenge(c, v.Realm(), err)
		writeError(c, err)
		c.Abort()
	}
}

// RequireScope lets the request through only if the authenticated principal
// holds scope s, and answers 403 insufficient_scope otherwise, naming the
// scope as the token's issuer spells it (see Verifier.ScopeName), which is
// what its client must ask for. It must run after Authenticate.
func RequireScope(s Scope, v *Verifier, writeError WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := FromContext(c.Request.Context())
		if ok && p.Has(s) {
			c.Next()
			return
		}
		err := &Error{Reason: ReasonInsufficientScope, Scope: v.ScopeName(p.Issuer, s)}
		if !ok {
			err = fail(ReasonAuthRequired, nil)
		}
		challenge(c, v.Realm(), err)
		writeError(c, err)
		c.Abort()
	}
}

// challenge sets the response header that goes with err.
func challenge(c *gin.Context, realm string, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = fail(ReasonMalformed, err)
	}
	params := []string{fmt.Sprintf("realm=%q", realm)}
	switch {
	case errors.Is(e, ErrUnavailable):
		c.Header("Retry-After", retryAfterSeconds)
		return
	case errors.Is(e, ErrInvalidToken):
		params = append(params, `error="invalid_token"`)
	case errors.Is(e, ErrInvalidRequest):
		params = append(params, `error="invalid_request"`)
	case errors.Is(e, ErrInsufficientScope):
		params = append(params, `error="insufficient_scope"`, fmt.Sprintf("scope=%q", e.Scope))
	}
	if !errors.Is(e, ErrNoToken) {
		params = append(params, fmt.Sprintf("error_description=%q", e.Description()))
	}
	c.Header("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
}

// bearerToken returns the token of the request's one Authorization header.
// Two Authorization headers, or a header beside an access_token query or
// form-body parameter (RFC 6750, section 2), are ErrInvalidRequest: which
// credential counts would be a guess. Tokens in the query or body are never
// used.
func bearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", fail(ReasonMissing, nil)
	case len(values) > 1:
		return "", fail(ReasonAmbiguous, errors.New("two Authorization headers"))
	case r.URL.RawQuery != "" && r.URL.Query().Has("access_token"):
		return "", fail(ReasonAmbiguous, errors.New("a token in the Authorization header and in the query"))
	case formHasToken(r):
		return "", fail(ReasonAmbiguous, errors.New("a token in the Authorization header and in the body"))
	}
	return parseBearer(values[0])
}

// maxFormBytes bounds how much of a form body is read to look for a token.
const maxFormBytes = 64 << 10

// formHasToken reports whether r has a form-encoded body with an
// access_token parameter. It reads at most maxFormBytes of the body and puts
// what it read back, so the handler sees the body unchanged.
func formHasToken(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" || r.Body == nil {
		return false
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	if err != nil {
		return false
	}
	// A parse error still leaves the well-formed pairs in form.
	form, _ := url.ParseQuery(string(head))
	return form.Has("access_token")
}

// parseBearer reads "Bearer <token>" (RFC 6750, section 2.1); the scheme is
// case-insensitive and the token is one b64token. Any other scheme is
// ErrNoToken: no bearer token was offered.
func parseBearer(header string) (string, error) {
	scheme, rest, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fail(ReasonNotBearer, nil)
	}
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return "", fail(ReasonEmpty, nil)
	}
	if strings.ContainsAny(token, " \t\r\n,") {
		return "", fail(ReasonAmbiguous, errors.New("more than one token in the Authorization header"))
	}
	return token, nil
}
