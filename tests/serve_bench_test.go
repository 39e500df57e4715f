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
	"github.com/coffeemesh/orders/repository"
	"github.com/coffeemesh/orders/repository/repotest"
)

// BenchmarkServe measures what the server does for one request, without the
// network: the request id, the log line and the metrics, a warm token, the
// scope check, the repository on a SQLite file holding 100 orders of the
// caller, and the JSON answer. Run it with -cpu 1, as the load script runs
// the server.
func BenchmarkServe(b *testing.B) {
	idp := authtest.NewIdP(b)
	v, err := auth.NewVerifier(idp.Config(), authtest.Discard())
	if err != nil {
		b.Fatal(err)
	}
	go v.Run(b.Context())
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	store := repository.NewOrders(repotest.Open(b, repotest.SQLite(b)))
	h, err := api.New(api.Config{Metrics: prometheus.NewRegistry()}, v, store, log)
	if err != nil {
		b.Fatal(err)
	}
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
