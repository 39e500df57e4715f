package authtest

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/clientauth"
)

// IntrospectionPath is where the IdP answers introspection requests (RFC
// 7662), below its issuer URL; discovery names it.
const IntrospectionPath = "/introspect"

// ClientID is the client id the IdP knows the API by, for introspection.
const ClientID = "orders api"

// introspection is the IdP's introspection endpoint and the tokens it
// knows.
type introspection struct {
	mu sync.Mutex
	// answers are the answers about the opaque tokens issued, by token.
	answers map[string][]byte
	// revoked are the tokens revoked, opaque or JWT.
	revoked map[string]bool
	// secret is the API's client secret; keys its client keys, by kid.
	secret string
	keys   map[string]crypto.PublicKey
	// assertions are the jti of client assertions used; assertionAud is
	// the aud they must name, "" for the issuer.
	assertions   map[string]bool
	assertionAud string
	calls        int64
	fault        http.HandlerFunc
}

func newIntrospection() *introspection {
	// The secret holds characters that client_secret_basic must
	// form-urlencode (RFC 6749, section 2.3.1).
	return &introspection{
		answers: map[string][]byte{}, revoked: map[string]bool{}, keys: map[string]crypto.PublicKey{}, assertions: map[string]bool{},
		secret: "s3cr:t+/ " + rand.Text(),
	}
}

// ClientSecret is the API's client secret at the IdP, random per IdP.
func (p *IdP) ClientSecret() string { return p.intro.secret }

// IntrospectionURL is the IdP's introspection endpoint.
func (p *IdP) IntrospectionURL() string {
	return strings.TrimSuffix(p.URL(), "/") + IntrospectionPath
}

// TrustIntrospecting is Trust with introspection through discovery,
// authenticated with ClientID and ClientSecret (client_secret_basic).
func (p *IdP) TrustIntrospecting() auth.Issuer {
	iss := p.Trust()
	iss.Introspection = auth.Introspection{ClientID: ClientID, ClientSecret: p.ClientSecret()}
	return iss
}

// RegisterClientKey lets the API authenticate with client assertions
// signed by the private half of pub, named kid (private_key_jwt).
func (p *IdP) RegisterClientKey(kid string, pub crypto.PublicKey) {
	p.intro.mu.Lock()
	defer p.intro.mu.Unlock()
	p.intro.keys[kid] = pub
}

// audience is the aud client assertions must name, one string.
func (in *introspection) audience(issuer string) string {
	if in.assertionAud != "" {
		return in.assertionAud
	}
	return issuer
}

// ExpectAssertionAudience makes the introspection endpoint want client
// assertions for aud instead of the issuer.
func (p *IdP) ExpectAssertionAudience(aud string) {
	p.intro.mu.Lock()
	defer p.intro.mu.Unlock()
	p.intro.assertionAud = aud
}

// NewClientKey generates a client key, registers it and returns it.
func (p *IdP) NewClientKey(tb testing.TB, alg string) *clientauth.Key {
	tb.Helper()
	k := NewKey(tb, "client-"+alg, alg)
	p.RegisterClientKey(k.ID, k.Signer.Public())
	return &clientauth.Key{Signer: k.Signer, Alg: k.Alg, ID: k.ID}
}

