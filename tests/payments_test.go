package tests

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/auth/clientauth"
	"github.com/coffeemesh/orders/internal/devissuer"
	"github.com/coffeemesh/orders/internal/devpayments"
	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/payments"
	"github.com/coffeemesh/orders/repository/repotest"
)

// The payments service of these tests: its audience and scope, and the
// orders API's client id at the issuer, which it wants as the actor.
const (
	paymentsAudience = "payments"
	paymentsScope    = "payments:charge"
	ordersClientID   = "orders-api"
)

// payEnv is an API that pays through a payments stand-in, with the IdP
// exchanging the callers' tokens.
type payEnv struct {
	*env
	payments *devpayments.Service
	// fault, when set, answers payment requests instead of the stand-in.
	fault atomic.Pointer[http.HandlerFunc]
	// paymentsURL is the stand-in's URL.
	paymentsURL string
	// tokenRequests counts the API's requests to the token endpoint.
	tokenRequests atomic.Int64
}

// clientSecret is the orders API's client secret at the IdPs of these
// tests; it has what form-encoding changes (RFC 6749, 2.3.1).
const clientSecret = "s3cret: with spaces & more"

// allowExchange gives idp the exchange policy of the orders API's client
// configured in cfg: its id and secret, for cfg's audience and scopes.
func allowExchange(idp *authtest.IdP, cfg payments.Config) {
	idp.SetExchangePolicy(devissuer.ExchangePolicy{Client: cfg.Client.ID, Secret: cfg.Client.Secret, Audience: cfg.Audience, Scopes: strings.Fields(cfg.Scope)})
}

// newPayEnv starts a payments stand-in and an API on db that pays through
// it; configure may change the payments client's configuration.
func newPayEnv(t *testing.T, db repotest.Database, configure func(*payments.Config)) *payEnv {
	t.Helper()
	idp := authtest.NewIdP(t)
	pe := &payEnv{}
	v := newPaymentsVerifier(t, idp.URL())
	pe.payments = devpayments.New(v, paymentsScope, ordersClientID)
	standIn := pe.payments.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := pe.fault.Load(); f != nil {
			(*f)(w, r)
			return
		}
		standIn.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	pe.paymentsURL = srv.URL
	cfg := payments.Config{
		URL: srv.URL, Audience: paymentsAudience, Scope: paymentsScope, Timeout: 2 * time.Second,
		Mode: payments.Exchange, Client: clientauth.Credentials{ID: ordersClientID, Secret: clientSecret},
		TokenEndpoint: func(_ context.Context, iss string) (string, error) { return iss + devissuer.TokenPath, nil },
		HTTP:          &http.Client{Transport: countTokenRequests{n: &pe.tokenRequests, url: idp.URL() + devissuer.TokenPath}},
	}
	if configure != nil {
		configure(&cfg)
	}
	allowExchange(idp, cfg)
	payer, err := payments.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pe.env = newEnvFor(t, idp, func(c *envConfig) { c.db, c.api.Payer = db, payer })
	return pe
}

