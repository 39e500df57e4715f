package payments

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/coffeemesh/orders/models"
)

// Parameters of token exchange (RFC 8693, sections 2.1 and 3).
const (
	grantTokenExchange  = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess     = "urn:ietf:params:oauth:token-type:access_token"
	maxTokenAnswerBytes = 64 << 10
	// maxTokenLife bounds how long a token is used, whatever the issuer's
	// expires_in says: a token revoked at the issuer stops being used
	// within it, and a huge expires_in cannot overflow.
	maxTokenLife = time.Hour
)

// token returns the cache key and a token for the payments service on
// behalf of who: from the cache, or from the token endpoint of who's
// issuer.
func (c *Client) token(ctx context.Context, who caller) ([sha256.Size]byte, string, error) {
	key := c.tokenKey(who)
	if t, ok := c.tokens.get(key, c.cfg.Now()); ok {
		return key, t, nil
	}
	form := url.Values{"audience": {c.cfg.Audience}}
	if c.cfg.Scope != "" {
		form.Set("scope", c.cfg.Scope)
	}
	if c.cfg.Mode == Exchange {
		form.Set("grant_type", grantTokenExchange)
		form.Set("subject_token", who.token)
		form.Set("subject_token_type", tokenTypeAccess)
		form.Set("requested_token_type", tokenTypeAccess)
	} else {
		form.Set("grant_type", "client_credentials")
	}
	a, err := c.requestToken(ctx, who.issuer, form)
	if err != nil {
		return key, "", err
	}
	// RFC 8693, 2.2.1: issued_token_type is required, and only an access
	// token may go to the payments service.
	if c.cfg.Mode == Exchange && a.IssuedTokenType != tokenTypeAccess {
		return key, "", fmt.Errorf("%w: the token endpoint issued no access token (issued_token_type)", models.ErrExchangeRefused)
	}
	ttl := time.Duration(min(max(a.ExpiresIn, 0), int64(maxTokenLife/time.Second))) * time.Second
	now := c.cfg.Now()
	c.tokens.put(key, a.AccessToken, now, now.Add(ttl-min(ttl/2, tokenMargin)))
	return key, a.AccessToken, nil
}

// tokenMargin is how long before it expires a token stops being used from
// the cache, so it does not expire on its way to the payments service.
const tokenMargin = 30 * time.Second

// tokenAnswer is the token endpoint's answer, success (RFC 6749, 5.1; RFC
// 8693, 2.2.1) or error (RFC 6749, 5.2).
type tokenAnswer struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Error           string `json:"error"`
}

// errorCode is what an OAuth error code looks like (RFC 6749, A.7), so
// that only such a code, and no other text of the issuer's, reaches a log.
var errorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// requestToken posts form to the token endpoint of issuer and returns its
// answer, which holds a Bearer access token.
func (c *Client) requestToken(ctx context.Context, issuer string, form url.Values) (tokenAnswer, error) {
	var a tokenAnswer
	endpoint, err := c.cfg.TokenEndpoint(ctx, issuer)
	if err != nil {
		return a, fmt.Errorf("%w: the issuer's token endpoint: %w", models.ErrIssuerUnavailable, err)
	}
	// The audience of a client assertion is the token endpoint, as RFC
	// 7523 (section 3) allows, rather than the issuer identifier alone that
	// draft-ietf-oauth-rfc7523bis prefers: Ory Hydra (fosite) accepts an
	// assertion only when its aud names the token endpoint.
	req, err := c.cfg.Client.NewRequest(ctx, endpoint, form, endpoint, time.Now())
	if err != nil {
		return a, fmt.Errorf("%w: %w", models.ErrExchangeRefused, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return a, fmt.Errorf("%w: token request: %w", transportError(err, models.ErrIssuerTimeout, models.ErrIssuerUnavailable), err)
	}
	defer resp.Body.Close()
	derr := json.NewDecoder(io.LimitReader(resp.Body, maxTokenAnswerBytes)).Decode(&a)
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return a, fmt.Errorf("%w: the token endpoint answered %s", models.ErrIssuerUnavailable, resp.Status)
	case resp.StatusCode != http.StatusOK:
		code := "no error code"
		if errorCode.MatchString(a.Error) {
			code = a.Error
		}
		return a, fmt.Errorf("%w: the token endpoint answered %s (%s)", models.ErrExchangeRefused, resp.Status, code)
	case derr != nil || a.AccessToken == "":
		return a, fmt.Errorf("%w: the token endpoint's answer holds no access token", models.ErrExchangeRefused)
	case !strings.EqualFold(a.TokenType, "Bearer"):
		// Not the type itself: it is the issuer's text, of any length.
		return a, fmt.Errorf("%w: the token endpoint issued a token of a type other than Bearer", models.ErrExchangeRefused)
	}
	return a, nil
}

// maxCachedTokens bounds the tokens the cache holds.
const maxCachedTokens = 10_000

// tokenCache keeps tokens for the payments service until shortly before
// they expire, keyed by tokenKey, in an LRU of at most maxCachedTokens, as
// package auth keeps verified tokens: an expired entry is never returned
// and leaves when the LRU needs its room.
type tokenCache struct {
	lru *lru.Cache[[sha256.Size]byte, cachedToken]
}

type cachedToken struct {
	token string
	until time.Time
}

func newTokenCache(n int) *tokenCache {
	c, _ := lru.New[[sha256.Size]byte, cachedToken](n) // n is positive, so this cannot fail
	return &tokenCache{lru: c}
}

func (tc *tokenCache) get(key [sha256.Size]byte, now time.Time) (string, bool) {
	t, ok := tc.lru.Get(key)
	if !ok || !now.Before(t.until) {
		return "", false
	}
	return t.token, true
}

// put keeps token until until, unless that has passed at now.
func (tc *tokenCache) put(key [sha256.Size]byte, token string, now, until time.Time) {
	if now.Before(until) {
		tc.lru.Add(key, cachedToken{token: token, until: until})
	}
}

func (tc *tokenCache) forget(key [sha256.Size]byte) {
	tc.lru.Remove(key)
}
