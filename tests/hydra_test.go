package tests

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/repository/repotest"
)

// hydraAudience is the audience Hydra's clients may ask tokens for, and
// the one the API accepts.
const hydraAudience = "orders-api"

// hydraStrategy is Hydra's strategies.access_token: the form of the
// access tokens it issues.
type hydraStrategy string

const (
	// hydraJWT makes Hydra issue RS256 JWT access tokens (RFC 9068 shape,
	// scopes in scp) that the API verifies with Hydra's JWKS.
	hydraJWT hydraStrategy = "jwt"
	// hydraOpaque makes Hydra issue opaque tokens ("ory_at_…"), which only
	// Hydra can read, through its introspection endpoint.
	hydraOpaque hydraStrategy = "opaque"
)

// hydra is one Ory Hydra process (`hydra serve all`) run for a test, on an
// in-memory SQLite database, with secrets made at run time. Its public
// URL is its issuer.
type hydra struct {
	// issuer is the public URL, as Hydra writes it in iss and discovery.
	issuer string
	// admin is the URL of the admin API, which has no authentication of
	// its own: production deployments keep it off the network.
	admin string
}

// hydraClient is an OAuth 2.0 client registered at Hydra, authenticating
// with client_secret_basic.
type hydraClient struct {
	id, secret string
}

// hydraBinary returns the Hydra program named by ORDERS_TEST_HYDRA. Without
// it the test is skipped, except under CI=true, where it fails: .ci/run
// builds Hydra and always sets it.
func hydraBinary(t *testing.T) string {
	t.Helper()
	path := os.Getenv("ORDERS_TEST_HYDRA")
	if path == "" {
		msg := "ORDERS_TEST_HYDRA is not set; build Ory Hydra with " +
			"`cd tests/hydra && go build -tags sqlite,sqlite_omit_load_extension -o /tmp/hydra github.com/ory/hydra/v2` " +
			"and set ORDERS_TEST_HYDRA=/tmp/hydra (.ci/run does both)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("ORDERS_TEST_HYDRA: %v", err)
	}
	return path
}

// startHydra runs Hydra with the given access token strategy on two free
// ports of 127.0.0.1 until the test ends, and returns once both its APIs
// are ready. The process is stopped, with its process group, at cleanup.
func startHydra(t *testing.T, strategy hydraStrategy) *hydra {
	t.Helper()
	bin := hydraBinary(t)
	// A port found free may be taken before Hydra binds it; Hydra then
	// exits, and another pair of ports is tried.
	var err error
	for range 3 {
		var h *hydra
		if h, err = tryHydra(t, bin, strategy); err == nil {
			return h
		}
	}
	t.Fatalf("hydra did not start: %v", err)
	return nil
}

