// Package clientauth authenticates the API to an OAuth issuer as a
// confidential client, at the token endpoint (RFC 8693 exchange,
// client_credentials) and the introspection endpoint (RFC 7662) alike:
// client_secret_basic (RFC 6749, section 2.3.1) or private_key_jwt (RFC
// 7523). It owns the credentials, the signing key's parsing and checks, and
// the request that carries them.
//
// It never puts the secret, the key or a client assertion in an error.
// Which audience an assertion names is the caller's choice: issuers differ.
package clientauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// AssertionType is the client_assertion_type of private_key_jwt (RFC
	// 7523, section 2.2).
	AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionLifetime is how long a client assertion is valid: it is
	// used at once, and a short life limits a replay.
	assertionLifetime = time.Minute
)

// Credentials are the API's client at an issuer and how it proves it:
// client_secret_basic with Secret, or private_key_jwt with Key.
type Credentials struct {
	// ID is the client id. Required.
	ID string
	// Secret is sent with HTTP Basic, the id and the secret each
	// form-urlencoded first (RFC 6749, section 2.3.1); exactly one of
	// Secret and Key is set.
	Secret string
	// Key signs a client assertion (RFC 7523) instead.
	Key *Key
}

// Check returns why c cannot authenticate: no id, not exactly one of a
// secret and a key, or a key whose Alg is not the one ParseKey would give
// its Signer.
func (c Credentials) Check() error {
	switch {
	case c.ID == "":
		return errors.New("a client id is required")
	case (c.Secret == "") == (c.Key == nil):
		return errors.New("exactly one of a client secret and a client key is required")
	case c.Key == nil:
		return nil
	case c.Key.Signer == nil:
		return errors.New("the client key has no signer")
	}
	alg, err := algorithmOf(c.Key.Signer)
	switch {
	case err != nil:
		return err
	case alg != c.Key.Alg:
		return fmt.Errorf("the client key signs with %s, not %q", alg, c.Key.Alg)
	}
	return nil
}

// NewRequest returns a POST of form to endpoint, a token or introspection
// endpoint, authenticated by c: with client_secret_basic's Authorization
// header, or with a client assertion for aud, issued at now, added to form.
// It accepts JSON. Its errors name neither the secret nor the assertion.
func (c Credentials) NewRequest(ctx context.Context, endpoint string, form url.Values, aud string, now time.Time) (*http.Request, error) {
	if c.Key != nil {
		assertion, err := c.assertion(aud, now)
		if err != nil {
			return nil, fmt.Errorf("client assertion: %w", err)
		}
		form.Set("client_id", c.ID)
		form.Set("client_assertion_type", AssertionType)
		form.Set("client_assertion", assertion)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%s is not a URL", endpoint)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.Key == nil {
		req.Header.Set("Authorization", BasicAuth(c.ID, c.Secret))
	}
	return req, nil
}

// assertion returns a client assertion (RFC 7523, section 3) for one
// request: issued by the client about itself, for aud as a single string,
// valid for a minute from now, with a jti of its own, and the key's kid
// when it has one.
func (c Credentials) assertion(aud string, now time.Time) (string, error) {
	claims := jwt.MapClaims{
		"iss": c.ID,
		"sub": c.ID,
		"aud": aud,
		"jti": rand.Text(),
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	}
	method := jwt.GetSigningMethod(c.Key.Alg)
	if method == nil {
		return "", fmt.Errorf("no signing method %q", c.Key.Alg)
	}
	t := jwt.NewWithClaims(method, claims)
	if c.Key.ID != "" {
		t.Header["kid"] = c.Key.ID
	}
	return t.SignedString(c.Key.Signer)
}

// BasicAuth returns the Authorization header of client_secret_basic: the
// client id and secret each form-urlencoded (RFC 6749, section 2.3.1), then
// joined by a colon and base64-encoded (RFC 7617).
func BasicAuth(id, secret string) string {
	pair := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(pair))
}
