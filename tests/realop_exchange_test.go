package tests

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/auth/clientauth"
	"github.com/coffeemesh/orders/internal/devpayments"
	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/payments"
	"github.com/coffeemesh/orders/repository/repotest"
)

// exchangeOP is the real provider of realop_test.go with a policy for
// token exchange (RFC 8693), through zitadel/oidc's op.TokenExchangeStorage:
// the orders API's client, and only it, may exchange a token for the
// payments audience and scope, and the new token names it as the actor.
type exchangeOP struct {
	*realOP
	apiID, apiSecret string
}

// exchangeClient is the orders API's client at the provider: confidential,
// HTTP Basic, token exchange only, JWT access tokens.
type exchangeClient struct{ op.Client }

func (exchangeClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (exchangeClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeTokenExchange}
}
func (exchangeClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }

func (s *exchangeOP) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	if id == s.apiID {
		return exchangeClient{storage.WebClient(id, s.apiSecret)}, nil
	}
	return s.realOP.GetClientByClientID(ctx, id)
}

func (s *exchangeOP) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if id == s.apiID {
		if secret != s.apiSecret {
			return errors.New("invalid secret")
		}
		return nil
	}
	return s.realOP.AuthorizeClientIDSecret(ctx, id, secret)
}

// ValidateTokenExchangeRequest is the provider's policy, the dev issuer's
// (devissuer.ExchangePolicy): access tokens only, from the orders API's
// client (authenticated by the provider with its secret), of bearer
// tokens for the orders API, for the payments audience and scope.
func (s *exchangeOP) ValidateTokenExchangeRequest(_ context.Context, r op.TokenExchangeRequest) error {
	if r.GetRequestedTokenType() == "" {
		r.SetRequestedTokenType(oidc.AccessTokenType)
	}
	claims := r.GetExchangeSubjectTokenClaims()
	switch {
	case r.GetClientID() != s.apiID:
		return oidc.ErrUnauthorizedClient().WithDescription("this client may not exchange tokens")
	case r.GetRequestedTokenType() != oidc.AccessTokenType || r.GetExchangeSubjectTokenType() != oidc.AccessTokenType:
		return oidc.ErrInvalidRequest().WithDescription("access tokens only")
	case !slices.Contains(audienceOf(claims["aud"]), *s.audience.Load()):
		return oidc.ErrInvalidGrant().WithDescription("only tokens for the orders API")
	case claims["cnf"] != nil:
		return oidc.ErrInvalidGrant().WithDescription("a sender-constrained token is not exchanged for a bearer token")
	case !slices.Equal(r.GetAudience(), []string{paymentsAudience}):
		return oidc.ErrInvalidTarget().WithDescription("only the payments audience")
	case !slices.Equal(r.GetScopes(), []string{paymentsScope}):
		return oidc.ErrInvalidScope().WithDescription("only the payments scope")
	}
	return nil
}

