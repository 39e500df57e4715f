package tests

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coffeemesh/orders/repository/repotest"
)

// withKey returns a header holding key as the Idempotency-Key.
func withKey(key string) http.Header { return http.Header{"Idempotency-Key": {key}} }

// TestIdempotentCreate checks POST /orders under an Idempotency-Key: a
// repeat replays the first answer and creates nothing, another body with
// the key is 422, another owner's key of the same name is another key, and
// eight concurrent POSTs with one key create exactly one order.
func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		alice, bob := e.token(t, "alice", rw), e.token(t, "bob", rw)
		latte := `{"order":[{"product":"latte","size":"big"}]}`
		post := func(tok, key, body string) response {
			return e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: body, header: withKey(key)})
		}
		first := post(alice, "key-1", latte)
		first.wantStatus(t, http.StatusCreated)
		again := post(alice, "key-1", latte)
		again.wantStatus(t, http.StatusCreated)
		if !bytes.Equal(again.body, first.body) || again.header.Get("Location") != first.header.Get("Location") ||
			again.header.Get("ETag") != first.header.Get("ETag") || again.header.Get("Content-Type") != first.header.Get("Content-Type") {
			t.Errorf("repeat = %s %v; want the first answer %s %v", again.body, again.header, first.body, first.header)
		}
		if again.header.Get("Idempotent-Replayed") != "true" || first.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("Idempotent-Replayed: first %q, repeat %q; want none, then true", first.header.Get("Idempotent-Replayed"), again.header.Get("Idempotent-Replayed"))
		}
		post(alice, "key-1", `{"order":[{"product":"tea","size":"big"}]}`).wantProblem(t, http.StatusUnprocessableEntity)

		theirs := post(bob, "key-1", latte)
		theirs.wantStatus(t, http.StatusCreated)
		if theirs.header.Get("Location") == first.header.Get("Location") || theirs.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("bob's key-1 answered alice's order %s", theirs.header.Get("Location"))
		}

		var (
			wg        sync.WaitGroup
			locations sync.Map
			failures  atomic.Int64
		)
		for range 8 {
			wg.Go(func() {
				r := post(alice, "key-concurrent", latte)
				if r.status != http.StatusCreated {
					failures.Add(1)
					return
				}
				locations.Store(r.header.Get("Location"), true)
			})
		}
		wg.Wait()
		n := 0
		locations.Range(func(any, any) bool { n++; return true })
		if failures.Load() != 0 || n != 1 {
			t.Errorf("eight concurrent POSTs with one key: %d failed, %d orders answered; want none failed, one order", failures.Load(), n)
		}
		list, _ := e.list(t, alice, "")
		if len(list.Orders) != 2 {
			t.Errorf("alice has %d orders; want 2, one per key", len(list.Orders))
		}
	})
}

// TestIdempotentTransitions checks cancel and pay (without a payments
// service) under an Idempotency-Key: a repeat replays the 200 although the
// order's status would now refuse the change, and a new key does not.
func TestIdempotentTransitions(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.token(t, "alice", rw)
		for _, action := range []string{"pay", "cancel"} {
			t.Run(action, func(t *testing.T) {
				o := e.create(t, tok, item{"latte", "big", 1})
				req := request{method: http.MethodPost, path: "/orders/" + o.ID + "/" + action, token: tok, header: withKey(action + "-" + o.ID)}
				first := e.do(t, req)
				first.wantStatus(t, http.StatusOK)
				again := e.do(t, req)
				again.wantStatus(t, http.StatusOK)
				if !bytes.Equal(again.body, first.body) || again.header.Get("ETag") != first.header.Get("ETag") || again.header.Get("Idempotent-Replayed") != "true" {
					t.Errorf("repeat = %s, ETag %s; want the first answer %s, ETag %s, replayed", again.body, again.header.Get("ETag"), first.body, first.header.Get("ETag"))
				}
				req.header = withKey("another-" + action)
				e.do(t, req).wantProblem(t, http.StatusConflict)
				req.header = withKey(action + "-" + o.ID)
				req.path = "/orders/" + o.ID + "/cancel"
				if action == "pay" {
					e.do(t, req).wantProblem(t, http.StatusUnprocessableEntity)
				}
			})
		}
	})
}