// newPaymentsVerifier returns the payments service's verifier: it trusts
// issuers for the payments audience.
func newPaymentsVerifier(t *testing.T, issuers ...string) *auth.Verifier {
	t.Helper()
	var trusted []auth.Issuer
	for _, iss := range issuers {
		trusted = append(trusted, auth.Issuer{URL: iss, Audiences: []string{paymentsAudience}})
	}
	v, err := auth.NewVerifier(auth.Config{Issuers: trusted, Leeway: auth.DefaultLeeway}, authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	go v.Run(t.Context())
	return v
}

// countTokenRequests is a transport that counts the requests to one URL,
// then sends them with next (http.DefaultTransport if nil).
type countTokenRequests struct {
	n    *atomic.Int64
	url  string
	next http.RoundTripper
}

func (c countTokenRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() == c.url {
		c.n.Add(1)
	}
	if c.next == nil {
		return http.DefaultTransport.RoundTrip(r)
	}
	return c.next.RoundTrip(r)
}

// setFault makes the payments service answer with f; nil restores it.
func (pe *payEnv) setFault(f http.HandlerFunc) {
	if f == nil {
		pe.fault.Store(nil)
		return
	}
	pe.fault.Store(&f)
}

func (pe *payEnv) pay(t *testing.T, token, id string) response {
	t.Helper()
	return pe.do(t, request{method: http.MethodPost, path: "/orders/" + id + "/pay", token: token})
}

func (pe *payEnv) status(t *testing.T, token, id string) string {
	t.Helper()
	r := pe.do(t, request{method: http.MethodGet, path: "/orders/" + id, token: token})
	r.wantStatus(t, http.StatusOK)
	var o order
	r.decode(t, &o)
	return o.Status
}

// claimsOf decodes the claims of a token the stand-in has verified.
func claimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// TestPayThroughPaymentsService: pay exchanges the caller's token for one
// for the payments service, which sees that token, never the caller's, and
// the order's idempotency key; only then is the order paid.
func TestPayThroughPaymentsService(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		pe := newPayEnv(t, db, nil)
		alice := pe.token(t, "alice", rw)
		o := pe.create(t, alice, item{"latte", "big", 1})
		r := pe.pay(t, alice, o.ID)
		r.wantStatus(t, http.StatusOK)
		var paid order
		r.decode(t, &paid)
		if paid.Status != "paid" {
			t.Errorf("status after pay = %q; want paid", paid.Status)
		}
		got := pe.payments.Payments()
		if len(got) != 1 {
			t.Fatalf("payments = %d; want 1", len(got))
		}
		p := got[0]
		// Neither the exchanged token nor the client's secret may reach the
		// server's log (checked when the test ends).
		pe.mu.Lock()
		pe.tokens = append(pe.tokens, p.Token, clientSecret)
		pe.mu.Unlock()
		if want := payments.IdempotencyKey(models.OrderID(o.ID)); p.Key != want || p.OrderID != o.ID {
			t.Errorf("payment key, order = %q, %q; want %q, %q", p.Key, p.OrderID, want, o.ID)
		}
		if p.Token == alice {
			t.Error("the payments service got the caller's own token")
		}
		c := claimsOf(t, p.Token)
		if c["sub"] != "alice" || c["aud"] != paymentsAudience || c["scope"] != paymentsScope || p.Actor != ordersClientID {
			t.Errorf("exchanged token: sub %v, aud %v, scope %v, act.sub %q; want alice, %s, %s, %s", c["sub"], c["aud"], c["scope"], p.Actor, paymentsAudience, paymentsScope, ordersClientID)
		}
		pe.pay(t, alice, o.ID).wantProblem(t, http.StatusConflict)
		if n := pe.payments.Calls(); n != 1 {
			t.Errorf("payments calls after paying a paid order = %d; want 1", n)
		}
		bob := pe.token(t, "bob", rw)
		pe.pay(t, bob, o.ID).wantProblem(t, http.StatusNotFound)
		if n := pe.payments.Calls(); n != 1 {
			t.Errorf("payments calls after another owner's pay = %d; want 1", n)
		}
	})
}

