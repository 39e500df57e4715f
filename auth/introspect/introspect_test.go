package introspect_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coffeemesh/orders/auth/clientauth"
	"github.com/coffeemesh/orders/auth/introspect"
)

// TestFailedAnswersKeepTheConnection: the body of an answer that is not a
// 200 JSON is read and dropped, so the next call reuses the connection.
func TestFailedAnswersKeepTheConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("html") {
			w.Header().Set("Content-Type", "text/html")
		} else {
			w.WriteHeader(http.StatusInternalServerError)
		}
		_, _ = w.Write([]byte(strings.Repeat("error ", 2000))) // the client's loss if it went away
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	for _, endpoint := range []string{srv.URL, srv.URL + "?html"} {
		c, err := introspect.New(introspect.Options{Endpoint: endpoint, Client: clientauth.Credentials{ID: "orders", Secret: "s"}})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := c.Introspect(t.Context(), "token"); !errors.Is(err, introspect.ErrUnavailable) {
				t.Fatalf("Introspect = %v; want ErrUnavailable", err)
			}
		}
	}
	if got := conns.Load(); got > 2 {
		t.Errorf("connections for 3 failed calls by each of two clients = %d; want one each at most", got)
	}
}
