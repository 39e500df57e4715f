package tests

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
)

// realOP is an OpenID provider built on zitadel/oidc's op package, running
// in the test process: the same code that serves production identity
// providers, not our own fake. It issues JWT access tokens to one client
// through the client_credentials grant.
type realOP struct {
	*storage.Storage
	issuer           string
	clientID, secret string
	// audience is what tokens are issued for; tests change it.
	audience atomic.Pointer[string]
}

// ClientCredentials authenticates the test's client, whose secret is made
// at run time.
func (s *realOP) ClientCredentials(_ context.Context, id, secret string) (op.Client, error) {
	if id != s.clientID || secret != s.secret {
		return nil, oidc.ErrInvalidClient()
	}
	return jwtClient{storage.WebClient(id, secret)}, nil
}

// ClientCredentialsTokenRequest issues the client's token for our API.
func (s *realOP) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	return &oidc.JWTTokenRequest{Subject: id, Audience: []string{*s.audience.Load()}, Scopes: scopes}, nil
}

// GetPrivateClaimsFromScopes puts the granted scopes in the access token,
// as RFC 9068 has it.
func (s *realOP) GetPrivateClaimsFromScopes(_ context.Context, _, _ string, scopes []string) (map[string]any, error) {
	return map[string]any{"scope": strings.Join(scopes, " ")}, nil
}

// jwtClient is a confidential client that uses client_credentials and gets
// JWT access tokens.
type jwtClient struct{ op.Client }

func (jwtClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (jwtClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeClientCredentials}
}
func (jwtClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }

// startRealOP starts the provider on 127.0.0.1, for tokens meant for
// audience.
func startRealOP(t *testing.T, audience string) (issuer string, s *realOP) {
	t.Helper()
	s = newRealOP(t, audience, func(s *realOP) op.Storage { return s })
	return s.issuer, s
}

// newRealOP starts the provider on 127.0.0.1, for tokens meant for
// audience, with the storage wrap makes of its realOP.
func newRealOP(t *testing.T, audience string, wrap func(*realOP) op.Storage) *realOP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	s := &realOP{
		Storage:  storage.NewStorage(storage.NewUserStore(issuer)),
		issuer:   issuer,
		clientID: "orders-cli",
		secret:   rand.Text(),
	}
	s.audience.Store(&audience)
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		t.Fatal(err)
	}
	provider, err := op.NewProvider(&op.Config{CryptoKey: key, CodeMethodS256: true}, wrap(s), op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = provider
	srv.Start()
	t.Cleanup(srv.Close)
	return s
}

// clientCredentials runs the OAuth 2.0 client_credentials grant against
// the provider's token endpoint, found through its discovery document.
func clientCredentials(t *testing.T, issuer, clientID, secret, scope string) string {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	err = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if err != nil || disc.TokenEndpoint == "" {
		t.Fatalf("discovery: %v %+v", err, disc)
	}
	req, err := http.NewRequest(http.MethodPost, disc.TokenEndpoint, strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token endpoint: %d %+v %v", resp.StatusCode, tok, err)
	}
	return tok.AccessToken
}

// TestRealOpenIDProvider gets a token from a real OpenID provider with the
// client_credentials grant over HTTP, and calls the API with it; a token
// the same provider issues for another audience is refused.
func TestRealOpenIDProvider(t *testing.T) {
	t.Parallel()
	issuer, ours := startRealOP(t, "https://orders.example.com")
	e := newEnvFor(t, authtest.NewIdP(t), func(c *envConfig) {
		c.auth.Issuers = []auth.Issuer{{URL: issuer, Audiences: []string{"https://orders.example.com"}}}
	})

	tok := clientCredentials(t, issuer, ours.clientID, ours.secret, "orders:read orders:write")
	header, _, _ := strings.Cut(tok, ".")
	if h, err := base64.RawURLEncoding.DecodeString(header); err != nil || !strings.Contains(string(h), `"RS256"`) {
		t.Fatalf("the provider's token is not an RS256 JWT: %s", h)
	}
	r := e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: `{"order":[{"product":"latte","size":"big"}]}`})
	r.wantStatus(t, http.StatusCreated)
	e.do(t, request{method: http.MethodGet, path: "/orders", token: tok}).wantStatus(t, http.StatusOK)

	reader := clientCredentials(t, issuer, ours.clientID, ours.secret, "orders:read")
	e.do(t, request{method: http.MethodPost, path: "/orders", token: reader, body: `{"order":[{"product":"latte","size":"big"}]}`}).wantProblem(t, http.StatusForbidden)

	billing := "https://billing.example.com"
	ours.audience.Store(&billing)
	other := clientCredentials(t, issuer, ours.clientID, ours.secret, "orders:read orders:write")
	r = e.do(t, request{method: http.MethodGet, path: "/orders", token: other})
	r.wantProblem(t, http.StatusUnauthorized)
	if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q; want invalid_token", got)
	}
}