// OpaqueToken returns a new random opaque token that the introspection
// endpoint describes with c's claims and "active": true, as ClaimsMap
// makes them; c.Extra may replace or Omit active too.
func (p *IdP) OpaqueToken(tb testing.TB, c Claims) string {
	tb.Helper()
	m := p.ClaimsMap(Claims{Subject: c.Subject, Scope: c.Scope})
	m["active"] = true
	maps.Copy(m, c.Extra)
	for k, v := range m {
		if v == Omit {
			delete(m, k)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return p.OpaqueTokenAnswer(tb, b)
}

// SealedToken is OpaqueToken shaped as zitadel/oidc's opaque tokens are: a
// JWE sealed with a key of the IdP's own (alg A256GCMKW), random inside.
func (p *IdP) SealedToken(tb testing.TB, c Claims) string {
	tb.Helper()
	token := p.OpaqueToken(tb, c)
	p.intro.mu.Lock()
	defer p.intro.mu.Unlock()
	enc := base64.RawURLEncoding
	sealed := enc.EncodeToString([]byte(`{"alg":"A256GCMKW","enc":"A256GCM"}`)) + "." +
		enc.EncodeToString([]byte(rand.Text())) + "." + enc.EncodeToString([]byte(rand.Text())) + "." +
		enc.EncodeToString([]byte(rand.Text())) + "." + enc.EncodeToString([]byte(rand.Text()))
	p.intro.answers[sealed] = p.intro.answers[token]
	return sealed
}

// OpaqueTokenAnswer returns a new random opaque token that the
// introspection endpoint answers with body as it is, for answers that
// encoding/json would not make.
func (p *IdP) OpaqueTokenAnswer(tb testing.TB, body []byte) string {
	tb.Helper()
	// Hydra's shape: a prefix, then two random parts joined by a dot.
	token := "opaque_at_" + rand.Text() + "." + strings.ToLower(rand.Text())
	p.intro.mu.Lock()
	defer p.intro.mu.Unlock()
	p.intro.answers[token] = body
	return token
}

// Revoke makes the introspection endpoint answer that token, opaque or a
// JWT of the IdP, is not active.
func (p *IdP) Revoke(token string) {
	p.intro.mu.Lock()
	defer p.intro.mu.Unlock()
	p.intro.revoked[token] = true
}

// IntrospectionCalls counts the requests to the introspection endpoint.
func (p *IdP) IntrospectionCalls() int64 {
	p.intro.mu.Lock()
	defer p.intro.mu.Unlock()
	return p.intro.calls
}

// SetIntrospectionFault makes the introspection endpoint alone answer with
// f (see Status, Hang, Reset, Body and Redirect); nil makes it work again.
func (p *IdP) SetIntrospectionFault(f http.HandlerFunc) {
	p.intro.mu.Lock()
	defer p.intro.mu.Unlock()
	p.intro.fault = f
}

// serveIntrospection answers an introspection request (RFC 7662, section
// 2): 400 unless it is a form POST that accepts JSON and hints an access
// token, as the API's always are; 401 unless the client authenticates;
// else what it knows of the token: its answer, inactive once revoked; for
// a JWT it signed, the JWT's claims; else inactive.
func (p *IdP) serveIntrospection(w http.ResponseWriter, r *http.Request) {
	p.intro.mu.Lock()
	p.intro.calls++
	fault := p.intro.fault
	p.intro.mu.Unlock()
	if fault != nil {
		fault(w, r)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
		http.Error(w, "a form POST is required", http.StatusBadRequest)
		return
	}
	if r.Header.Get("Accept") != "application/json" || r.PostForm.Get("token_type_hint") != "access_token" || len(r.PostForm["token"]) != 1 {
		http.Error(w, "one token, hinted access_token, answered in JSON, is required", http.StatusBadRequest)
		return
	}
	if err := p.authenticateClient(r); err != nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="introspection"`)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	token := r.PostForm.Get("token")
	w.Header().Set("Content-Type", "application/json")
	p.intro.mu.Lock()
	answer, known := p.intro.answers[token]
	revoked := p.intro.revoked[token]
	p.intro.mu.Unlock()
	switch {
	case revoked:
		answer = []byte(`{"active":false}`)
	case !known:
		answer = p.jwtAnswer(token)
	}
	_, _ = w.Write(answer) // a client that went away has no use for it
}

// jwtAnswer describes a JWT the IdP signed as active with its claims, and
// any other token as inactive.
func (p *IdP) jwtAnswer(token string) []byte {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		for _, k := range p.Keys() {
			if k.ID == t.Header["kid"] {
				return k.Signer.Public(), nil
			}
		}
		return nil, errors.New("unknown key")
	})
	if err != nil {
		return []byte(`{"active":false}`)
	}
	claims["active"] = true
	b, err := json.Marshal(claims)
	if err != nil {
		return []byte(`{"active":false}`)
	}
	return b
}

// authenticateClient accepts client_secret_basic with the form-urlencoded
// ClientID and ClientSecret, or a client assertion (RFC 7523) by a
// registered key whose aud is the issuer (or what ExpectAssertionAudience
// set), as a single string, and that is used once.
func (p *IdP) authenticateClient(r *http.Request) error {
	if id, secret, ok := r.BasicAuth(); ok {
		id, idErr := url.QueryUnescape(id)
		secret, secretErr := url.QueryUnescape(secret)
		if idErr != nil || secretErr != nil || id != ClientID || secret != p.intro.secret {
			return errors.New("invalid client credentials")
		}
		return nil
	}
	if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return errors.New("no client authentication")
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(r.PostForm.Get("client_assertion"), claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		p.intro.mu.Lock()
		defer p.intro.mu.Unlock()
		if k, ok := p.intro.keys[kid]; ok {
			return k, nil
		}
		return nil, errors.New("unknown client key")
	}, jwt.WithValidMethods(assertionAlgorithms), jwt.WithIssuer(ClientID), jwt.WithSubject(ClientID),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		return err
	}
	p.intro.mu.Lock()
	defer p.intro.mu.Unlock()
	jti, _ := claims["jti"].(string)
	if aud, _ := claims["aud"].(string); aud != p.intro.audience(p.URL()) {
		return errors.New("the client assertion's aud is not the one expected, as a single string")
	}
	if jti == "" || p.intro.assertions[jti] {
		return errors.New("client assertion without jti, or used before")
	}
	p.intro.assertions[jti] = true
	return nil
}

// assertionAlgorithms are the algorithms client assertions may use.
var assertionAlgorithms = []string{"RS256", "ES256", "ES384", "ES512", "EdDSA"}

// serveDiscovery serves the issuer's discovery document with its
// introspection endpoint added.
func (p *IdP) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	p.handler.ServeHTTP(rec, r)
	doc := map[string]any{}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		http.Error(w, "discovery: "+err.Error(), http.StatusInternalServerError)
		return
	}
	doc["introspection_endpoint"] = p.IntrospectionURL()
	maps.Copy(w.Header(), rec.Header())
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_ = json.NewEncoder(w).Encode(doc) // a client that went away has no use for it
}