// audienceOf reads a JWT's aud claim, a string or an array of them.
func audienceOf(aud any) []string {
	switch a := aud.(type) {
	case string:
		return []string{a}
	case []any:
		out := make([]string, 0, len(a))
		for _, v := range a {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// GetPrivateClaimsFromTokenExchangeRequest adds the scope and names the
// exchanging client as the actor (RFC 8693, section 4.1).
func (s *exchangeOP) GetPrivateClaimsFromTokenExchangeRequest(_ context.Context, r op.TokenExchangeRequest) (map[string]any, error) {
	return map[string]any{"scope": strings.Join(r.GetScopes(), " "), "act": map[string]any{"sub": r.GetClientID()}}, nil
}

// startExchangeOP starts the provider, for orders tokens of audience.
func startExchangeOP(t *testing.T, audience string) (issuer string, s *exchangeOP) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer = "http://" + srv.Listener.Addr().String()
	s = &exchangeOP{
		realOP:    &realOP{Storage: storage.NewStorage(storage.NewUserStore(issuer)), clientID: "orders-cli", secret: rand.Text()},
		apiID:     ordersClientID,
		apiSecret: rand.Text(),
	}
	s.audience.Store(&audience)
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		t.Fatal(err)
	}
	provider, err := op.NewProvider(&op.Config{CryptoKey: key, CodeMethodS256: true}, s, op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = provider
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer, s
}

// discoveredTokenEndpoint reads the token endpoint from issuer's discovery.
func discoveredTokenEndpoint(ctx context.Context, issuer string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var disc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	err = json.NewDecoder(resp.Body).Decode(&disc)
	return disc.TokenEndpoint, err
}

// TestPayWithRealProviderExchange pays through the payments stand-in with a
// token that zitadel/oidc's provider exchanged: the payments service sees
// the provider's token for its audience, with the orders API as actor.
// An exchange the provider's policy refuses is a 502, and nothing is paid.
func TestPayWithRealProviderExchange(t *testing.T) {
	t.Parallel()
	const ordersAudience = "https://orders.example.com"
	issuer, provider := startExchangeOP(t, ordersAudience)
	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.Issuer{{URL: issuer, Audiences: []string{paymentsAudience}}}, Leeway: auth.DefaultLeeway}, authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	go v.Run(t.Context())
	standIn := devpayments.New(v, paymentsScope, ordersClientID)
	paySrv := httptest.NewServer(standIn.Handler())
	t.Cleanup(paySrv.Close)
	newPayer := func(scope string) *payments.Client {
		p, err := payments.New(payments.Config{URL: paySrv.URL, Audience: paymentsAudience, Scope: scope, Timeout: 5 * time.Second, Mode: payments.Exchange,
			Client:        clientauth.Credentials{ID: provider.apiID, Secret: provider.apiSecret},
			TokenEndpoint: func(ctx context.Context, iss string) (string, error) { return discoveredTokenEndpoint(ctx, iss) }})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	trust := func(c *envConfig) {
		c.db = repotest.SQLite(t)
		c.auth.Issuers = []auth.Issuer{{URL: issuer, Audiences: []string{ordersAudience}}}
	}
	tok := clientCredentials(t, issuer, provider.clientID, provider.secret, "orders:read orders:write")

	refused := newEnvFor(t, authtest.NewIdP(t), func(c *envConfig) { trust(c); c.api.Payer = newPayer("payments:refund") })
	o := refused.create(t, tok, item{"latte", "big", 1})
	p := refused.do(t, request{method: http.MethodPost, path: "/orders/" + o.ID + "/pay", token: tok}).wantProblem(t, http.StatusBadGateway)
	if !strings.Contains(p.Detail, "issuer refused") || standIn.Calls() != 0 {
		t.Errorf("detail %q, payments calls %d; want the issuer's refusal and no call", p.Detail, standIn.Calls())
	}

	e := newEnvFor(t, authtest.NewIdP(t), func(c *envConfig) { trust(c); c.api.Payer = newPayer(paymentsScope) })
	o = e.create(t, tok, item{"latte", "big", 1})
	e.do(t, request{method: http.MethodPost, path: "/orders/" + o.ID + "/pay", token: tok}).wantStatus(t, http.StatusOK)
	got := standIn.Payments()
	if len(got) != 1 || got[0].Token == tok || got[0].Subject != provider.clientID || got[0].Actor != ordersClientID {
		t.Fatalf("payments = %+v; want one, by %s acting for %s, with an exchanged token", got, ordersClientID, provider.clientID)
	}
	if c := claimsOf(t, got[0].Token); c["iss"] != issuer {
		t.Errorf("the exchanged token's iss = %v; want the provider %s", c["iss"], issuer)
	}

	// The provider refuses to exchange what its policy does not allow:
	// the exchanged token again, and a token for another audience.
	elsewhere := "https://elsewhere.example.com"
	provider.audience.Store(&elsewhere)
	other := clientCredentials(t, issuer, provider.clientID, provider.secret, "orders:read orders:write")
	aud := ordersAudience
	provider.audience.Store(&aud)
	for _, subject := range []string{got[0].Token, other} {
		if err := newPayer(paymentsScope).Pay(t.Context(), issuer, provider.clientID, subject, "order-x"); !errors.Is(err, models.ErrExchangeRefused) {
			t.Errorf("exchange of a token not for the orders API = %v; want %v", err, models.ErrExchangeRefused)
		}
	}
	if n := standIn.Calls(); n != 1 {
		t.Errorf("payments calls = %d; want 1", n)
	}
}
