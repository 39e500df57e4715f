package tests

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/auth/dpop/dpoptest"
	"github.com/coffeemesh/orders/repository"
	"github.com/coffeemesh/orders/repository/repotest"
)

// newBenchServer returns an IdP and the API's handler trusting it, with
// metrics, a log that goes nowhere and a fresh SQLite store.
func newBenchServer(b *testing.B) (*authtest.IdP, http.Handler) {
	b.Helper()
	return newBenchServerWith(b, api.Config{}, nil)
}

// newBenchServerWith is newBenchServer with the API configured as cfg and
// the verifier's configuration changed by edit, if not nil.
func newBenchServerWith(b *testing.B, cfg api.Config, edit func(*authtest.IdP, *auth.Config)) (*authtest.IdP, http.Handler) {
	b.Helper()
	idp := authtest.NewIdP(b)
	authCfg := idp.Config()
	if edit != nil {
		edit(idp, &authCfg)
	}
	v, err := auth.NewVerifier(authCfg, authtest.Discard())
	if err != nil {
		b.Fatal(err)
	}
	go v.Run(b.Context())
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	store := repository.NewOrders(repotest.Open(b, repotest.SQLite(b)))
	cfg.Metrics = prometheus.NewRegistry()
	h, err := api.New(cfg, v, store, log)
	if err != nil {
		b.Fatal(err)
	}
	return idp, h
}

// BenchmarkServe measures what the server does for one request, without the
// network: the request id, the log line and the metrics, a warm token, the
// scope check, the repository on a SQLite file holding 100 orders of the
// caller, and the JSON answer. Run it with -cpu 1, as the load script runs
// the server.
func BenchmarkServe(b *testing.B) {
	idp, h := newBenchServer(b)
	token := idp.Token(b, authtest.Claims{Subject: "alice", Scope: rw})
	const body = `{"order":[{"product":"cappuccino","size":"big","quantity":2},{"product":"croissant","size":"small"},{"product":"latte","size":"medium"}]}`
	serve := func(b *testing.B, method, path, body string, want int) *httptest.ResponseRecorder {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req := httptest.NewRequestWithContext(b.Context(), method, path, r)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			b.Fatalf("%s %s: status %d; want %d: %s", method, path, w.Code, want, w.Body)
		}
		return w
	}
	var id string
	for range 100 {
		id = strings.TrimPrefix(serve(b, "POST", "/orders", body, http.StatusCreated).Header().Get("Location"), "/orders/")
	}
	for _, c := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"healthz", "GET", "/healthz", "", http.StatusOK},
		{"get", "GET", "/orders/" + id, "", http.StatusOK},
		{"list20", "GET", "/orders?limit=20", "", http.StatusOK},
		{"create", "POST", "/orders", body, http.StatusCreated},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				serve(b, c.method, c.path, c.body, c.want)
			}
		})
	}
}

// BenchmarkServeDPoP measures BenchmarkServe's point read with a token
// bound to a key and a fresh proof per request, per algorithm: what the
// server pays on top of the bearer read is Check and the in-memory replay
// store's Use. Signing the proof is the client's work and is left out of
// the time.
func BenchmarkServeDPoP(b *testing.B) {
	idp, h := newBenchServer(b)
	const body = `{"order":[{"product":"cappuccino","size":"big","quantity":2}]}`
	req := httptest.NewRequestWithContext(b.Context(), "POST", "/orders", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+idp.Token(b, authtest.Claims{Subject: "alice", Scope: rw}))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	path := w.Header().Get("Location")
	if w.Code != http.StatusCreated {
		b.Fatalf("POST /orders: status %d: %s", w.Code, w.Body)
	}
	for _, alg := range dpop.DefaultAlgorithms() {
		client := dpoptest.NewClient(b, alg)
		token := idp.Token(b, authtest.Claims{Subject: "alice", Scope: rw, Extra: map[string]any{"cnf": map[string]any{"jkt": client.Thumbprint}}})
		b.Run("get/"+alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				req := httptest.NewRequestWithContext(b.Context(), "GET", path, nil)
				req.Header.Set("Authorization", "DPoP "+token)
				req.Header.Set("DPoP", client.Proof(b, "GET", "http://example.com"+path, token))
				w := httptest.NewRecorder()
				b.StartTimer()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s: status %d: %s", path, w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkServeOpaque measures BenchmarkServe's point read with a JWT and
// with an opaque token whose introspection answer is cached: both are then
// one lookup in the verified-token cache.
func BenchmarkServeOpaque(b *testing.B) {
	idp, h := newBenchServerWith(b, api.Config{}, func(idp *authtest.IdP, c *auth.Config) {
		c.Issuers = []auth.Issuer{idp.TrustIntrospecting()}
		c.IntrospectionCacheTTL = auth.DefaultIntrospectionCacheTTL
	})
	jwt := idp.Token(b, authtest.Claims{Subject: "alice", Scope: rw})
	opaque := idp.OpaqueToken(b, authtest.Claims{Subject: "alice", Scope: rw})
	serve := func(b *testing.B, method, path, token, body string, want int) *httptest.ResponseRecorder {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req := httptest.NewRequestWithContext(b.Context(), method, path, r)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			b.Fatalf("%s %s: status %d; want %d: %s", method, path, w.Code, want, w.Body)
		}
		return w
	}
	var id string
	for range 100 {
		id = strings.TrimPrefix(serve(b, "POST", "/orders", jwt, `{"order":[{"product":"latte","size":"big"}]}`, http.StatusCreated).Header().Get("Location"), "/orders/")
	}
	for _, c := range []struct{ name, token string }{{"get/jwt", jwt}, {"get/opaque", opaque}} {
		b.Run(c.name, func(b *testing.B) {
			serve(b, "GET", "/orders/"+id, c.token, "", http.StatusOK)
			b.ReportAllocs()
			for b.Loop() {
				serve(b, "GET", "/orders/"+id, c.token, "", http.StatusOK)
			}
		})
	}
	if calls := idp.IntrospectionCalls(); calls > 1+int64(b.Elapsed()/auth.DefaultIntrospectionCacheTTL) {
		b.Errorf("%d introspection calls; want one per cache TTL", calls)
	}
}
