// Package tests holds the black-box end-to-end tests of the orders API: a
// real HTTP server (httptest) over a real SQLite file, and an in-test identity
// provider that serves discovery and a JWKS and signs real tokens. Tests
// assert only what a client sees over HTTP.
package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/repository"
	"github.com/coffeemesh/orders/repository/repotest"
)

// allowedOrigin is the one origin the test server allows for CORS.
const allowedOrigin = "https://app.example.com"

// env is one API server with its own identity provider and database.
type env struct {
	idp *authtest.IdP
	url string
	log *syncBuffer

	mu     sync.Mutex
	tokens []string // every token and credential a test sent, to look for in the log
}

// envConfig is what a test may change of its server's configuration.
type envConfig struct {
	auth auth.Config
	api  api.Config
	// db is the database; a fresh SQLite file unless set.
	db repotest.Database
	// store wraps the repository, when set, to change what the API uses.
	store func(*gorm.DB) api.OrderStore
}

// newEnvOn starts an API server on db for one test, with its own identity
// provider, and checks, when the test ends, that no token it sent appears
// in the server's log.
func newEnvOn(t *testing.T, db repotest.Database) *env {
	t.Helper()
	return newEnvFor(t, authtest.NewIdP(t), func(c *envConfig) { c.db = db })
}

// newEnvFor starts an API server with the given identity provider (a new
// one if nil) and a configuration that configure may change: it starts as
// the IdP's, on a fresh SQLite file, allowing CORS from allowedOrigin.
func newEnvFor(t *testing.T, idp *authtest.IdP, configure func(*envConfig)) *env {
	t.Helper()
	if idp == nil {
		idp = authtest.NewIdP(t)
	}
	e := &env{idp: idp, log: &syncBuffer{}}
	cfg := envConfig{auth: e.idp.Config(), api: api.Config{CORSOrigins: []string{allowedOrigin}}}
	configure(&cfg)
	if cfg.db.URL == "" {
		cfg.db = repotest.SQLite(t)
	}
	log := slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db := repotest.Open(t, cfg.db)
	v, err := auth.NewVerifier(cfg.auth, log)
	if err != nil {
		t.Fatal(err)
	}
	go v.Run(t.Context())
	var store api.OrderStore = repository.NewOrders(db)
	if cfg.store != nil {
		store = cfg.store(db)
	}
	h, err := api.New(cfg.api, v, store, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	t.Cleanup(func() { e.checkLog(t) })
	return e
}

func (e *env) checkLog(t *testing.T) {
	logged := e.log.String()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tok := range e.tokens {
		// The signature is the secret part; a token's header alone is not.
		if i := strings.LastIndexByte(tok, '.'); i >= 0 && len(tok)-i > 8 && strings.Contains(logged, tok[i+1:]) {
			t.Errorf("the server log holds a token")
		}
		if len(tok) > 20 && strings.Contains(logged, tok) {
			t.Errorf("the server log holds a token")
		}
	}
}

// token mints a valid token for sub with the given scopes.
func (e *env) token(t *testing.T, sub, scope string) string {
	t.Helper()
	return e.idp.Token(t, authtest.Claims{Subject: sub, Scope: scope})
}

const rw = "orders:read orders:write"

// request describes one call; zero fields are left out.
type request struct {
	method string
	path   string
	token  string
	// body is sent as is if it is a string, else as its JSON encoding.
	body        any
	contentType string
	header      http.Header
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends r and returns the response.
func (e *env) do(t *testing.T, r request) response {
	t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(enc)
	}
	req, err := http.NewRequestWithContext(t.Context(), r.method, e.url+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			req.Header.Add(k, v)
			if k == "Authorization" {
				_, cred, _ := strings.Cut(v, " ")
				e.mu.Lock()
				e.tokens = append(e.tokens, v, cred)
				e.mu.Unlock()
			}
		}
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
		e.mu.Lock()
		e.tokens = append(e.tokens, r.token)
		e.mu.Unlock()
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// decode decodes the JSON body into v, failing on unknown fields so that a
// response with more members than the contract says is caught.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// wantProblem checks that r is a problem+json response with status and
// returns its body.
func (r response) wantProblem(t *testing.T, status int) problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d; want %d; body %s", r.status, status, r.body)
	}
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	if mt != "application/problem+json" {
		t.Errorf("Content-Type = %q; want application/problem+json", r.header.Get("Content-Type"))
	}
	var p problem
	r.decode(t, &p)
	if p.Status != status || p.Title == "" || p.Detail == "" || p.Type == "" {
		t.Errorf("problem = %+v; want status %d with type, title and detail", p, status)
	}
	for _, leak := range []string{"SELECT", "sql", "goroutine", ".go:", "eyJ"} {
		if strings.Contains(string(r.body), leak) {
			t.Errorf("problem body leaks %q: %s", leak, r.body)
		}
	}
	return p
}

// wantStatus fails the test unless r has status.
func (r response) wantStatus(t *testing.T, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d; want %d; body %s", r.status, status, r.body)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// placeOrder posts an order of one product for token with client and
// returns the status and, on 201, the new order's id. An error means no
// answer came.
func placeOrder(client *http.Client, base, token, product string) (int, string, error) {
	body := fmt.Sprintf(`{"order":[{"product":%q,"size":"big"}]}`, product)
	req, err := http.NewRequest(http.MethodPost, base+"/orders", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	var o order
	if err := decodeBody(resp, &o); err != nil && resp.StatusCode == http.StatusCreated {
		return 0, "", err
	}
	return resp.StatusCode, o.ID, nil
}

// decodeBody decodes a response's JSON body into v and closes it.
func decodeBody(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
