package tests

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/repository/repotest"
)

// newIntrospectingEnv starts an API server on db whose issuer introspects
// its opaque tokens.
func newIntrospectingEnv(t *testing.T, db repotest.Database) *env {
	t.Helper()
	idp := authtest.NewIdP(t)
	return newEnvFor(t, idp, func(c *envConfig) {
		c.db = db
		c.auth.Issuers = []auth.Issuer{idp.TrustIntrospecting()}
		c.auth.IntrospectionCacheTTL = auth.DefaultIntrospectionCacheTTL
	})
}

// TestOpaqueTokensSeeTheSameOrders: the same user's JWT and opaque token
// are one owner, on both databases; another user's opaque token sees
// none of it; scopes and refusals work as for JWTs.
func TestOpaqueTokensSeeTheSameOrders(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newIntrospectingEnv(t, db)
		jwt := e.token(t, "alice", rw)
		opaque := e.idp.OpaqueToken(t, authtest.Claims{Subject: "alice", Scope: rw})
		bob := e.idp.OpaqueToken(t, authtest.Claims{Subject: "bob", Scope: rw})

		byJWT := e.create(t, jwt, item{"flat white", "medium", 1})
		byOpaque := e.create(t, opaque, item{"espresso", "small", 2})
		for name, tok := range map[string]string{"JWT": jwt, "opaque token": opaque} {
			l, _ := e.list(t, tok, "")
			if len(l.Orders) != 2 {
				t.Errorf("alice's %s lists %d orders; want both of hers", name, len(l.Orders))
			}
		}
		e.do(t, request{method: http.MethodGet, path: "/orders/" + byJWT.ID, token: opaque}).wantStatus(t, http.StatusOK)
		e.do(t, request{method: http.MethodGet, path: "/orders/" + byOpaque.ID, token: bob}).wantProblem(t, http.StatusNotFound)
		if l, _ := e.list(t, bob, ""); len(l.Orders) != 0 {
			t.Errorf("bob lists %d orders; want none of alice's", len(l.Orders))
		}

		reader := e.idp.OpaqueToken(t, authtest.Claims{Subject: "alice", Scope: "orders:read"})
		e.do(t, request{method: http.MethodPost, path: "/orders", token: reader, body: `{"order":[{"product":"latte","size":"big"}]}`}).wantProblem(t, http.StatusForbidden)

		revoked := e.idp.OpaqueToken(t, authtest.Claims{Subject: "alice", Scope: rw})
		e.idp.Revoke(revoked)
		r := e.do(t, request{method: http.MethodGet, path: "/orders", token: revoked})
		r.wantProblem(t, http.StatusUnauthorized)
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate = %q; want invalid_token", got)
		}
	})
}

// TestIntrospectionOutageIs503: while the introspection endpoint fails, an
// opaque token is answered 503 with Retry-After, and JWTs still work.
func TestIntrospectionOutageIs503(t *testing.T) {
	t.Parallel()
	e := newIntrospectingEnv(t, repotest.SQLite(t))
	opaque := e.idp.OpaqueToken(t, authtest.Claims{Subject: "alice", Scope: rw})
	e.idp.SetIntrospectionFault(authtest.Status(http.StatusBadGateway))
	r := e.do(t, request{method: http.MethodGet, path: "/orders", token: opaque})
	r.wantProblem(t, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	e.do(t, request{method: http.MethodGet, path: "/orders", token: e.token(t, "alice", rw)}).wantStatus(t, http.StatusOK)
	e.idp.SetIntrospectionFault(nil)
	e.do(t, request{method: http.MethodGet, path: "/orders", token: opaque}).wantStatus(t, http.StatusOK)
}

// introspectingOP is realOP issuing opaque access tokens (zitadel/oidc's
// AccessTokenTypeBearer) and answering their introspection to the API, a
// resource server with credentials of its own; its revocation endpoint
// revokes them.
type introspectingOP struct {
	*realOP
	apiID, apiSecret string

	mu     sync.Mutex
	issued map[string]issued // by token id
}

// issued is what a token was issued for.
type issued struct {
	req op.TokenRequest
	exp time.Time
}

// ClientCredentials authenticates the client, which gets opaque tokens.
func (s *introspectingOP) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	c, err := s.realOP.ClientCredentials(ctx, id, secret)
	if err != nil {
		return nil, err
	}
	return opaqueClient{c}, nil
}

// AuthorizeClientIDSecret authenticates the API at the introspection
// endpoint, and the client at the revocation endpoint.
func (s *introspectingOP) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	switch {
	case id == s.apiID && secret == s.apiSecret, id == s.clientID && secret == s.secret:
		return nil
	}
	return oidc.ErrInvalidClient()
}