// TestPayFailuresChangeNothing: whatever fails, the payments service or
// the issuer, pay answers a problem that says which and whether the
// payment may have been taken, the order stays created, and a later pay
// works with the same idempotency key.
func TestPayFailuresChangeNothing(t *testing.T) {
	t.Parallel()
	const (
		timeout  = 400 * time.Millisecond
		notPaid  = "nothing was sent to the payments service"
		maybe    = "the payment may have been taken; paying again will not charge twice"
		ifItWas  = "if the payment was taken, paying again will not charge twice"
		issuerIs = "the issuer"
	)
	atPayments := func(f http.HandlerFunc) func(pe *payEnv) func() {
		return func(pe *payEnv) func() {
			pe.setFault(f)
			return func() { pe.setFault(nil) }
		}
	}
	atIssuer := func(f http.HandlerFunc) func(pe *payEnv) func() {
		return func(pe *payEnv) func() {
			pe.idp.SetFault(f)
			return func() { pe.idp.SetFault(nil) }
		}
	}
	hang := func(w http.ResponseWriter, r *http.Request) {
		// Read the body, so the server sees the client go.
		_, _ = io.Copy(io.Discard, r.Body)
		authtest.Hang(w, r)
	}
	tests := []struct {
		name string
		// fault breaks the payments service or the issuer; it returns
		// what undoes it.
		fault  func(pe *payEnv) (undo func())
		status int
		says   []string
	}{
		{"payments service drops the connection", atPayments(authtest.Reset), http.StatusServiceUnavailable, []string{"payments service cannot be reached", maybe}},
		{"payments service answers 500", atPayments(authtest.Status(http.StatusInternalServerError)), http.StatusBadGateway, []string{"payments service failed", ifItWas}},
		{"payments service answers 503", atPayments(authtest.Status(http.StatusServiceUnavailable)), http.StatusServiceUnavailable, []string{"payments service cannot be reached", maybe}},
		{"payments service hangs", atPayments(hang), http.StatusGatewayTimeout, []string{"payments service did not answer in time", maybe}},
		{"issuer refuses the exchange", atIssuer(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
		}), http.StatusBadGateway, []string{"issuer refused", notPaid}},
		{"issuer drops the connection", atIssuer(authtest.Reset), http.StatusServiceUnavailable, []string{issuerIs + " cannot be reached", notPaid}},
		{"issuer answers 500", atIssuer(authtest.Status(http.StatusInternalServerError)), http.StatusServiceUnavailable, []string{issuerIs + " cannot be reached", notPaid}},
		{"issuer answers 429", atIssuer(authtest.Status(http.StatusTooManyRequests)), http.StatusServiceUnavailable, []string{issuerIs + " cannot be reached", notPaid}},
		{"issuer hangs", atIssuer(hang), http.StatusGatewayTimeout, []string{issuerIs + " did not answer in time", notPaid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
				t.Parallel()
				pe := newPayEnv(t, db, func(c *payments.Config) { c.Timeout = timeout })
				alice := pe.token(t, "alice", rw)
				o := pe.create(t, alice, item{"latte", "big", 1})
				undo := tt.fault(pe)
				start := time.Now()
				r := pe.pay(t, alice, o.ID)
				p := r.wantProblem(t, tt.status)
				if took := time.Since(start); took > timeout+time.Second {
					t.Errorf("the failed pay took %s; want at most the timeout %s and a little", took, timeout)
				}
				for _, want := range tt.says {
					if !strings.Contains(p.Detail, want) {
						t.Errorf("detail = %q; want it to say %q", p.Detail, want)
					}
				}
				if tt.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "" {
					t.Error("a 503 without Retry-After")
				}
				undo()
				if s := pe.status(t, alice, o.ID); s != "created" {
					t.Errorf("status after the failed pay = %q; want created", s)
				}
				pe.pay(t, alice, o.ID).wantStatus(t, http.StatusOK)
				if got := pe.payments.Payments(); len(got) != 1 || got[0].Key != payments.IdempotencyKey(models.OrderID(o.ID)) {
					t.Errorf("payments after the retry = %+v; want one with the order's key", got)
				}
			})
		})
	}
}

