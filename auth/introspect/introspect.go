// Package introspect asks an issuer whether a token is active: it posts
// the token to the issuer's introspection endpoint (RFC 7662), authenticated
// as the API's own client with client_secret_basic (RFC 6749, section
// 2.3.1) or private_key_jwt (RFC 7523) by auth/clientauth, and returns the
// answer's JSON object as it came.
//
// It reads nothing of the answer beyond its status, media type and size:
// deciding what an answer grants is the caller's. It never puts the token,
// the secret or the client assertion in an error.
package introspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/coffeemesh/orders/auth/clientauth"
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
)

// ErrUnavailable means the issuer could not tell: it did not answer in
// time, answered with another status than 200 (including 401 or 403 to the
// API's own credentials) or with something other than a JSON object.
var ErrUnavailable = errors.New("introspection unavailable")

// Options configure a Client.
type Options struct {
	// Endpoint is the introspection endpoint's URL; when empty, Discover
	// is asked for it on first use.
	Endpoint string
	// Discover returns the issuer's discovery document; used only while
	// Endpoint is empty.
	Discover func(ctx context.Context) (jwks.Metadata, error)
	// Client is the API's client at the issuer: its id, and its secret
	// (client_secret_basic) or its key (private_key_jwt). A key without an
	// ID is named by its RFC 7638 thumbprint.
	Client clientauth.Credentials
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
	if err := opts.Client.Check(); err != nil {
		errs = append(errs, err)
	} else if opts.Client.Key != nil {
		if opts.Audience == "" && opts.Issuer == "" {
			errs = append(errs, errors.New("a client key needs the issuer or an assertion audience"))
		}
		if opts.Client.Key, err = named(opts.Client.Key); err != nil {
			errs = append(errs, err)
		}
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
	if opts.Audience == "" {
		opts.Audience = opts.Issuer
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
	req, err := c.opts.Client.NewRequest(ctx, endpoint, form, c.opts.Audience, c.opts.Now())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
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

// named returns k, or a copy of it named by its RFC 7638 thumbprint when
// it has no kid of its own.
func named(k *clientauth.Key) (*clientauth.Key, error) {
	if k.ID != "" {
		return k, nil
	}
	tp, err := clientauth.Thumbprint(k.Signer.Public())
	if err != nil {
		return nil, err
	}
	return &clientauth.Key{Signer: k.Signer, Alg: k.Alg, ID: tp}, nil
}
