// Package payments is the orders API's client of the payments service: it
// takes the payment for an order on behalf of the caller who pays it.
//
// It gets a token for the payments service from the issuer, by default by
// token exchange (RFC 8693): the caller's access token is the subject
// token, and the token it gets back names the same user, is narrowed to the
// payments service's audience and scope, and names the API as its actor.
// The caller's own token never leaves the API except to the issuer that
// issued it; it is never forwarded to the payments service.
//
// It is a package of its own, beside repository, because it is one
// external dependency with its own failures; it is not under internal/,
// which holds code for development only. It imports models, for the order
// id and the errors of paying, and auth/clientauth, which authenticates the
// API at the token endpoint as it does at the introspection endpoint, and
// nothing else of the project: package api declares the Payer interface it
// needs, and main passes a *Client.
package payments

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coffeemesh/orders/auth/clientauth"
	"github.com/coffeemesh/orders/models"
)

// Mode is how the API gets its token for the payments service.
type Mode string

// The modes.
const (
	// Exchange exchanges the caller's token at the issuer (RFC 8693): the
	// payments service learns who pays from the token itself, which the
	// issuer signed, and sees the API as the actor.
	Exchange Mode = "exchange"
	// ClientCredentials uses the API's own token (RFC 6749, section 4.4)
	// and names the caller, issuer and subject, in the body of the payment:
	// the payments service must then trust the API's word for who pays.
	ClientCredentials Mode = "client_credentials"
)

// DefaultTimeout bounds a payment, token request included.
const DefaultTimeout = 5 * time.Second

// Config describes the payments service and the API's client at the issuer.
type Config struct {
	// URL is the payments service's base URL; payments are POSTed to
	// URL/payments.
	URL string
	// Audience and Scope are asked of the issuer for the token the
	// payments service accepts.
	Audience string
	Scope    string
	// Timeout bounds one payment, from the token request to the payments
	// service's answer.
	Timeout time.Duration
	// Mode is Exchange or ClientCredentials.
	Mode Mode
	// Client authenticates the API at the issuer's token endpoint.
	// Its client assertions name the token endpoint as their audience.
	Client clientauth.Credentials
	// TokenEndpoint returns the token endpoint of the trusted issuer
	// issuer, from its OpenID discovery. A caller's token is exchanged at
	// the endpoint of the issuer that signed it, and nowhere else.
	TokenEndpoint func(ctx context.Context, issuer string) (string, error)
	// HTTP sends the requests; nil means a client of this package's own,
	// which follows no redirects.
	HTTP *http.Client
	// Now is the clock of the token cache; nil means time.Now.
	Now func() time.Time
}

// Client takes payments. It is safe for concurrent use.
type Client struct {
	cfg    Config
	http   *http.Client
	tokens *tokenCache
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.URL == "":
		return nil, errors.New("payments: no URL")
	case cfg.Audience == "":
		return nil, errors.New("payments: no audience")
	case cfg.Mode != Exchange && cfg.Mode != ClientCredentials:
		return nil, fmt.Errorf("payments: unknown mode %q", cfg.Mode)
	case cfg.TokenEndpoint == nil:
		return nil, errors.New("payments: no token endpoint")
	}
	if err := cfg.Client.Check(); err != nil {
		return nil, fmt.Errorf("payments: %w", err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	hc := cfg.HTTP
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			// A redirect would carry a token, or a request to charge,
			// somewhere not configured.
			return http.ErrUseLastResponse
		}}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	return &Client{cfg: cfg, http: hc, tokens: newTokenCache(maxCachedTokens)}, nil
}

// IdempotencyKey is the Idempotency-Key of every attempt to pay order id:
// it depends on the order alone, so that a retry, by the client or after a
// failure between the payment and the order's change, is never charged
// twice by a payments service that honours the key. The price is that a
// payments service that stores its answers per key repeats a definitive
// refusal (a declined card) for every later attempt too; a key that
// moved on such a refusal would need the number of attempts stored with
// the order, and a lost answer could then never be told from a refusal
// (docs/api-to-api.md).
func IdempotencyKey(id models.OrderID) string {
	return "order-" + string(id) + "-pay"
}

// Key is IdempotencyKey(id), the key every payment of order id carries.
func (c *Client) Key(id models.OrderID) string {
	return IdempotencyKey(id)
}