// TestLostAnswerIsPaidOnce: the payments service takes the payment, then
// the answer is lost; the retry is answered for that payment, the order
// becomes paid, and exactly one payment was taken.
func TestLostAnswerIsPaidOnce(t *testing.T) {
	t.Parallel()
	pe := newPayEnv(t, repotest.SQLite(t), nil)
	standIn := pe.payments.Handler()
	pe.setFault(func(w http.ResponseWriter, r *http.Request) {
		standIn.ServeHTTP(httptest.NewRecorder(), r)
		authtest.Reset(w, r)
	})
	alice := pe.token(t, "alice", rw)
	o := pe.create(t, alice, item{"latte", "big", 1})
	pe.pay(t, alice, o.ID).wantProblem(t, http.StatusServiceUnavailable)
	pe.setFault(nil)
	pe.pay(t, alice, o.ID).wantStatus(t, http.StatusOK)
	if n, got := pe.payments.Calls(), pe.payments.Payments(); n != 2 || len(got) != 1 {
		t.Errorf("payments calls, payments = %d, %d; want 2 calls, 1 payment", n, len(got))
	}
	if s := pe.status(t, alice, o.ID); s != "paid" {
		t.Errorf("status = %q; want paid", s)
	}
}

// TestCancelDuringPay: a cancel that lands between the payment and the
// order's update wins; the pay answers 409 saying the payment was taken
// and is to be refunded, and logs it at error with the order id and the
// idempotency key.
func TestCancelDuringPay(t *testing.T) {
	t.Parallel()
	pe := newPayEnv(t, repotest.SQLite(t), nil)
	alice := pe.token(t, "alice", rw)
	o := pe.create(t, alice, item{"latte", "big", 1})
	standIn := pe.payments.Handler()
	var cancelled atomic.Int64 // the cancel's status
	pe.setFault(func(w http.ResponseWriter, r *http.Request) {
		standIn.ServeHTTP(w, r)
		req, err := http.NewRequest(http.MethodPost, pe.url+"/orders/"+o.ID+"/cancel", nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+alice)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			cancelled.Store(int64(resp.StatusCode))
		}
	})
	p := pe.pay(t, alice, o.ID).wantProblem(t, http.StatusConflict)
	if s := cancelled.Load(); s != http.StatusOK {
		t.Fatalf("the cancel during the pay = %d; want 200", s)
	}
	if !strings.Contains(p.Detail, "payment was taken") || !strings.Contains(p.Detail, "refunded") {
		t.Errorf("detail = %q; want it to say the payment was taken and is to be refunded", p.Detail)
	}
	if s := pe.status(t, alice, o.ID); s != "cancelled" {
		t.Errorf("status = %q; want cancelled", s)
	}
	key := payments.IdempotencyKey(models.OrderID(o.ID))
	var found bool
	for line := range strings.SplitSeq(pe.log.String(), "\n") {
		found = found || strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, `"order_id":"`+o.ID+`"`) && strings.Contains(line, `"idempotency_key":"`+key+`"`)
	}
	if !found {
		t.Errorf("no error log line with the order id and the idempotency key %q in:\n%s", key, pe.log.String())
	}
}

