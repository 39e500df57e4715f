// Package authtest runs an in-test identity provider: a devissuer.Issuer
// behind an httptest.Server on 127.0.0.1 that serves OpenID discovery and a
// real JWKS, signs real tokens, issues opaque tokens that its introspection
// endpoint describes and revokes, and can be made to fail or rotate its
// keys.
// It is for tests only.
package authtest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/internal/devissuer"
)

// Audience is the audience of the IdP's tokens, and the one its Config
// accepts.
const Audience = "https://orders.test/api"

// IdP is an identity provider for one test.
type IdP struct {
	*devissuer.Issuer
	// Server serves discovery at /.well-known/openid-configuration, the
	// JWKS at /jwks.json and introspection at IntrospectionPath.
	Server *httptest.Server

	handler     http.Handler
	jwksFetches atomic.Int64
	fault       atomic.Pointer[http.HandlerFunc]
	intro       *introspection
}

// NewIdP starts an IdP that signs with a fresh RS256 key, and stops it when
// the test ends. Its issuer is the server's URL.
func NewIdP(tb testing.TB) *IdP {
	tb.Helper()
	return NewIdPAt(tb, "")
}

// NewIdPAt is NewIdP with an issuer that is the server's URL followed by
// path, such as "/" (Auth0's trailing slash) or "/realms/coffeemesh"
// (Keycloak); discovery and the JWKS are served below it.
func NewIdPAt(tb testing.TB, path string) *IdP {
	tb.Helper()
	p := &IdP{intro: newIntrospection()}
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	iss, err := devissuer.New("http://"+p.Server.Listener.Addr().String()+path, Audience, []string{"orders:read", "orders:write"})
	if err != nil {
		tb.Fatalf("new issuer: %v", err)
	}
	p.Issuer, p.handler = iss, http.StripPrefix(strings.TrimSuffix(path, "/"), iss.Handler())
	p.Server.Start()
	tb.Cleanup(p.Server.Close)
	return p
}

func (p *IdP) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, devissuer.JWKSPath) {
		p.jwksFetches.Add(1)
	}
	if f := p.fault.Load(); f != nil {
		(*f)(w, r)
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, IntrospectionPath):
		p.serveIntrospection(w, r)
	case strings.HasSuffix(r.URL.Path, devissuer.DiscoveryPath):
		p.serveDiscovery(w, r)
	default:
		p.handler.ServeHTTP(w, r)
	}
}

// SetFault makes every endpoint answer with f instead (see Status, Hang,
// Reset, Body and Redirect); nil makes the IdP work again.
func (p *IdP) SetFault(f http.HandlerFunc) {
	if f == nil {
		p.fault.Store(nil)
		return
	}
	p.fault.Store(&f)
}

// SetFailing makes every endpoint answer 500 (true) or work again (false).
func (p *IdP) SetFailing(failing bool) {
	if failing {
		p.SetFault(Status(http.StatusInternalServerError))
	} else {
		p.SetFault(nil)
	}
}

// Status is a fault that answers with status.
func Status(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, http.StatusText(status), status)
	}
}

// Hang is a fault that never answers, until the client gives up (or ten
// seconds pass, so the test server can still close).
func Hang(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

// Reset is a fault that closes the connection without an answer.
func Reset(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// Body is a fault that answers 200 with the given content type and body.
func Body(contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(body))
	}
}

// Redirect is a fault that redirects every request to url.
func Redirect(url string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, url, http.StatusFound)
	}
}

// JWKSFetches counts the requests for the JWKS so far.
func (p *IdP) JWKSFetches() int64 { return p.jwksFetches.Load() }

// Config returns a verifier configuration that trusts this IdP (only)
// through OIDC discovery, with the verified-token cache on, as in
// production.
func (p *IdP) Config() auth.Config {
	return auth.Config{Issuers: []auth.Issuer{p.Trust()}, Leeway: auth.DefaultLeeway, CacheSize: auth.DefaultCacheSize}
}

// Trust returns the issuer configuration that trusts this IdP's tokens
// for Audience, found through OIDC discovery.
func (p *IdP) Trust() auth.Issuer {
	return auth.Issuer{URL: p.URL(), Audiences: []string{Audience}}
}

// NewVerifier returns a verifier for Config whose key refresh stops with the
// test.
func (p *IdP) NewVerifier(tb testing.TB) *auth.Verifier {
	tb.Helper()
	v, err := auth.NewVerifier(p.Config(), Discard())
	if err != nil {
		tb.Fatalf("new verifier: %v", err)
	}
	return v
}

// Discard is a logger that drops everything.
func Discard() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Omit, as the value of an Extra claim, removes that claim.
const Omit = omit("omit")

type omit string

// Claims describe a token. Zero fields take the defaults of a valid token:
// this IdP's issuer and audience, issued now, expiring in an hour.
type Claims struct {
	Subject string
	Scope   string
	// Extra claims are added last; they replace defaults, and Omit removes
	// one.
	Extra map[string]any
}

// Token returns a token for c signed with the IdP's current key.
func (p *IdP) Token(tb testing.TB, c Claims) string {
	tb.Helper()
	return p.Sign(tb, p.Keys()[0], nil, p.ClaimsMap(c))
}

// ClaimsMap returns the claim set of c.
func (p *IdP) ClaimsMap(c Claims) jwt.MapClaims {
	now := time.Now()
	m := jwt.MapClaims{
		"iss": p.URL(),
		"sub": c.Subject,
		"aud": Audience,
		"iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
	if c.Scope != "" {
		m["scope"] = c.Scope
	}
	maps.Copy(m, c.Extra)
	for k, v := range m {
		if v == Omit {
			delete(m, k)
		}
	}
	return m
}

// Sign signs claims with key, with header parameters added to (or replacing)
// its alg, kid and typ; a header value of Omit removes that parameter.
func (p *IdP) Sign(tb testing.TB, key devissuer.Key, header map[string]any, claims jwt.Claims) string {
	tb.Helper()
	h := make(map[string]any, len(header))
	for k, v := range header {
		if v == Omit {
			v = nil
		}
		h[k] = v
	}
	tok, err := devissuer.Sign(key, h, claims)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return tok
}

// Compact assembles a token from a header, claims and signature as given,
// for tokens no honest signer would make (alg none, forged signatures).
func Compact(tb testing.TB, header, claims any, signature []byte) string {
	tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(signature)
}

// NewKey generates a key, failing the test on error.
func NewKey(tb testing.TB, kid, alg string) devissuer.Key {
	tb.Helper()
	k, err := devissuer.NewKey(kid, alg)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// SignBytes signs a header and payload given as raw JSON with key, for
// claim sets that encoding/json would not produce (duplicate names).
func SignBytes(tb testing.TB, key devissuer.Key, header, payload []byte) string {
	tb.Helper()
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sig, err := jwt.GetSigningMethod(key.Alg).Sign(signing, key.Signer)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return signing + "." + enc.EncodeToString(sig)
}