// tryHydra starts Hydra once and waits until it is ready; an error means
// it exited before, and nothing of it is left running.
func tryHydra(t *testing.T, bin string, strategy hydraStrategy) (*hydra, error) {
	t.Helper()
	public, admin := freePort(t), freePort(t)
	h := &hydra{issuer: "http://127.0.0.1:" + public, admin: "http://127.0.0.1:" + admin}
	dir := t.TempDir()
	logFile, err := os.Create(dir + "/hydra.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out")
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"DSN=memory",
		"URLS_SELF_ISSUER=" + h.issuer,
		"SECRETS_SYSTEM=" + rand.Text(),
		"STRATEGIES_ACCESS_TOKEN=" + string(strategy),
		"SERVE_PUBLIC_HOST=127.0.0.1", "SERVE_PUBLIC_PORT=" + public,
		"SERVE_ADMIN_HOST=127.0.0.1", "SERVE_ADMIN_PORT=" + admin,
		"SQA_OPT_OUT=true",
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM) // the group may have exited already
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL) // did not stop in time
			<-exited
		}
		if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("hydra's process group %d is still there after stopping it", pgid)
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("hydra's log (the end):\n%s", tail(dir+"/hydra.log", 40))
		}
	})

	// Ready means both APIs answer and the key set is served. Hydra makes
	// its signing keys (RSA 4096) at the first request for the key set; on
	// a busy machine that outlives Hydra's 10 s write timeout, which drops
	// the connection, but the keys are still made and stored, and a later
	// request gets them. Made now, they are in place when the API first
	// fetches them, as they would be in production.
	probe := &http.Client{Timeout: 15 * time.Second}
	up := func() bool {
		return ready(probe, h.admin+"/health/ready") && ready(probe, h.issuer+"/health/ready") &&
			ready(probe, h.issuer+"/.well-known/jwks.json")
	}
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !up() {
		select {
		case err := <-exited:
			exited <- err
			stop()
			return nil, fmt.Errorf("hydra exited (%v):\n%s", err, tail(dir+"/hydra.log", 10))
		case <-tick.C: // polling a process we cannot otherwise hear from
		}
		if time.Now().After(deadline) {
			t.Fatalf("hydra not ready after 2 minutes:\n%s", tail(dir+"/hydra.log", 20))
		}
	}
	return h, nil
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// ready says whether u answers 200.
func ready(client *http.Client, u string) bool {
	resp, err := client.Get(u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// trust is the API's configuration for Hydra's JWT access tokens, as
// docs/providers.md gives it: its issuer exactly, keys through discovery,
// hydraAudience.
func (h *hydra) trust() auth.Issuer {
	return auth.Issuer{URL: h.issuer, Audiences: []string{hydraAudience}}
}

// introspectionURL is Hydra's RFC 7662 endpoint. Hydra v2 serves it on the
// admin port only (the public port answers 404) and does not advertise it
// in discovery, so the API must be told it. It asks no client
// authentication: whatever credentials come are ignored, and the admin
// port's network boundary (or a proxy in front of it) is what protects it.
func (h *hydra) introspectionURL() string {
	return h.admin + "/admin/oauth2/introspect"
}

// newClient registers a client for the client_credentials grant with both
// of the API's scopes, allowed to ask tokens for the given audiences.
func (h *hydra) newClient(t *testing.T, audiences ...string) hydraClient {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"grant_types":                []string{"client_credentials"},
		"scope":                      string(api.ScopeRead) + " " + string(api.ScopeWrite),
		"audience":                   audiences,
		"token_endpoint_auth_method": "client_secret_basic",
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(h.admin+"/admin/clients", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := decodeBody(resp, &c); err != nil || resp.StatusCode != http.StatusCreated || c.ID == "" || c.Secret == "" {
		t.Fatalf("create client: %d %v", resp.StatusCode, err)
	}
	return hydraClient{id: c.ID, secret: c.Secret}
}

// token gets an access token for c through the client_credentials grant,
// with scope and, unless empty, audience: Hydra puts in aud only what the
// request asks for.
func (h *hydra) token(t *testing.T, c hydraClient, scope, audience string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	if audience != "" {
		form.Set("audience", audience)
	}
	resp := h.postAsClient(t, c, "/oauth2/token", form)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := decodeBody(resp, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Fatalf("token endpoint: %d %v (token type %q)", resp.StatusCode, err, tok.TokenType)
	}
	return tok.AccessToken
}

// revoke revokes token at Hydra (RFC 7009), as its client c.
func (h *hydra) revoke(t *testing.T, c hydraClient, token string) {
	t.Helper()
	resp := h.postAsClient(t, c, "/oauth2/revoke", url.Values{"token": {token}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d; want 200", resp.StatusCode)
	}
}

// postAsClient posts form to the public path with c's HTTP Basic
// credentials, form-encoded first as RFC 6749 section 2.3.1 has it.
func (h *hydra) postAsClient(t *testing.T, c hydraClient, path string, form url.Values) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// hydraIntrospection is what Hydra's introspection endpoint says of a
// token.
type hydraIntrospection struct {
	Active    bool     `json:"active"`
	Subject   string   `json:"sub"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
	Audience  []string `json:"aud"`
	Issuer    string   `json:"iss"`
	Expires   int64    `json:"exp"`
	TokenType string   `json:"token_type"`
	// TokenUse is Hydra's own: "access_token" or "refresh_token".
	TokenUse string `json:"token_use"`
}

// introspect asks Hydra's introspection endpoint about token.
func (h *hydra) introspect(t *testing.T, token string) hydraIntrospection {
	t.Helper()
	resp, err := http.PostForm(h.introspectionURL(), url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	var in hydraIntrospection
	if err := decodeBody(resp, &in); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("introspect: %d %v", resp.StatusCode, err)
	}
	return in
}

// newHydraEnv starts an API server on db that trusts h as docs/providers.md
// says.
func newHydraEnv(t *testing.T, h *hydra, db repotest.Database) *env {
	t.Helper()
	return newEnvFor(t, nil, func(c *envConfig) {
		c.db = db
		c.auth.Issuers = []auth.Issuer{h.trust()}
	})
}

// hydraIntrospectionTTL is how long the API believes Hydra's answers in
// the introspection tests: short, so that they see a revocation take
// effect.
const hydraIntrospectionTTL = 2 * time.Second

// newIntrospectingHydraEnv is newHydraEnv with the API asking Hydra about
// its tokens as the client self, about JWTs too when jwts is set.
func newIntrospectingHydraEnv(t *testing.T, h *hydra, db repotest.Database, self hydraClient, jwts bool) *env {
	t.Helper()
	return newEnvFor(t, nil, func(c *envConfig) {
		c.db = db
		iss := h.trust()
		iss.Introspection = auth.Introspection{URL: h.introspectionURL(), ClientID: self.id, ClientSecret: self.secret, JWTs: jwts}
		c.auth.Issuers = []auth.Issuer{iss}
		c.auth.IntrospectionCacheTTL = hydraIntrospectionTTL
	})
}

// wantRefusedAfterRevocation revokes tok at Hydra and checks that the API,
// which accepted it, refuses it as inactive within its introspection
// cache's lifetime (and a second for the call).
func wantRefusedAfterRevocation(t *testing.T, e *env, h *hydra, c hydraClient, tok, path string) {
	t.Helper()
	e.do(t, request{method: http.MethodGet, path: path, token: tok}).wantStatus(t, http.StatusOK)
	h.revoke(t, c, tok)
	revoked := time.Now()
	// The cache runs on the real clock, against a real provider whose
	// clock cannot be moved: the loop polls until the cached answer ends,
	// rather than waiting for an event the test could observe.
	for {
		r := e.do(t, request{method: http.MethodGet, path: path, token: tok})
		if r.status == http.StatusUnauthorized {
			if p := r.wantProblem(t, http.StatusUnauthorized); p.Detail != auth.ReasonInactive.Description() {
				t.Errorf("refused with %q; want %q", p.Detail, auth.ReasonInactive.Description())
			}
			t.Logf("refused %s after the revocation", time.Since(revoked).Round(time.Millisecond))
			return
		}
		r.wantStatus(t, http.StatusOK)
		if time.Since(revoked) > hydraIntrospectionTTL+time.Second {
			t.Fatalf("a token revoked at Hydra is still accepted %s later; the cache lasts %s", time.Since(revoked).Round(time.Millisecond), hydraIntrospectionTTL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHydraJWT runs the API against Ory Hydra v2.3.0 issuing JWT access
// tokens through the client_credentials grant: they create and read
// orders, two clients see only their own orders, and tokens for another
// audience, with no audience or without the write scope are refused.
// Hydra's revocation does not reach a JWT the API verifies locally: the
// token works on after Hydra says it is inactive, which is why
// ORDERS_AUTH_INTROSPECT_JWTS exists.
func TestHydraJWT(t *testing.T) {
	t.Parallel()
	h := startHydra(t, hydraJWT)
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		alice := h.newClient(t, hydraAudience, "billing-api")
		bob := h.newClient(t, hydraAudience)
		aliceRW := h.token(t, alice, rw, hydraAudience)
		bobRW := h.token(t, bob, rw, hydraAudience)
		wantHydraJWT(t, h, aliceRW, alice)
		e := newHydraEnv(t, h, db)

		mine := e.create(t, aliceRW, item{"latte", "big", 1})
		e.do(t, request{method: http.MethodGet, path: "/orders/" + mine.ID, token: aliceRW}).wantStatus(t, http.StatusOK)
		if l, _ := e.list(t, aliceRW, ""); len(l.Orders) != 1 || l.Orders[0].ID != mine.ID {
			t.Errorf("alice's list = %+v; want her one order", l.Orders)
		}
		e.do(t, request{method: http.MethodGet, path: "/orders/" + mine.ID, token: bobRW}).wantProblem(t, http.StatusNotFound)
		theirs := e.create(t, bobRW, item{"mocha", "small", 2})
		if l, _ := e.list(t, bobRW, ""); len(l.Orders) != 1 || l.Orders[0].ID != theirs.ID {
			t.Errorf("bob's list = %+v; want his one order", l.Orders)
		}

		refused := []struct {
			name      string
			scope     string
			audience  string
			status    int
			challenge string
		}{
			{"read-only token cannot write", string(api.ScopeRead), hydraAudience, http.StatusForbidden, `error="insufficient_scope"`},
			{"token for another audience", rw, "billing-api", http.StatusUnauthorized, `error="invalid_token"`},
			{"token asked without audience", rw, "", http.StatusUnauthorized, `error="invalid_token"`},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				tok := h.token(t, alice, tt.scope, tt.audience)
				r := e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: `{"order":[{"product":"latte","size":"big"}]}`})
				r.wantProblem(t, tt.status)
				if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) {
					t.Errorf("WWW-Authenticate = %q; want %s", got, tt.challenge)
				}
			})
		}

		t.Run("revoked at Hydra, still verified locally", func(t *testing.T) {
			if !h.introspect(t, aliceRW).Active {
				t.Fatal("Hydra says alice's token is inactive before it is revoked")
			}
			h.revoke(t, alice, aliceRW)
			if h.introspect(t, aliceRW).Active {
				t.Fatal("Hydra says alice's token is active after it was revoked")
			}
			e.do(t, request{method: http.MethodGet, path: "/orders/" + mine.ID, token: aliceRW}).wantStatus(t, http.StatusOK)
		})

		t.Run("revoked at Hydra, refused with ORDERS_AUTH_INTROSPECT_JWTS", func(t *testing.T) {
			ie := newIntrospectingHydraEnv(t, h, db, h.newClient(t), true)
			tok := h.token(t, alice, rw, hydraAudience)
			wantRefusedAfterRevocation(t, ie, h, alice, tok, "/orders/"+mine.ID)
		})
	})
}

// wantHydraJWT checks that tok is an RS256 JWT of Hydra's for c, with the
// claims docs/providers.md shows: the exact issuer, aud an array, scp.
func wantHydraJWT(t *testing.T, h *hydra, tok string, c hydraClient) {
	t.Helper()
	var claims struct {
		jwt.RegisteredClaims
		ClientID string   `json:"client_id"`
		Scopes   []string `json:"scp"`
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &claims)
	if err != nil {
		t.Fatalf("Hydra's access token is not a JWT: %v", err)
	}
	got := []any{parsed.Method.Alg(), claims.Issuer, claims.Subject, claims.ClientID, []string(claims.Audience), claims.Scopes}
	want := []any{"RS256", h.issuer, c.id, c.id, []string{hydraAudience}, strings.Fields(rw)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Hydra's JWT (alg, iss, sub, client_id, aud, scp) (-want +got):\n%s", diff)
	}
}

// TestHydraOpaque runs Ory Hydra v2.3.0 issuing opaque access tokens and
// proves the harness the introspection tests build on: Hydra's
// introspection endpoint says a token is active, with its owner, scope and
// audience, and inactive once revoked. The API, not configured for
// introspection, refuses the token with 401.
func TestHydraOpaque(t *testing.T) {
	t.Parallel()
	h := startHydra(t, hydraOpaque)
	c := h.newClient(t, hydraAudience)
	tok := h.token(t, c, rw, hydraAudience)
	if !strings.HasPrefix(tok, "ory_at_") || strings.Count(tok, ".") == 2 {
		t.Fatalf("Hydra's access token is not opaque: it starts %.10q", tok)
	}

	in := h.introspect(t, tok)
	want := hydraIntrospection{
		Active: true, Subject: c.id, ClientID: c.id, Scope: rw, Audience: []string{hydraAudience},
		Issuer: h.issuer, Expires: in.Expires, TokenType: "Bearer", TokenUse: "access_token",
	}
	if diff := cmp.Diff(want, in); diff != "" {
		t.Errorf("introspection (-want +got):\n%s", diff)
	}
	if exp := time.Unix(in.Expires, 0); time.Until(exp) < 50*time.Minute || time.Until(exp) > time.Hour {
		t.Errorf("exp = %v; want in Hydra's default hour", exp)
	}

	e := newHydraEnv(t, h, repotest.SQLite(t))
	r := e.do(t, request{method: http.MethodGet, path: "/orders", token: tok})
	r.wantProblem(t, http.StatusUnauthorized)
	if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q; want invalid_token", got)
	}

	h.revoke(t, c, tok)
	if diff := cmp.Diff(hydraIntrospection{}, h.introspect(t, tok)); diff != "" {
		t.Errorf("introspection after revocation, want only active false (-want +got):\n%s", diff)
	}
}

// TestHydraIntrospection runs the API against Ory Hydra v2.3.0 issuing
// opaque access tokens, which the API introspects at Hydra's admin
// endpoint as a client of its own, on SQLite and PostgreSQL: they create
// and read orders, two clients see only their own, a read-only token
// cannot write, a token for another audience is refused, and a token
// revoked at Hydra is refused within the introspection cache's lifetime.
func TestHydraIntrospection(t *testing.T) {
	t.Parallel()
	h := startHydra(t, hydraOpaque)
	self := h.newClient(t) // the API's own client at Hydra
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newIntrospectingHydraEnv(t, h, db, self, false)
		alice, bob := h.newClient(t, hydraAudience, "billing-api"), h.newClient(t, hydraAudience)
		aliceRW, bobRW := h.token(t, alice, rw, hydraAudience), h.token(t, bob, rw, hydraAudience)
		if strings.Count(aliceRW, ".") == 2 {
			t.Fatal("Hydra's access token is a JWT; want an opaque one")
		}
		mine := e.create(t, aliceRW, item{"latte", "big", 1})
		if l, _ := e.list(t, aliceRW, ""); len(l.Orders) != 1 || l.Orders[0].ID != mine.ID {
			t.Errorf("alice's list = %+v; want her one order", l.Orders)
		}
		e.do(t, request{method: http.MethodGet, path: "/orders/" + mine.ID, token: bobRW}).wantProblem(t, http.StatusNotFound)

		reader := h.token(t, alice, string(api.ScopeRead), hydraAudience)
		e.do(t, request{method: http.MethodPost, path: "/orders", token: reader, body: `{"order":[{"product":"latte","size":"big"}]}`}).wantProblem(t, http.StatusForbidden)
		e.do(t, request{method: http.MethodGet, path: "/orders/" + mine.ID, token: reader}).wantStatus(t, http.StatusOK)
		e.do(t, request{method: http.MethodGet, path: "/orders", token: h.token(t, alice, rw, "billing-api")}).wantProblem(t, http.StatusUnauthorized)

		wantRefusedAfterRevocation(t, e, h, alice, aliceRW, "/orders/"+mine.ID)
	})
}
