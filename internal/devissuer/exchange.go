package devissuer

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token exchange (RFC 8693) names.
const (
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// algorithms are those NewKey makes keys for.
func algorithms() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
}

// ExchangePolicy is who may exchange tokens, and for what: one client,
// authenticated with its secret, may exchange bearer access tokens of this
// issuer for the orders API (its audience) for tokens for one audience
// with some of the given scopes. It is what a real provider's
// configuration of token exchange says (a permission on the client, a
// policy on the resource), small enough for development.
type ExchangePolicy struct {
	// Client is the client id that may exchange, and Secret its secret,
	// sent with HTTP Basic (form-encoded first, RFC 6749, 2.3.1) or as
	// client_secret. An empty Secret lets no one exchange.
	Client, Secret string
	// Audience is the one audience it may ask for.
	Audience string
	// Scopes are those it may ask for; asking for none gets them all.
	Scopes []string
}

// SetExchangePolicy makes the issuer exchange tokens as p says; until it
// is called, every exchange is refused.
func (i *Issuer) SetExchangePolicy(p ExchangePolicy) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.exchange = &p
}

func (i *Issuer) exchangePolicy() *ExchangePolicy {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.exchange
}

// exchangeClaims are what the issuer reads of a subject token.
type exchangeClaims struct {
	jwt.RegisteredClaims
	Act map[string]any `json:"act,omitempty"`
	Cnf map[string]any `json:"cnf,omitempty"`
}

// serveExchange answers a token exchange request (RFC 8693, section 2.1)
// of client, as the issuer's ExchangePolicy allows: the client must be the
// policy's, with its secret; the subject token must be a bearer access
// token for the orders API that this issuer signed and that has not
// expired; the audience and scopes must be the policy's. The new token has
// the same subject, the requested audience and scopes, and names client as
// its actor (act.sub), with the subject token's own actor, if any, nested
// below (section 4.1). It lives as long as the subject token still would,
// at most TokenTTL.
func (i *Issuer) serveExchange(w http.ResponseWriter, r *http.Request, client string) {
	policy := i.exchangePolicy()
	if policy == nil || !policy.authenticates(r, client) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "this client may not exchange tokens, or its secret is wrong")
		return
	}
	form := r.PostForm
	if form.Get("subject_token_type") != TokenTypeAccess {
		oauthError(w, http.StatusBadRequest, "invalid_request", "subject_token_type must be "+TokenTypeAccess)
		return
	}
	if t := form.Get("requested_token_type"); t != "" && t != TokenTypeAccess {
		oauthError(w, http.StatusBadRequest, "invalid_request", "only access tokens are issued")
		return
	}
	audience := form.Get("audience")
	if len(form["audience"]) != 1 || audience != policy.Audience {
		oauthError(w, http.StatusBadRequest, "invalid_target", "the one audience this client may ask for is "+policy.Audience)
		return
	}
	scopes := strings.Fields(form.Get("scope"))
	if len(scopes) == 0 {
		scopes = policy.Scopes
	}
	for _, s := range scopes {
		if !slices.Contains(policy.Scopes, s) {
			oauthError(w, http.StatusBadRequest, "invalid_scope", "this client may ask for "+strings.Join(policy.Scopes, " "))
			return
		}
	}
	subject, err := i.verifyOwn(form.Get("subject_token"))
	switch {
	case err != nil:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the subject_token is not a valid access token of this issuer for "+i.audience)
		return
	case subject.Cnf != nil:
		// A bound token's holder proves a key; the new token would be a
		// bearer token anyone holding it could use.
		oauthError(w, http.StatusBadRequest, "invalid_grant", "a sender-constrained (cnf) subject_token is not exchanged for a bearer token")
		return
	}
	act := map[string]any{"sub": client}
	if subject.Act != nil {
		act["act"] = subject.Act
	}
	ttl := min(TokenTTL, time.Until(subject.ExpiresAt.Time).Truncate(time.Second))
	now := time.Now()
	token, err := Sign(i.Keys()[0], nil, jwt.MapClaims{
		"iss": i.url, "sub": subject.Subject, "aud": audience, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(ttl).Unix(), "scope": strings.Join(scopes, " "), "act": act, "client_id": client,
	})
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "cannot sign the token")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      token,
		"issued_token_type": TokenTypeAccess,
		"token_type":        "Bearer",
		"expires_in":        int(ttl.Seconds()),
		"scope":             strings.Join(scopes, " "),
	})
}

// authenticates reports whether the token request r comes from the
// policy's client, named client, with its secret.
func (p *ExchangePolicy) authenticates(r *http.Request, client string) bool {
	secret := r.PostForm.Get("client_secret")
	if _, s, ok := r.BasicAuth(); ok {
		if secret, ok = unescape(s); !ok {
			return false
		}
	}
	id, ok := unescape(client)
	return ok && p.Secret != "" && id == p.Client &&
		subtle.ConstantTimeCompare([]byte(secret), []byte(p.Secret)) == 1
}

// unescape undoes the form-encoding of a client id or secret sent with
// HTTP Basic (RFC 6749, 2.3.1).
func unescape(s string) (string, bool) {
	u, err := url.QueryUnescape(s)
	return u, err == nil
}

// verifyOwn returns the claims of token if this issuer signed it with one of
// its published keys, for the orders API's audience, and it has a subject
// and has not expired.
func (i *Issuer) verifyOwn(token string) (*exchangeClaims, error) {
	var c exchangeClaims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		for _, k := range i.Keys() {
			if t.Header["kid"] == k.ID && t.Method.Alg() == k.Alg {
				return k.Signer.Public(), nil
			}
		}
		return nil, errors.New("unknown key")
	}, jwt.WithIssuer(i.url), jwt.WithAudience(i.audience), jwt.WithExpirationRequired(), jwt.WithValidMethods(algorithms()))
	if err != nil {
		return nil, err
	}
	if c.Subject == "" {
		return nil, errors.New("no subject")
	}
	return &c, nil
}