// Pay asks the payments service to take the payment for order id on behalf
// of the caller whose token, signed by the trusted issuer issuer, names
// subject and is token (already verified), within the configured timeout.
// The token goes to issuer's token endpoint only. Pay returns nil only when
// the payments service answered 2xx. Its errors match, with errors.Is, one
// of the issuer's, before anything was sent to the payments service
// (models.ErrExchangeRefused, models.ErrIssuerUnavailable,
// models.ErrIssuerTimeout), or one of the payments service's
// (models.ErrPaymentFailed, models.ErrPaymentUnavailable,
// models.ErrPaymentTimeout, or models.ErrConflict while it serves another
// request with the same key), or the context's own error when ctx ended
// first; they never hold a token.
func (c *Client) Pay(ctx context.Context, issuer, subject, token string, id models.OrderID) error {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	sent, err := c.pay(pctx, caller{issuer: issuer, subject: subject, token: token}, id)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case pctx.Err() != nil && !sent:
		return fmt.Errorf("pay order %s after %s: %w: %w", id, c.cfg.Timeout, models.ErrIssuerTimeout, err)
	case pctx.Err() != nil:
		return fmt.Errorf("pay order %s after %s: %w: %w", id, c.cfg.Timeout, models.ErrPaymentTimeout, err)
	}
	return fmt.Errorf("pay order %s: %w", id, err)
}

// caller is who pays: the issuer of their token, its subject, and the
// token itself.
type caller struct {
	issuer, subject, token string
}

// pay takes the payment, and reports whether the request for it was sent,
// so that a timeout can say whether the issuer or the payments service
// was too slow.
func (c *Client) pay(ctx context.Context, who caller, id models.OrderID) (bool, error) {
	key, token, err := c.token(ctx, who)
	if err != nil {
		return false, err
	}
	body := map[string]string{"order_id": string(id)}
	if c.cfg.Mode == ClientCredentials {
		// The subject alone is unique only within its issuer.
		body["issuer"], body["subject"] = who.issuer, who.subject
	}
	b, err := json.Marshal(body)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL+"/payments", bytes.NewReader(b))
	if err != nil {
		return false, fmt.Errorf("%w: %w", models.ErrPaymentFailed, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", IdempotencyKey(id))
	resp, err := c.http.Do(req)
	if err != nil {
		return true, fmt.Errorf("%w: %w", transportError(err, models.ErrPaymentTimeout, models.ErrPaymentUnavailable), err)
	}
	defer resp.Body.Close()
	// Read a little of the body, so the connection can be used again.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // the answer is in the status; a failed read changes nothing
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return true, nil
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		// The issuer may have revoked the token, or the payments service
		// may want another; the next attempt asks for a new one.
		c.tokens.forget(key)
		return true, fmt.Errorf("%w: the payments service refused the token: %s", models.ErrPaymentFailed, resp.Status)
	case s == http.StatusConflict:
		// A request with the same key is still being served (the
		// Idempotency-Key header draft, section 2.6): another pay of this
		// order is under way.
		return true, fmt.Errorf("%w: the payments service answered %s", models.ErrConflict, resp.Status)
	case s == http.StatusServiceUnavailable || s == http.StatusTooManyRequests:
		return true, fmt.Errorf("%w: the payments service answered %s", models.ErrPaymentUnavailable, resp.Status)
	}
	return true, fmt.Errorf("%w: the payments service answered %s", models.ErrPaymentFailed, resp.Status)
}

// transportError says what a request that got no answer means: timeout
// when it timed out, else unavailable (a peer that could not be reached or
// dropped the connection), which a later attempt, with the same
// idempotency key, may get past.
func transportError(err, timeout, unavailable error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return timeout
	}
	return unavailable
}

// tokenKey is the cache key of the token for who: the issuer, the hash of
// who's token (none in ClientCredentials mode, where the token is the
// API's own at that issuer), the audience and the scope, so the cache
// never holds a caller's token itself.
func (c *Client) tokenKey(who caller) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(who.issuer))
	h.Write([]byte{0})
	if c.cfg.Mode == Exchange {
		h.Write([]byte(who.token))
	}
	h.Write([]byte{0})
	h.Write([]byte(c.cfg.Audience))
	h.Write([]byte{0})
	h.Write([]byte(c.cfg.Scope))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}
