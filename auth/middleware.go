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

	"github.com/coffeemesh/orders/auth/dpop"
)

// WriteError writes an error response. The middlewares set the
// WWW-Authenticate (or Retry-After) header, then hand the body to it, so that
// the API has one response format.
type WriteError func(c *gin.Context, err error)

// retryAfterSeconds is what a client is told to wait while the issuer's keys
// are not available.
const retryAfterSeconds = "5"

// Authenticate requires a valid access token from the Authorization header
// and stores its Principal in the request's context (see FromContext).
// Tokens are read from that header only, never from the query or the body.
// A bearer token comes with the Bearer scheme (RFC 6750); a token bound to a
// key (cnf.jkt) comes with the DPoP scheme and a proof by that key in the
// one DPoP header (RFC 9449), as the Verifier's DPoP mode allows; a token
// bound to a client certificate (cnf x5t#S256) comes over a connection
// with that certificate (RFC 8705), whatever its scheme. Failures
// are 401 with a Bearer or DPoP challenge, 400 for an ambiguous request, and
// 503 while the issuer's keys or the store of used proofs are unavailable.
func Authenticate(v *Verifier, writeError WriteError) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, dpopScheme, err := v.authenticate(c.Request)
		if nonce := v.proofs.Nonce(); nonce != "" && dpopScheme {
			c.Header("DPoP-Nonce", nonce)
		}
		if err == nil {
			c.Request = c.Request.WithContext(NewContext(c.Request.Context(), p))
			c.Next()
			return
		}
		v.challenge(c, dpopScheme, err)
		writeError(c, err)
		c.Abort()
	}
}

// authenticate returns the principal of r's credentials, and whether a
// refusal is to be answered with a DPoP challenge. Under either scheme, a
// token bound to a client certificate must come over a connection with
// that certificate.
func (v *Verifier) authenticate(r *http.Request) (Principal, bool, error) {
	p, dpopScheme, err := v.authenticateScheme(r)
	if err == nil {
		err = v.checkCertificate(r, p)
	}
	if err != nil {
		return Principal{}, dpopScheme, err
	}
	return p, dpopScheme, nil
}

// authenticateScheme returns the principal of r's token, checked as its
// scheme and the Verifier's DPoP mode require, and whether a refusal is to
// be answered with a DPoP challenge.
func (v *Verifier) authenticateScheme(r *http.Request) (Principal, bool, error) {
	token, dpopScheme, err := credentials(r)
	switch {
	case err != nil:
		return Principal{}, false, err
	case dpopScheme && v.cfg.DPoP.Mode == DPoPOff:
		return Principal{}, false, fail(ReasonDPoPOff, nil)
	case dpopScheme:
		p, err := v.authenticateDPoP(r, token)
		return p, true, err
	case v.cfg.DPoP.Mode == DPoPRequired:
		return Principal{}, true, fail(ReasonDPoPRequired, nil)
	}
	p, err := v.Verify(r.Context(), token)
	if err == nil && p.JKT != "" {
		// The binding is the token's whole point: a thief has no key.
		return Principal{}, true, fail(ReasonBoundAsBearer, nil)
	}
	return p, false, err
}

// authenticateDPoP checks r's one DPoP proof, then token, then that the
// token is bound to the proof's key, and last records the proof as used:
// so only the holder of a valid bound token and its key can fill the
// replay store. The proof is checked on every request; only the token's
// verification may come from the cache.
func (v *Verifier) authenticateDPoP(r *http.Request, token string) (Principal, error) {
	proofs := r.Header.Values("DPoP")
	switch {
	case len(proofs) == 0:
		return Principal{}, fail(ReasonDPoPNoProof, nil)
	case len(proofs) > 1:
		return Principal{}, fail(ReasonDPoPProofs, fmt.Errorf("%d DPoP headers", len(proofs)))
	}
	proof, err := v.proofs.Check(proofs[0], dpop.Request{Method: r.Method, URL: v.requestURL(r), AccessToken: token})
	if err != nil {
		return Principal{}, proofFailure(err)
	}
	p, err := v.Verify(r.Context(), token)
	switch {
	case err != nil:
		return Principal{}, err
	case p.JKT == "":
		return Principal{}, fail(ReasonDPoPUnbound, nil)
	case p.JKT != proof.Thumbprint:
		return Principal{}, fail(ReasonDPoPKeyMismatch, nil)
	}
	if err := v.proofs.Use(r.Context(), proof); err != nil {
		return Principal{}, proofFailure(err)
	}
	return p, nil
}

