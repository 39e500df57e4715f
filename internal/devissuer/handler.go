package devissuer

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coffeemesh/orders/auth/dpop"
)

// Paths the issuer serves, below its URL.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/jwks.json"
	TokenPath     = "/token"
)

// TokenTTL is how long a token from the token endpoint lives.
const TokenTTL = time.Hour

// clientID is what a dev client may call itself; it becomes the token's sub.
var clientID = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// Handler serves discovery, the JWKS, the authorization endpoint and the
// token endpoint.
//
// The token endpoint implements the client_credentials grant (RFC 6749,
// section 4.4) for any client id: dev clients are public, since the issuer
// runs on loopback only and its keys die with the process. The token's sub is
// the client id, and its scopes those asked for (all by default). It also
// redeems codes of the authorization code flow with PKCE, whose login page
// lets the developer pick the subject and the scopes. A token request with a
// DPoP proof (RFC 9449, section 5) gets a token bound to the proof's key
// (cnf.jkt) and token_type DPoP; a request with a bad proof gets
// invalid_dpop_proof. Browsers may call the token endpoint from any
// loopback origin, as the /docs page does. It also exchanges its own access
// tokens for tokens for another audience (RFC 8693; see serveExchange).
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DiscoveryPath, i.serveDiscovery)
	mux.HandleFunc("GET "+JWKSPath, i.serveJWKS)
	mux.HandleFunc("GET "+AuthorizePath, i.serveAuthorize)
	mux.HandleFunc("POST "+AuthorizePath, i.serveAuthorize)
	mux.HandleFunc("POST "+TokenPath, i.serveToken)
	mux.HandleFunc("OPTIONS "+TokenPath, allowBrowsers)
	return mux
}

// allowOrigin lets pages served from loopback (the API's /docs) read the
// token endpoint's answers; pages of other origins cannot.
func allowOrigin(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); loopbackRedirect(origin) {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Add("Vary", "Origin")
	}
}

// allowBrowsers answers a CORS preflight for the token endpoint.
func allowBrowsers(w http.ResponseWriter, r *http.Request) {
	allowOrigin(w, r)
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Requested-With, DPoP")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	base := strings.TrimSuffix(i.url, "/")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.url,
		"jwks_uri":                              base + JWKSPath,
		"token_endpoint":                        base + TokenPath,
		"authorization_endpoint":                base + AuthorizePath,
		"grant_types_supported":                 []string{"client_credentials", "authorization_code", GrantTokenExchange},
		"token_endpoint_auth_methods_supported": []string{"none", "client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      i.scopes,
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{i.Keys()[0].Alg},
		"dpop_signing_alg_values_supported":     dpop.DefaultAlgorithms(),
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	body, err := i.JWKS()
	if err != nil {
		http.Error(w, "cannot marshal keys", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(body) // the client has gone if this fails; nothing to do
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be a form")
		return
	}
	allowOrigin(w, r)
	id, _, hasBasic := r.BasicAuth()
	switch form := r.PostForm.Get("client_id"); {
	case !hasBasic:
		id = form
	case form != "" && form != id:
		// RFC 6749, 2.3: one client per request, not one in each place.
		oauthError(w, http.StatusBadRequest, "invalid_request", "the client is named twice, differently, in Basic auth and client_id")
		return
	}
	if !clientID.MatchString(id) {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client_id must be 1 to 64 letters, digits or ._@-")
		return
	}
	jkt, err := i.proofKey(r)
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_dpop_proof", err.Error())
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
	case "authorization_code":
		g, ok := i.redeem(r.PostForm, id)
		if !ok {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the code is unknown, used, expired, or not for this client, redirect_uri or code_verifier")
			return
		}
		i.issueFor(w, g.subject, g.scopes, TokenTTL, withJKT(nil, jkt))
		return
	case GrantTokenExchange:
		i.serveExchange(w, r, id)
		return
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials, authorization_code and token exchange are supported")
		return
	}
	scopes := i.scopes
	if s := r.PostForm.Get("scope"); s != "" {
		scopes = strings.Fields(s)
		for _, sc := range scopes {
			if !slices.Contains(i.scopes, sc) {
				oauthError(w, http.StatusBadRequest, "invalid_scope", "unknown scope; this issuer knows "+strings.Join(i.scopes, " "))
				return
			}
		}
	}
	ttl := TokenTTL
	if s := r.PostForm.Get("ttl"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > maxTTL {
			oauthError(w, http.StatusBadRequest, "invalid_request", "ttl must be a duration up to 24h")
			return
		}
		ttl = d
	}
	cnf, ok := certBinding(r)
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_request", CertThumbprintParam+" must be a SHA-256 thumbprint, base64url without padding, sent from loopback")
		return
	}
	i.issueFor(w, id, scopes, ttl, withJKT(cnf, jkt))
}