// TestIdempotencyKeyValidation: a key that is not 1 to 255 visible ASCII
// characters, or two keys, is 400 and creates nothing; the draft's quoted
// form is the key between the quotes.
func TestIdempotencyKeyValidation(t *testing.T) {
	t.Parallel()
	e := newEnvFor(t, nil, func(*envConfig) {})
	tok := e.token(t, "alice", rw)
	latte := `{"order":[{"product":"latte","size":"big"}]}`
	for _, tt := range []struct {
		name   string
		header http.Header
	}{
		{"empty", withKey("")},
		{"too long", withKey(strings.Repeat("k", 256))},
		{"a space", withKey("a b")},
		{"not ASCII", withKey("clé")},
		{"a tab", withKey("a\tb")},
		{"empty quotes", withKey(`""`)},
		{"a quote inside quotes", withKey(`"a"b"`)},
		{"two keys", http.Header{"Idempotency-Key": {"a", "b"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: latte, header: tt.header}).wantProblem(t, http.StatusBadRequest)
		})
	}
	if list, _ := e.list(t, tok, ""); len(list.Orders) != 0 {
		t.Errorf("refused keys created %d orders", len(list.Orders))
	}
	longest := strings.Repeat("k", 255)
	e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: latte, header: withKey(longest)}).wantStatus(t, http.StatusCreated)
	quoted := e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: latte, header: withKey(`"` + longest + `"`)})
	quoted.wantStatus(t, http.StatusCreated)
	if quoted.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("the quoted key was not read as the same key")
	}
}

// TestIdempotentPay checks pay through the payments service under an
// Idempotency-Key: a failed payment is not stored, so its retry with the
// same key pays; the paid answer is then replayed without calling the
// payments service again.
func TestIdempotentPay(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		pe := newPayEnv(t, db, nil)
		tok := pe.token(t, "alice", rw)
		o := pe.create(t, tok, item{"latte", "big", 1})
		var calls atomic.Int64
		pe.setFault(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		})
		req := request{method: http.MethodPost, path: "/orders/" + o.ID + "/pay", token: tok, header: withKey("pay-once")}
		pe.do(t, req).wantProblem(t, http.StatusServiceUnavailable)
		if calls.Load() == 0 {
			t.Fatal("the payments service was not called")
		}
		pe.setFault(nil)
		paid := pe.do(t, req)
		paid.wantStatus(t, http.StatusOK)
		if paid.header.Get("Idempotent-Replayed") != "" {
			t.Errorf("the retry after a failed payment was replayed; want it paid")
		}
		pe.setFault(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
		})
		before := calls.Load()
		again := pe.do(t, req)
		again.wantStatus(t, http.StatusOK)
		if !bytes.Equal(again.body, paid.body) || again.header.Get("Idempotent-Replayed") != "true" || calls.Load() != before {
			t.Errorf("repeat of a paid pay = %s, %d more payment calls; want the replay, none", again.body, calls.Load()-before)
		}
	})
}

// TestControlMetrics: replays, reused keys and failed preconditions are
// counted in orders_request_controls_total.
func TestControlMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newEnvFor(t, nil, func(c *envConfig) { c.api.Metrics = reg })
	tok := e.token(t, "alice", rw)
	latte := `{"order":[{"product":"latte","size":"big"}]}`
	for range 3 {
		e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: latte, header: withKey("k")}).wantStatus(t, http.StatusCreated)
	}
	e.do(t, request{method: http.MethodPost, path: "/orders", token: tok, body: `{"order":[]}`, header: withKey("k")})
	o := e.create(t, tok, item{"tea", "big", 1})
	e.do(t, request{method: http.MethodPost, path: "/orders/" + o.ID + "/cancel", token: tok, header: http.Header{"If-Match": {`"7"`}}}).wantProblem(t, http.StatusPreconditionFailed)
	for control, want := range map[string]float64{"idempotent_replay": 2, "idempotency_key_reused": 1, "precondition_failed": 1} {
		if got := controlCount(t, reg, control); got != want {
			t.Errorf("%s counted %v; want %v", control, got, want)
		}
	}
}