// TestPayExchangesAtTheCallersIssuer: with two trusted issuers, a caller's
// token is exchanged at the token endpoint of the issuer that signed it,
// found by its discovery, and the other issuer gets no token request.
func TestPayExchangesAtTheCallersIssuer(t *testing.T) {
	t.Parallel()
	a, b := authtest.NewIdP(t), authtest.NewIdP(t)
	standIn := devpayments.New(newPaymentsVerifier(t, a.URL(), b.URL()), paymentsScope, ordersClientID)
	paySrv := httptest.NewServer(standIn.Handler())
	t.Cleanup(paySrv.Close)
	trusted := auth.Config{Issuers: []auth.Issuer{{URL: a.URL(), Audiences: []string{authtest.Audience}}, {URL: b.URL(), Audiences: []string{authtest.Audience}}}, Leeway: auth.DefaultLeeway}
	// The orders API's verifier, whose discovery gives each issuer's token
	// endpoint, as serve's does.
	v, err := auth.NewVerifier(trusted, authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	go v.Run(t.Context())
	var requests [2]atomic.Int64
	cfg := payments.Config{URL: paySrv.URL, Audience: paymentsAudience, Scope: paymentsScope, Timeout: 2 * time.Second, Mode: payments.Exchange,
		Client: clientauth.Credentials{ID: ordersClientID, Secret: clientSecret},
		TokenEndpoint: func(ctx context.Context, iss string) (string, error) {
			m, err := v.IssuerMetadata(ctx, iss)
			return m.TokenEndpoint, err
		},
		HTTP: &http.Client{Transport: countTokenRequests{n: &requests[0], url: a.URL() + devissuer.TokenPath}},
	}
	cfg.HTTP.Transport = countTokenRequests{n: &requests[1], url: b.URL() + devissuer.TokenPath, next: cfg.HTTP.Transport}
	allowExchange(a, cfg)
	allowExchange(b, cfg)
	payer, err := payments.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvFor(t, a, func(c *envConfig) { c.auth, c.api.Payer = trusted, payer })
	bob := b.Token(t, authtest.Claims{Subject: "bob", Scope: rw})
	o := e.create(t, bob, item{"latte", "big", 1})
	e.do(t, request{method: http.MethodPost, path: "/orders/" + o.ID + "/pay", token: bob}).wantStatus(t, http.StatusOK)
	if na, nb := requests[0].Load(), requests[1].Load(); na != 0 || nb != 1 {
		t.Errorf("token requests at A, B = %d, %d; want 0, 1: bob's token is B's", na, nb)
	}
	got := standIn.Payments()
	if len(got) != 1 || claimsOf(t, got[0].Token)["iss"] != b.URL() || got[0].Subject != "bob" {
		t.Errorf("payments = %+v; want one by bob with a token B issued", got)
	}
}

// TestConcurrentPaysPayOnce: eight pays of one order at once give one 200
// and seven 409s; the payments service sees one idempotency key.
func TestConcurrentPaysPayOnce(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		pe := newPayEnv(t, db, nil)
		alice := pe.token(t, "alice", rw)
		o := pe.create(t, alice, item{"latte", "big", 1})
		statuses := make([]int, 8)
		var wg sync.WaitGroup
		for i := range statuses {
			wg.Go(func() { statuses[i] = pe.pay(t, alice, o.ID).status })
		}
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		if count[http.StatusOK] != 1 || count[http.StatusConflict] != 7 {
			t.Errorf("statuses = %v; want one 200 and seven 409", count)
		}
		if got := pe.payments.Payments(); len(got) != 1 {
			t.Errorf("idempotency keys seen = %d; want 1", len(got))
		}
		if s := pe.status(t, alice, o.ID); s != "paid" {
			t.Errorf("status = %q; want paid", s)
		}
	})
}

// TestExchangedTokenIsCached: a second pay with the same caller's token
// reuses the exchanged token; another caller's token is exchanged anew.
func TestExchangedTokenIsCached(t *testing.T) {
	t.Parallel()
	pe := newPayEnv(t, repotest.SQLite(t), nil)
	alice := pe.token(t, "alice", rw)
	first, second := pe.create(t, alice, item{"latte", "big", 1}), pe.create(t, alice, item{"mocha", "small", 1})
	pe.pay(t, alice, first.ID).wantStatus(t, http.StatusOK)
	pe.pay(t, alice, second.ID).wantStatus(t, http.StatusOK)
	if n := pe.tokenRequests.Load(); n != 1 {
		t.Errorf("token requests for two pays with one caller token = %d; want 1", n)
	}
	got := pe.payments.Payments()
	if len(got) != 2 || got[0].Token != got[1].Token {
		t.Errorf("the two payments used different tokens, or were not both made: %d", len(got))
	}
	bob := pe.token(t, "bob", rw)
	third := pe.create(t, bob, item{"latte", "big", 1})
	pe.pay(t, bob, third.ID).wantStatus(t, http.StatusOK)
	if n := pe.tokenRequests.Load(); n != 2 {
		t.Errorf("token requests after another caller's pay = %d; want 2", n)
	}
}