// requestURL is the URL r was sent to, as its proof's htu must name it:
// the configured public URL, else r's scheme and Host, and r's path as
// sent.
func (v *Verifier) requestURL(r *http.Request) string {
	base := strings.TrimSuffix(v.cfg.DPoP.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + r.URL.EscapedPath()
}

// proofReasons maps each refusal of package dpop to its reason.
var proofReasons = []struct {
	err    error
	reason Reason
}{
	{dpop.ErrMalformed, ReasonDPoPMalformed},
	{dpop.ErrType, ReasonDPoPType},
	{dpop.ErrAlgorithm, ReasonDPoPAlgorithm},
	{dpop.ErrKey, ReasonDPoPKey},
	{dpop.ErrSignature, ReasonDPoPSignature},
	{dpop.ErrMethod, ReasonDPoPMethod},
	{dpop.ErrURL, ReasonDPoPURL},
	{dpop.ErrIssuedAt, ReasonDPoPIssuedAt},
	{dpop.ErrID, ReasonDPoPID},
	{dpop.ErrTokenHash, ReasonDPoPTokenHash},
	{dpop.ErrNonce, ReasonDPoPNonce},
	{dpop.ErrReplay, ReasonDPoPReplay},
}

// proofFailure turns an error of package dpop into an *Error. What the
// replay store cannot tell is ErrUnavailable: the proof is refused, never
// let through unchecked.
func proofFailure(err error) *Error {
	for _, pr := range proofReasons {
		if errors.Is(err, pr.err) {
			return fail(pr.reason, err)
		}
	}
	return fail(ReasonDPoPStoreUnavailable, err)
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
		v.challenge(c, p.JKT != "", err)
		writeError(c, err)
		c.Abort()
	}
}

// challenge sets the response headers that go with err: a DPoP challenge
// (naming the algorithms proofs may use) when dpopScheme, else a Bearer
// one; both, as the DPoP mode allows, when no credentials were sent.
func (v *Verifier) challenge(c *gin.Context, dpopScheme bool, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = fail(ReasonMalformed, err)
	}
	params := []string{fmt.Sprintf("realm=%q", v.Realm())}
	switch {
	case errors.Is(e, ErrUnavailable):
		c.Header("Retry-After", retryAfterSeconds)
		return
	case errors.Is(e, ErrInvalidToken):
		params = append(params, `error="invalid_token"`)
	case e.Reason == ReasonDPoPNonce:
		params = append(params, `error="use_dpop_nonce"`)
	case errors.Is(e, ErrInvalidProof):
		params = append(params, `error="invalid_dpop_proof"`)
	case errors.Is(e, ErrInvalidRequest):
		params = append(params, `error="invalid_request"`)
	case errors.Is(e, ErrInsufficientScope):
		params = append(params, `error="insufficient_scope"`, fmt.Sprintf("scope=%q", e.Scope))
	}
	if !errors.Is(e, ErrNoToken) {
		params = append(params, fmt.Sprintf("error_description=%q", e.Description()))
	}
	dpopChallenge := fmt.Sprintf("DPoP algs=%q, ", strings.Join(v.proofs.Algorithms(), " ")) + strings.Join(params, ", ")
	switch mode := v.cfg.DPoP.Mode; {
	case errors.Is(e, ErrNoToken):
		if mode != DPoPRequired {
			c.Writer.Header().Add("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
		}
		if mode != DPoPOff {
			c.Writer.Header().Add("WWW-Authenticate", dpopChallenge)
			if nonce := v.proofs.Nonce(); nonce != "" {
				c.Header("DPoP-Nonce", nonce)
			}
		}
	case dpopScheme:
		c.Header("WWW-Authenticate", dpopChallenge)
	default:
		c.Header("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	}
}

// credentials returns the token of the request's one Authorization header,
// and whether it came with the DPoP scheme rather than Bearer.
// Two Authorization headers, or a header beside an access_token query or
// form-body parameter (RFC 6750, section 2), are ErrInvalidRequest: which
// credential counts would be a guess. Tokens in the query or body are never
// used.
func credentials(r *http.Request) (string, bool, error) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", false, fail(ReasonMissing, nil)
	case len(values) > 1:
		return "", false, fail(ReasonAmbiguous, errors.New("two Authorization headers"))
	case r.URL.RawQuery != "" && r.URL.Query().Has("access_token"):
		return "", false, fail(ReasonAmbiguous, errors.New("a token in the Authorization header and in the query"))
	case formHasToken(r):
		return "", false, fail(ReasonAmbiguous, errors.New("a token in the Authorization header and in the body"))
	}
	if scheme, rest, _ := strings.Cut(values[0], " "); strings.EqualFold(scheme, "DPoP") {
		token, err := parseToken(rest)
		return token, true, err
	}
	token, err := parseBearer(values[0])
	return token, false, err
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
	return parseToken(rest)
}

// parseToken reads the token after an Authorization header's scheme: one
// b64token (RFC 6750, section 2.1; RFC 9449, section 7.1) after spaces.
func parseToken(rest string) (string, error) {
	token := strings.TrimLeft(rest, " ")
	if token == "" {
		return "", fail(ReasonEmpty, nil)
	}
	if strings.ContainsAny(token, " \t\r\n,") {
		return "", fail(ReasonAmbiguous, errors.New("more than one token in the Authorization header"))
	}
	return token, nil
}