// CertThumbprintParam is the token request's form parameter that asks for
// a token bound to the client certificate of that SHA-256 thumbprint
// (RFC 8705, section 3.1): the token's cnf["x5t#S256"]. Since the issuer
// checks no certificate, it takes the parameter only from loopback, from
// the developer's own machine.
const CertThumbprintParam = "cnf_x5t_s256"

// certBinding returns the cnf claim the token request r asks for, nil for
// none, and false when the request may not ask for it or names no
// thumbprint.
func certBinding(r *http.Request) (map[string]any, bool) {
	x5t := r.PostForm.Get(CertThumbprintParam)
	if x5t == "" {
		return nil, true
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	sum, derr := base64.RawURLEncoding.DecodeString(x5t)
	if err != nil || !peer.Addr().Unmap().IsLoopback() || derr != nil || len(sum) != sha256.Size {
		return nil, false
	}
	return map[string]any{"x5t#S256": x5t}, true
}

// withJKT adds to the confirmation claim cnf (nil for none) the DPoP key
// thumbprint jkt, unless it is "".
func withJKT(cnf map[string]any, jkt string) map[string]any {
	if jkt == "" {
		return cnf
	}
	if cnf == nil {
		cnf = map[string]any{}
	}
	cnf["jkt"] = jkt
	return cnf
}

// maxTTL bounds the lifetime a dev client may ask for.
const maxTTL = 24 * time.Hour

// proofKey checks the DPoP proof of token request r, if it has one (RFC
// 9449, section 5), and returns the thumbprint of its key, which the token
// is then bound to; "" when r has no proof.
func (i *Issuer) proofKey(r *http.Request) (string, error) {
	proofs := r.Header.Values("DPoP")
	switch {
	case len(proofs) == 0:
		return "", nil
	case len(proofs) > 1:
		return "", errors.New("a token request carries at most one DPoP header")
	}
	p, err := i.proofs.Check(proofs[0], dpop.Request{Method: r.Method, URL: strings.TrimSuffix(i.url, "/") + TokenPath})
	if err == nil {
		err = i.proofs.Use(r.Context(), p)
	}
	if err != nil {
		return "", fmt.Errorf("the DPoP proof is refused: %w", err)
	}
	return p.Thumbprint, nil
}

// issueFor answers a token request with a token for subject with scopes,
// valid for ttl, with the confirmation claim cnf unless nil.
func (i *Issuer) issueFor(w http.ResponseWriter, subject string, scopes []string, ttl time.Duration, cnf map[string]any) {
	token, err := i.mint(subject, scopes, ttl, cnf)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", "cannot sign the token")
		return
	}
	tokenType := "Bearer"
	if _, bound := cnf["jkt"]; bound {
		tokenType = "DPoP"
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token,
		"token_type":   tokenType,
		"expires_in":   int(ttl.Seconds()),
		"scope":        strings.Join(scopes, " "),
	})
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client has gone if this fails; nothing to do
}
