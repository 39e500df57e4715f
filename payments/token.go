package payments

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/models"
)

// Parameters of token exchange (RFC 8693, sections 2.1 and 3) and of
// private_key_jwt (RFC 7523, section 2.2).
const (
	grantTokenExchange  = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess     = "urn:ietf:params:oauth:token-type:access_token"
	assertionTypeJWT    = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	maxTokenAnswerBytes = 64 << 10
	// assertionTTL is how long a client assertion is valid: it is used at
	// once, and a short life limits a replay.
	assertionTTL = time.Minute
)

// ClientAuth is the API's client at the issuer, and how it proves it:
// client_secret_basic with Secret, or private_key_jwt with Key.
type ClientAuth struct {
	ID string
	// Secret is sent with HTTP Basic, both parts form-encoded first (RFC
	// 6749, section 2.3.1).
	Secret string
	// Key signs a client assertion (RFC 7523) instead: RSA (RS256), ECDSA
	// P-256 (ES256) or Ed25519 (EdDSA); KeyID is its kid, if the issuer
	// wants one.
	Key   crypto.Signer
	KeyID string
}

func (a ClientAuth) check() error {
	switch {
	case a.ID == "":
		return errors.New("payments: no client id")
	case (a.Secret == "") == (a.Key == nil):
		return errors.New("payments: the client needs either a secret or a private key, not both")
	}
	if a.Key != nil {
		if _, err := assertionMethod(a.Key); err != nil {
			return err
		}
	}
	return nil
}

// assertionMethod is the algorithm that signs client assertions with key.
func assertionMethod(key crypto.Signer) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return jwt.SigningMethodRS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve == elliptic.P256() {
			return jwt.SigningMethodES256, nil
		}
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, nil
	}
	return nil, fmt.Errorf("payments: a client key of type %T cannot sign; use RSA, ECDSA P-256 or Ed25519", key)
}

// authenticate adds the client's credentials to the token request r with
// form, for the token endpoint endpoint.
func (a ClientAuth) authenticate(r *http.Request, form url.Values, endpoint string) error {
	if a.Key == nil {
		r.SetBasicAuth(url.QueryEscape(a.ID), url.QueryEscape(a.Secret))
		return nil
	}
	method, err := assertionMethod(a.Key)
	if err != nil {
		return err
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return err
	}
	now := time.Now()
	t := jwt.NewWithClaims(method, jwt.RegisteredClaims{
		Issuer: a.ID, Subject: a.ID, Audience: jwt.ClaimStrings{endpoint},
		ID: base64.RawURLEncoding.EncodeToString(jti), IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(assertionTTL)),
	})
	if a.KeyID != "" {
		t.Header["kid"] = a.KeyID
	}
	assertion, err := t.SignedString(a.Key)
	if err != nil {
		return fmt.Errorf("sign the client assertion: %w", err)
	}
	form.Set("client_id", a.ID)
	form.Set("client_assertion_type", assertionTypeJWT)
	form.Set("client_assertion", assertion)
	return nil
}

// token returns the cache key and a token for the payments service on
// behalf of the caller whose token is callerToken: from the cache, or from
// the issuer.
func (c *Client) token(ctx context.Context, callerToken string) ([sha256.Size]byte, string, error) {
	key := c.tokenKey(callerToken)
	if t, ok := c.tokens.get(key, time.Now()); ok {
		return key, t, nil
	}
	form := url.Values{"audience": {c.cfg.Audience}}
	if c.cfg.Scope != "" {
		form.Set("scope", c.cfg.Scope)
	}
	if c.cfg.Mode == Exchange {
		form.Set("grant_type", grantTokenExchange)
		form.Set("subject_token", callerToken)
		form.Set("subject_token_type", tokenTypeAccess)
		form.Set("requested_token_type", tokenTypeAccess)
	} else {
		form.Set("grant_type", "client_credentials")
	}
	t, ttl, err := c.requestToken(ctx, form)
	if err != nil {
		return key, "", err
	}
	c.tokens.put(key, t, time.Now().Add(ttl-min(ttl/2, tokenMargin)))
	return key, t, nil
}

