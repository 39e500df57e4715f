// Package introspect asks an issuer whether a token is active: it posts
// the token to the issuer's introspection endpoint (RFC 7662), authenticated
// as the API's own client with client_secret_basic (RFC 6749, section
// 2.3.1) or private_key_jwt (RFC 7523), and returns the answer's JSON object
// as it came.
//
// It reads nothing of the answer beyond its status, media type and size:
// deciding what an answer grants is the caller's. It never puts the token,
// the secret or the client assertion in an error.
package introspect

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/jwks"
)

// Defaults and bounds of Options.
const (
	DefaultTimeout = 5 * time.Second
	// MaxTimeout stays well below the API's write timeout (30 s), so that
	// the 503 of an endpoint that does not answer is still written.
	MaxTimeout = 10 * time.Second
	// MaxAnswerBytes bounds an answer's body; a longer one is an error.
	MaxAnswerBytes = 64 << 10
	// assertionLifetime is how long a client assertion is valid.
	assertionLifetime = time.Minute
)

// ErrUnavailable means the issuer could not tell: it did not answer in
// time, answered with another status than 200 (including 401 or 403 to the
// API's own credentials) or with something other than a JSON object.
var ErrUnavailable = errors.New("introspection unavailable")

// Key is the API's private key for private_key_jwt.
type Key struct {
	// Signer signs client assertions.
	Signer crypto.Signer
	// Alg is the JWS algorithm of Signer, such as ES256.
	Alg string
	// ID is the kid the issuer knows the key by.
	ID string
}

// Options configure a Client.
type Options struct {
	// Endpoint is the introspection endpoint's URL; when empty, Discover
	// is asked for it on first use.
	Endpoint string
	// Discover returns the issuer's discovery document; used only while
	// Endpoint is empty.
	Discover func(ctx context.Context) (jwks.Metadata, error)
	// ClientID is the API's client id at the issuer. Required.
	ClientID string
	// Secret authenticates the client with HTTP Basic
	// (client_secret_basic); exactly one of Secret and Key is set.
	Secret string
	// Key authenticates the client with a signed client assertion
	// (private_key_jwt); exactly one of Secret and Key is set.
	Key *Key
	// Issuer is the issuer's identifier, the default audience of client
	// assertions.
	Issuer string
	// Audience is the aud of client assertions, one string; "" means
	// Issuer, as OpenID Connect Core now requires (section 9) and
	// Keycloak enforces. Some providers want their token or
	// introspection endpoint instead.
	Audience string
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Now tells the time of client assertions; nil means time.Now.
	Now func() time.Time
}

// Client asks one issuer about tokens. It is safe for concurrent use.
type Client struct {
	opts Options
	http *http.Client
}

// New returns a Client for opts, or why opts are unusable.
func New(opts Options) (*Client, error) {
	var errs []error
	switch {
	case opts.ClientID == "":
		errs = append(errs, errors.New("a client id is required"))
	case (opts.Secret == "") == (opts.Key == nil):
		errs = append(errs, errors.New("exactly one of a client secret and a client key is required"))
	case opts.Key != nil && opts.Audience == "" && opts.Issuer == "":
		errs = append(errs, errors.New("a client key needs the issuer or an assertion audience"))
	}
	if opts.Endpoint != "" {
		if err := jwks.CheckURL(opts.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("introspection url: %w", err))
		}
	} else if opts.Discover == nil {
		errs = append(errs, errors.New("an introspection url or discovery is required"))
	}
	if opts.Timeout < 0 || opts.Timeout > MaxTimeout {
		errs = append(errs, fmt.Errorf("introspection timeout must be between 0s and %s", MaxTimeout))
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Client{opts: opts, http: &http.Client{
		Timeout: opts.Timeout,
		// A redirect would resend the token elsewhere, or lose the POST.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Introspect posts token to the introspection endpoint and returns the
// body of the answer: a 200 with a JSON media type and at most
// MaxAnswerBytes. Every other outcome is an error of ErrUnavailable that
// names neither the token nor the credentials.
func (c *Client) Introspect(ctx context.Context, token string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	endpoint, err := c.endpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if c.opts.Key != nil {
		assertion, err := c.assertion()
		if err != nil {
			return nil, fmt.Errorf("%w: client assertion: %w", ErrUnavailable, err)
		}
		form.Set("client_id", c.opts.ClientID)
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a URL", ErrUnavailable, endpoint)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.opts.Key == nil {
		req.Header.Set("Authorization", BasicAuth(c.opts.ClientID, c.opts.Secret))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, endpoint, transportError(err))
	}
	defer resp.Body.Close()
	return readAnswer(endpoint, resp)
}

// transportError keeps what an error of http.Client.Do says, without the
// request it wraps.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// readAnswer returns the body of a 200 JSON answer of at most
// MaxAnswerBytes. Another answer's body is read up to MaxAnswerBytes and
// dropped, so that its connection serves the next call.
func readAnswer(endpoint string, resp *http.Response) ([]byte, error) {
	if resp.StatusCode != http.StatusOK {
		drain(resp.Body)
		return nil, fmt.Errorf("%w: %s answered %s", ErrUnavailable, endpoint, resp.Status)
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		drain(resp.Body)
		return nil, fmt.Errorf("%w: %s answered %q, not application/json", ErrUnavailable, endpoint, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: read the answer of %s: %w", ErrUnavailable, endpoint, err)
	case len(body) > MaxAnswerBytes:
		return nil, fmt.Errorf("%w: %s answered more than %d bytes", ErrUnavailable, endpoint, MaxAnswerBytes)
	}
	return body, nil
}

// drain reads what is left of body, up to MaxAnswerBytes: a body read to
// its end frees its connection for reuse, and a longer one is not worth the
// wait.
func drain(body io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, MaxAnswerBytes)) // an error only means the connection is not reused
}

// endpoint returns the introspection endpoint.
func (c *Client) endpoint(ctx context.Context) (string, error) {
	if c.opts.Endpoint != "" {
		return c.opts.Endpoint, nil
	}
	meta, err := c.opts.Discover(ctx)
	switch {
	case err != nil:
		return "", fmt.Errorf("openid discovery: %w", err)
	case meta.IntrospectionEndpoint == "":
		return "", errors.New("the issuer's discovery names no introspection_endpoint; set the introspection URL")
	}
	if err := jwks.CheckURL(meta.IntrospectionEndpoint); err != nil {
		return "", fmt.Errorf("introspection_endpoint: %w", err)
	}
	return meta.IntrospectionEndpoint, nil
}

// assertion returns a client assertion (RFC 7523, section 3) for one
// request: issued by the client about itself, for one audience as a single
// string, valid for a minute, with a jti of its own.
func (c *Client) assertion() (string, error) {
	aud := c.opts.Audience
	if aud == "" {
		aud = c.opts.Issuer
	}
	now := c.opts.Now()
	claims := jwt.MapClaims{
		"iss": c.opts.ClientID,
		"sub": c.opts.ClientID,
		"aud": aud,
		"jti": rand.Text(),
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	}
	t := jwt.NewWithClaims(jwt.GetSigningMethod(c.opts.Key.Alg), claims)
	t.Header["kid"] = c.opts.Key.ID
	return t.SignedString(c.opts.Key.Signer)
}

// BasicAuth returns the Authorization header of client_secret_basic: the
// client id and secret each form-urlencoded (RFC 6749, section 2.3.1), then
// joined by a colon and base64-encoded (RFC 7617).
func BasicAuth(id, secret string) string {
	pair := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(pair))
}