// TestPayWhenPaymentsIsNotListening: a payments service nobody listens for
// is a 503 with Retry-After, and the order stays created.
func TestPayWhenPaymentsIsNotListening(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	pe := newPayEnv(t, repotest.SQLite(t), func(c *payments.Config) { c.URL = closed })
	alice := pe.token(t, "alice", rw)
	o := pe.create(t, alice, item{"latte", "big", 1})
	r := pe.pay(t, alice, o.ID)
	r.wantProblem(t, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("a 503 without Retry-After")
	}
	if s := pe.status(t, alice, o.ID); s != "created" {
		t.Errorf("status = %q; want created", s)
	}
}

// TestDevPaysThroughPaymentsStandIn: serve --dev with
// ORDERS_DEV_PAYMENTS_ADDR pays through its stand-in, which accepts only
// tokens the dev issuer exchanged for it; the caller's own token is refused
// there.
func TestDevPaysThroughPaymentsStandIn(t *testing.T) {
	t.Parallel()
	payAddr := fmt.Sprintf("127.0.0.1:%d", unusedPort(t))
	_, base, tokenURL := startDev(t, map[string]string{"ORDERS_DEV_PAYMENTS_ADDR": payAddr})
	resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := decodeBody(resp, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v", err)
	}
	status, id, err := placeOrder(http.DefaultClient, base, tok.AccessToken, "latte")
	if err != nil || status != http.StatusCreated {
		t.Fatalf("place order = %d, %v", status, err)
	}
	if got := rawPost(t, base, "/orders/"+id+"/pay", tok.AccessToken); got != http.StatusOK {
		t.Errorf("pay = %d; want 200", got)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+payAddr+"/payments", strings.NewReader(`{"order_id":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Idempotency-Key", "k")
	direct, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	direct.Body.Close()
	if direct.StatusCode != http.StatusUnauthorized {
		t.Errorf("the caller's own token at the payments stand-in = %d; want 401", direct.StatusCode)
	}
}

// TestPaymentsStandInChecksTokens: the stand-in checks tokens as the
// orders API does: a token bound to a DPoP key or a client certificate
// is refused as a bearer token, two Authorization headers are refused,
// and a token without the actor or the scope is forbidden.
func TestPaymentsStandInChecksTokens(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	standIn := devpayments.New(newPaymentsVerifier(t, idp.URL()), paymentsScope, ordersClientID)
	srv := httptest.NewServer(standIn.Handler())
	t.Cleanup(srv.Close)
	token := func(extra map[string]any) string {
		claims := map[string]any{"aud": paymentsAudience, "act": map[string]any{"sub": ordersClientID}}
		maps.Copy(claims, extra)
		return idp.Token(t, authtest.Claims{Subject: "alice", Scope: paymentsScope, Extra: claims})
	}
	good := token(nil)
	tests := []struct {
		name          string
		authorization []string
		want          int
	}{
		{"exchanged token", []string{"Bearer " + good}, http.StatusCreated},
		{"bound to a DPoP key", []string{"Bearer " + token(map[string]any{"cnf": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiGuA4I"}})}, http.StatusUnauthorized},
		{"bound to a certificate", []string{"Bearer " + token(map[string]any{"cnf": map[string]any{"x5t#S256": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiGuA4I"}})}, http.StatusUnauthorized},
		{"two Authorization headers", []string{"Bearer " + good, "Bearer " + good}, http.StatusBadRequest},
		{"no actor", []string{"Bearer " + token(map[string]any{"act": authtest.Omit})}, http.StatusForbidden},
		{"another actor", []string{"Bearer " + token(map[string]any{"act": map[string]any{"sub": "mallory"}})}, http.StatusForbidden},
		{"the caller's own token", []string{"Bearer " + idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw})}, http.StatusUnauthorized},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/payments", strings.NewReader(`{"order_id":"o"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header["Authorization"] = tt.authorization
			req.Header.Set("Idempotency-Key", fmt.Sprint("k", i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d; want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
