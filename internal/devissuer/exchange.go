package devissuer

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token exchange (RFC 8693) names.
const (
	GrantTokenExchange  = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccess     = "urn:ietf:params:oauth:token-type:access_token"
	maxExchangeAudience = 256
)

// algorithms are those NewKey makes keys for.
var algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// exchangeClaims are what the issuer reads of a subject token.
type exchangeClaims struct {
	jwt.RegisteredClaims
	Act map[string]any `json:"act,omitempty"`
}

// serveExchange answers a token exchange request (RFC 8693, section 2.1)
// of client: the subject token must be an access token this issuer signed
// and that has not expired; the new token has the same subject, the
// requested audience and scopes, and names client as its actor (act.sub),
// with the subject token's own actor, if any, nested below (section 4.1).
// It lives as long as the subject token still would, at most TokenTTL.
func (i *Issuer) serveExchange(w http.ResponseWriter, r *http.Request, client string) {
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
	if audience == "" || len(audience) > maxExchangeAudience || len(form["audience"]) > 1 {
		oauthError(w, http.StatusBadRequest, "invalid_target", "one audience is required")
		return
	}
	subject, err := i.verifyOwn(form.Get("subject_token"))
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "the subject_token is not a valid access token of this issuer")
		return
	}
	act := map[string]any{"sub": client}
	if subject.Act != nil {
		act["act"] = subject.Act
	}
	ttl := min(TokenTTL, time.Until(subject.ExpiresAt.Time).Truncate(time.Second))
	scopes := strings.Fields(form.Get("scope"))
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

// verifyOwn returns the claims of token if this issuer signed it with one of
// its published keys and it has a subject and has not expired.
func (i *Issuer) verifyOwn(token string) (*exchangeClaims, error) {
	var c exchangeClaims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		for _, k := range i.Keys() {
			if t.Header["kid"] == k.ID && t.Method.Alg() == k.Alg {
				return k.Signer.Public(), nil
			}
		}
		return nil, errors.New("unknown key")
	}, jwt.WithIssuer(i.url), jwt.WithExpirationRequired(), jwt.WithValidMethods(algorithms))
	if err != nil {
		return nil, err
	}
	if c.Subject == "" {
		return nil, errors.New("no subject")
	}
	return &c, nil
}
