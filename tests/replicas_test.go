package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/repository/repotest"
)

// serve starts the binary on db for idp and returns its base URL.
func serve(t *testing.T, idp *authtest.IdP, db repotest.Database) (*process, string) {
	t.Helper()
	env := serverEnv(t, idp)
	env["ORDERS_DATABASE_URL"] = db.URL
	p := start(t, env, "serve")
	return p, "http://" + p.waitFor(t, "listening")["addr"].(string)
}

// listAll follows the Link headers and returns every order id of token's
// owner, with how often each was listed.
func listAll(t *testing.T, base, token string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	next := "/orders?limit=100"
	for next != "" {
		req, _ := http.NewRequest(http.MethodGet, base+next, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var l orderList
		if err := decodeBody(resp, &l); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("list: %d %v", resp.StatusCode, err)
		}
		for _, o := range l.Orders {
			seen[o.ID]++
		}
		next = nextLink(t, resp.Header.Get("Link"))
	}
	return seen
}

// TestCrashLosesNoAcknowledgedOrder kills the server with SIGKILL while
// clients place orders, restarts it on the same database, and finds every
// order that was acknowledged with 201.
func TestCrashLosesNoAcknowledgedOrder(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		idp := authtest.NewIdP(t)
		tok := idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw})
		p, base := serve(t, idp, db)

		var (
			mu      sync.Mutex
			acked   []string
			stop    atomic.Bool
			wg      sync.WaitGroup
			serverE atomic.Int64
			// going is closed at the 100th acknowledged order.
			going = make(chan struct{})
		)
		for w := range 16 {
			wg.Go(func() {
				for i := 0; !stop.Load(); i++ {
					status, id, err := placeOrder(http.DefaultClient, base, tok, fmt.Sprintf("w%d-%d", w, i))
					switch {
					case err != nil:
						return // the server is gone
					case status == http.StatusCreated:
						mu.Lock()
						acked = append(acked, id)
						if len(acked) == 100 {
							close(going)
						}
						mu.Unlock()
					case status >= 500:
						serverE.Add(1)
					}
				}
			})
		}
		// Let the writers get going, then kill the server mid-write; too
		// few acknowledgements fail the test below.
		select {
		case <-going:
		case <-time.After(10 * time.Second):
		}
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.done
		stop.Store(true)
		wg.Wait()
		if len(acked) < 100 {
			t.Fatalf("only %d orders acknowledged before the kill", len(acked))
		}
		if n := serverE.Load(); n != 0 {
			t.Errorf("%d server errors under load", n)
		}

		_, base = serve(t, idp, db)
		seen := listAll(t, base, tok)
		for _, id := range acked {
			if seen[id] != 1 {
				t.Errorf("acknowledged order %s listed %d times after the crash", id, seen[id])
			}
		}
		t.Logf("%d acknowledged orders, %d found after restart", len(acked), len(seen))
	})
}

// TestReplicas runs two instances on one PostgreSQL database: what one
// does, the other sees at once, and the migrations ran once.
func TestReplicas(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	db := repotest.Postgres(t)
	var (
		bases [2]string
		wg    sync.WaitGroup
	)
	for i := range bases {
		wg.Go(func() { _, bases[i] = serve(t, idp, db) }) // both start, and migrate, at once
	}
	wg.Wait()
	a, b := bases[0], bases[1]
	alice := idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw})
	bob := idp.Token(t, authtest.Claims{Subject: "bob", Scope: rw})

	status, body := call(t, "POST", a+"/orders", alice, `{"order":[{"product":"latte","size":"big"}]}`)
	if status != http.StatusCreated {
		t.Fatalf("create on a: %d %s", status, body)
	}
	var o order
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		method, base, path, token string
		want                      int
		status                    string
	}{
		{"GET", b, "/orders/" + o.ID, alice, 200, "created"},
		{"GET", b, "/orders/" + o.ID, bob, 404, ""},
		{"POST", b, "/orders/" + o.ID + "/pay", alice, 200, "paid"},
		{"GET", a, "/orders/" + o.ID, alice, 200, "paid"},
		{"POST", a, "/orders/" + o.ID + "/pay", alice, 409, ""},
		{"POST", b, "/orders/" + o.ID + "/cancel", alice, 200, "cancelled"},
		{"GET", a, "/orders?cancelled=true", alice, 200, ""},
	}
	for _, st := range steps {
		status, body := call(t, st.method, st.base+st.path, st.token, "")
		if status != st.want {
			t.Fatalf("%s %s: %d %s; want %d", st.method, st.path, status, body, st.want)
		}
		if st.status != "" {
			var got order
			if err := json.Unmarshal(body, &got); err != nil || got.Status != st.status {
				t.Errorf("%s %s: %s; want status %s", st.method, st.path, body, st.status)
			}
		}
	}
	if seen := listAll(t, b, alice); len(seen) != 1 || seen[o.ID] != 1 {
		t.Errorf("b lists %v; want alice's one order", seen)
	}
}

// TestGracefulShutdown sends SIGTERM while clients are busy: every request
// the server took is answered without a server error, the process exits
// cleanly, and then no new connection is accepted.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		idp := authtest.NewIdP(t)
		tok := idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw})
		p, base := serve(t, idp, db)
		var (
			wg       sync.WaitGroup
			answered atomic.Int64
			failed   atomic.Int64
			stop     atomic.Bool
			// busy is closed at the 50th answered request.
			busy = make(chan struct{})
		)
		for range 16 {
			wg.Go(func() {
				client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
				for !stop.Load() {
					status, _, err := placeOrder(client, base, tok, "latte")
					if err != nil {
						return // refused: the server has stopped listening
					}
					if status == http.StatusCreated {
						if answered.Add(1) == 50 {
							close(busy)
						}
					} else {
						failed.Add(1)
					}
				}
			})
		}
		select {
		case <-busy:
		case <-time.After(20 * time.Second):
			t.Fatal("the clients had fewer than 50 answers within 20s")
		}
		p.terminate(t)
		stop.Store(true)
		wg.Wait()
		if n := failed.Load(); n != 0 {
			t.Errorf("%d requests failed during shutdown", n)
		}
		if _, err := http.Get(base + "/healthz"); err == nil {
			t.Error("the server still answers after shutting down")
		}
	})
}