// CreateAccessToken issues a token and remembers what it was issued for.
func (s *introspectingOP) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	id, exp, err := s.Storage.CreateAccessToken(ctx, req)
	if err == nil {
		s.mu.Lock()
		s.issued[id] = issued{req, exp}
		s.mu.Unlock()
	}
	return id, exp, err
}

// RevokeToken forgets a token the client revokes at the revocation
// endpoint.
func (s *introspectingOP) RevokeToken(_ context.Context, tokenID, _, clientID string) *oidc.Error {
	if clientID != s.clientID {
		return oidc.ErrInvalidClient()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.issued, tokenID)
	return nil
}

// SetIntrospectionFromToken describes a token it issued and has not
// revoked to the API: an error makes the answer inactive.
func (s *introspectingOP) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	tok, ok := s.issued[tokenID]
	s.mu.Unlock()
	if !ok || clientID != s.apiID {
		return oidc.ErrInvalidRequest()
	}
	resp.Subject = subject
	resp.Audience = tok.req.GetAudience()
	resp.Scope = tok.req.GetScopes()
	resp.Expiration = oidc.FromTime(tok.exp)
	resp.Issuer = s.issuer
	resp.TokenType = "Bearer"
	return nil
}

// opaqueClient is the client, getting opaque access tokens.
type opaqueClient struct{ op.Client }

func (opaqueClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (opaqueClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeClientCredentials}
}
func (opaqueClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }

// TestRealOpenIDProviderOpaqueTokens: zitadel/oidc's provider issues an
// opaque token with the client_credentials grant (a JWE sealed with the
// provider's own key, A256GCMKW, which only it can read); the API
// introspects it
// at the provider's real introspection endpoint, found through discovery,
// authenticated with its own secret; a token revoked at the provider is
// refused once the cached answer ends (a TTL of 0 here: at once).
func TestRealOpenIDProviderOpaqueTokens(t *testing.T) {
	t.Parallel()
	audience := "https://orders.example.com"
	s := &introspectingOP{apiID: "orders api", apiSecret: "se:cr+t " + rand.Text(), issued: map[string]issued{}}
	newRealOP(t, audience, func(r *realOP) op.Storage {
		s.realOP = r
		return s
	})
	e := newEnvFor(t, authtest.NewIdP(t), func(c *envConfig) {
		c.auth.Issuers = []auth.Issuer{{URL: s.issuer, Audiences: []string{audience},
			Introspection: auth.Introspection{ClientID: s.apiID, ClientSecret: s.apiSecret}}}
		c.auth.IntrospectionCacheTTL = 0
	})

	tok := clientCredentials(t, s.issuer, s.clientID, s.secret, "orders:read orders:write")
	// zitadel/oidc seals its opaque tokens as JWEs with a key of its own.
	if header, _, _ := strings.Cut(tok, "."); strings.Count(tok, ".") != 4 || !strings.Contains(mustDecode(t, header), `"alg":"A256GCMKW"`) {
		t.Fatalf("the provider's token is not sealed for it alone: %d dots", strings.Count(tok, "."))
	}
	e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: `{"order":[{"product":"latte","size":"big"}]}`}).wantStatus(t, http.StatusCreated)
	e.do(t, request{method: http.MethodGet, path: "/orders", token: tok}).wantStatus(t, http.StatusOK)

	reader := clientCredentials(t, s.issuer, s.clientID, s.secret, "orders:read")
	e.do(t, request{method: http.MethodPost, path: "/orders", token: reader, body: `{"order":[{"product":"latte","size":"big"}]}`}).wantProblem(t, http.StatusForbidden)

	revoke(t, s.issuer, s.clientID, s.secret, tok)
	e.do(t, request{method: http.MethodGet, path: "/orders", token: tok}).wantProblem(t, http.StatusUnauthorized)
}

// mustDecode returns the base64url segment s decoded.
func mustDecode(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// revoke revokes token at the provider's revocation endpoint (RFC 7009),
// found through its discovery document.
func revoke(t *testing.T, issuer, clientID, secret, token string) {
	t.Helper()
	var disc struct {
		RevocationEndpoint string `json:"revocation_endpoint"`
	}
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if err != nil || disc.RevocationEndpoint == "" {
		t.Fatalf("discovery: %v %+v", err, disc)
	}
	req, err := http.NewRequest(http.MethodPost, disc.RevocationEndpoint, strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: %s", resp.Status)
	}
}