// tokenMargin is how long before it expires a token stops being used from
// the cache, so it does not expire on its way to the payments service.
const tokenMargin = 30 * time.Second

// tokenAnswer is the token endpoint's answer, success (RFC 6749, 5.1; RFC
// 8693, 2.2.1) or error (RFC 6749, 5.2).
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Error       string `json:"error"`
}

// errorCode is what an OAuth error code looks like (RFC 6749, A.7), so
// that only such a code, and no other text of the issuer's, reaches a log.
var errorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// requestToken posts form to the issuer's token endpoint and returns the
// access token and how long it lives (0 when the issuer does not say).
func (c *Client) requestToken(ctx context.Context, form url.Values) (string, time.Duration, error) {
	endpoint, err := c.cfg.TokenEndpoint(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("%w: the issuer's token endpoint: %w", models.ErrPaymentUnavailable, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", models.ErrExchangeRefused, err)
	}
	if err := c.cfg.Client.authenticate(req, form, endpoint); err != nil {
		return "", 0, fmt.Errorf("%w: %w", models.ErrExchangeRefused, err)
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("%w: token request: %w", transportError(err), err)
	}
	defer resp.Body.Close()
	var a tokenAnswer
	derr := json.NewDecoder(io.LimitReader(resp.Body, maxTokenAnswerBytes)).Decode(&a)
	switch {
	case resp.StatusCode >= 500:
		return "", 0, fmt.Errorf("%w: the token endpoint answered %s", models.ErrPaymentUnavailable, resp.Status)
	case resp.StatusCode != http.StatusOK:
		code := "no error code"
		if errorCode.MatchString(a.Error) {
			code = a.Error
		}
		return "", 0, fmt.Errorf("%w: the token endpoint answered %s (%s)", models.ErrExchangeRefused, resp.Status, code)
	case derr != nil || a.AccessToken == "":
		return "", 0, fmt.Errorf("%w: the token endpoint's answer holds no access token", models.ErrExchangeRefused)
	case !strings.EqualFold(a.TokenType, "Bearer"):
		return "", 0, fmt.Errorf("%w: the token endpoint issued a token of type %q, not Bearer", models.ErrExchangeRefused, a.TokenType)
	}
	return a.AccessToken, time.Duration(max(a.ExpiresIn, 0)) * time.Second, nil
}

// maxCachedTokens bounds the tokens the cache holds.
const maxCachedTokens = 10_000

// tokenCache keeps tokens for the payments service until shortly before
// they expire, keyed by tokenKey.
type tokenCache struct {
	max int
	mu  sync.Mutex
	m   map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	token string
	until time.Time
}

func newTokenCache(n int) *tokenCache {
	return &tokenCache{max: n, m: map[[sha256.Size]byte]cachedToken{}}
}

func (tc *tokenCache) get(key [sha256.Size]byte, now time.Time) (string, bool) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	t, ok := tc.m[key]
	if !ok || !now.Before(t.until) {
		return "", false
	}
	return t.token, true
}

// put keeps token until until, unless that has passed. When the cache is
// full it drops the expired tokens, then, if it is still full, any one.
func (tc *tokenCache) put(key [sha256.Size]byte, token string, until time.Time) {
	now := time.Now()
	if !now.Before(until) {
		return
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if len(tc.m) >= tc.max {
		for k, t := range tc.m {
			if !now.Before(t.until) {
				delete(tc.m, k)
			}
		}
		for k := range tc.m {
			if len(tc.m) < tc.max {
				break
			}
			delete(tc.m, k)
		}
	}
	tc.m[key] = cachedToken{token: token, until: until}
}

func (tc *tokenCache) forget(key [sha256.Size]byte) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	delete(tc.m, key)
}
