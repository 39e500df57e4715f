package tests

import (
	"context"
	"mime"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/coffeemesh/orders/api"
	"github.com/coffeemesh/orders/repository"
	"github.com/coffeemesh/orders/repository/repotest"
)

// faultPool is the pool of the crash test: serve's default timeouts, fewer
// connections.
var faultPool = repository.Pool{MaxOpenConns: 8, StatementTimeout: 5 * time.Second, AcquireTimeout: 2 * time.Second}

// newEnvOnPool starts an API server on db (which it migrates) whose store
// and readiness check use a pool opened with pool, as serve's do.
func newEnvOnPool(t *testing.T, db repotest.Database, pool repository.Pool) *env {
	t.Helper()
	served := repotest.OpenPool(t, db, pool)
	return newEnvFor(t, nil, func(c *envConfig) {
		c.db = db
		c.store = func(*gorm.DB) api.OrderStore { return repository.NewOrders(served) }
		c.api.Ready = func(ctx context.Context) error { return repository.Ping(ctx, served) }
	})
}

// outcome is the answer to one write.
type outcome struct {
	at         time.Time
	status     int
	retryAfter string
	mediaType  string
	id         string
	err        error
}

// writeLoad posts orders from several writers until halted, recording
// every answer.
type writeLoad struct {
	mu       sync.Mutex
	outcomes []outcome
	stop     chan struct{}
	wg       sync.WaitGroup
	halt     func() []outcome
}

// startWrites starts writers that each post an order every 10 ms; they
// stop when the test ends, if not before.
func startWrites(t *testing.T, e *env, token string, writers int) *writeLoad {
	l := &writeLoad{stop: make(chan struct{})}
	client := &http.Client{Timeout: 30 * time.Second}
	for range writers {
		l.wg.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond) // a steady load, not a busy loop
			defer tick.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-tick.C:
				}
				o := postOrder(client, e.url, token)
				l.mu.Lock()
				l.outcomes = append(l.outcomes, o)
				l.mu.Unlock()
			}
		})
	}
	l.halt = sync.OnceValue(func() []outcome {
		close(l.stop)
		l.wg.Wait()
		return l.outcomes
	})
	t.Cleanup(func() { l.halt() })
	return l
}

// count returns how many answers with status came after since.
func (l *writeLoad) count(since time.Time, status int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, o := range l.outcomes {
		if o.status == status && o.at.After(since) {
			n++
		}
	}
	return n
}

// postOrder posts one order and says what came back.
func postOrder(client *http.Client, base, token string) outcome {
	req, err := http.NewRequest(http.MethodPost, base+"/orders", strings.NewReader(`{"order":[{"product":"espresso","size":"small"}]}`))
	if err != nil {
		return outcome{at: time.Now(), err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return outcome{at: time.Now(), err: err}
	}
	var o order
	decodeErr := decodeBody(resp, &o)
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	out := outcome{at: time.Now(), status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), mediaType: mt, id: o.ID}
	if resp.StatusCode == http.StatusCreated {
		out.err = decodeErr
	}
	return out
}

// waitUntil polls cond until it holds, and fails the test if it does not
// within limit.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond) // polling the load's answers
	}
}

// checkOutcomes fails the test for a write that got no answer, a status
// other than 201 or 503, or a 503 without Retry-After or problem+json.
func checkOutcomes(t *testing.T, outcomes []outcome) (created []string) {
	t.Helper()
	for _, o := range outcomes {
		switch {
		case o.err != nil:
			t.Errorf("a write got no proper answer: %v", o.err)
		case o.status == http.StatusCreated:
			created = append(created, o.id)
		case o.status != http.StatusServiceUnavailable:
			t.Errorf("a write was answered %d; want 201 or 503", o.status)
		case o.retryAfter != "5" || o.mediaType != "application/problem+json":
			t.Errorf("503 with Retry-After %q, Content-Type %q; want 5 and application/problem+json", o.retryAfter, o.mediaType)
		}
	}
	return created
}

// TestDatabaseCrashUnderWriteLoad kills PostgreSQL with SIGKILL while
// orders are written, then starts it again: every write during the outage
// is answered 503 with Retry-After, never 500; /readyz says 503 and
// /healthz 200 meanwhile; writes succeed within 15 s of the database's
// return, with no restart of the API; and every order answered 201 is
// there afterwards.
func TestDatabaseCrashUnderWriteLoad(t *testing.T) {
	t.Parallel()
	cluster := repotest.NewCluster(t)
	e := newEnvOnPool(t, cluster.Database(t), faultPool)
	token := e.token(t, "alice", rw)
	load := startWrites(t, e, token, 4)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", e.log.String())
		}
	})
	waitUntil(t, 30*time.Second, "20 orders created before the crash", func() bool { return load.count(time.Time{}, http.StatusCreated) >= 20 })

	crash := time.Now()
	cluster.Kill(t)
	waitUntil(t, 30*time.Second, "20 writes answered 503 during the outage", func() bool {
		return load.count(crash, http.StatusServiceUnavailable) >= 20
	})
	ready := e.do(t, request{method: http.MethodGet, path: "/readyz"})
	ready.wantProblem(t, http.StatusServiceUnavailable)
	if ready.header.Get("Retry-After") == "" {
		t.Error("/readyz 503 without Retry-After")
	}
	e.do(t, request{method: http.MethodGet, path: "/healthz"}).wantStatus(t, http.StatusOK)

	cluster.Start(t)
	back := time.Now()
	waitUntil(t, 15*time.Second, "an order created after the database's return", func() bool {
		return load.count(back, http.StatusCreated) > 0
	})
	t.Logf("first write after the restart: within %s", time.Since(back).Round(time.Millisecond))
	created := checkOutcomes(t, load.halt())
	e.do(t, request{method: http.MethodGet, path: "/readyz"}).wantStatus(t, http.StatusOK)
	for _, id := range created {
		if r := e.do(t, request{method: http.MethodGet, path: "/orders/" + id, token: token}); r.status != http.StatusOK {
			t.Errorf("order %s answered 201 is now %d", id, r.status)
		}
	}
	t.Logf("%d orders created, all readable", len(created))
}

// lockOrders takes an exclusive lock on db's orders table in a
// transaction of its own, so every statement on the table waits, and
// returns the function that lets go of it (also run when the test ends).
func lockOrders(t *testing.T, db repotest.Database) (release func()) {
	t.Helper()
	locker := repotest.OpenPool(t, db, repository.Pool{MaxOpenConns: 2})
	tx := locker.Begin()
	if err := tx.Exec("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE").Error; err != nil {
		t.Fatal(err)
	}
	release = sync.OnceFunc(func() { tx.Rollback() })
	t.Cleanup(release)
	return release
}

// busyConnections returns a condition that holds once n connections
// named app (their application_name) are in a transaction or a statement,
// its own apart.
func busyConnections(t *testing.T, db repotest.Database, app string, n int) func() bool {
	watcher := repotest.OpenPool(t, db, repository.Pool{MaxOpenConns: 1})
	return func() bool {
		var busy int
		err := watcher.Raw("SELECT count(*) FROM pg_stat_activity WHERE application_name = ? AND state <> 'idle' AND pid <> pg_backend_pid()", app).Scan(&busy).Error
		return err == nil && busy >= n
	}
}

// TestDatabaseOverloadAnswers503: a write held by a lock past the
// statement timeout, and a write that finds no free connection in the
// pool, are answered 503 with Retry-After, quickly, instead of waiting
// without bound; once the lock is gone, writes succeed again.
func TestDatabaseOverloadAnswers503(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pool repository.Pool
		// blockers are writes sent first, which wait on the lock and hold
		// their connections.
		blockers int
		within   time.Duration
	}{
		{"statement past statement_timeout", repository.Pool{MaxOpenConns: 4, StatementTimeout: 300 * time.Millisecond, AcquireTimeout: 2 * time.Second}, 0, 3 * time.Second},
		{"no free connection", repository.Pool{MaxOpenConns: 2, StatementTimeout: time.Minute, AcquireTimeout: 300 * time.Millisecond}, 2, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := repotest.Postgres(t)
			app := "orders_" + strings.ReplaceAll(t.Name(), "/", "_")
			db.URL += "&application_name=" + app
			e := newEnvOnPool(t, db, tt.pool)
			token := e.token(t, "alice", rw)
			release := lockOrders(t, db)
			client := &http.Client{Timeout: time.Minute}
			blocked := make(chan outcome, tt.blockers)
			for range tt.blockers {
				go func() { blocked <- postOrder(client, e.url, token) }()
			}
			if tt.blockers > 0 {
				waitUntil(t, 10*time.Second, "the blockers hold every connection", busyConnections(t, db, app, tt.blockers))
			}
			sent := time.Now()
			probe := postOrder(client, e.url, token)
			if took := time.Since(sent); took > tt.within {
				t.Errorf("answered after %s; want within %s", took.Round(time.Millisecond), tt.within)
			}
			checkOutcomes(t, []outcome{probe})
			if probe.status != http.StatusServiceUnavailable {
				t.Errorf("status = %d; want 503", probe.status)
			}
			release()
			for range tt.blockers {
				if o := <-blocked; o.status != http.StatusCreated {
					t.Errorf("a blocked write was answered %d once the lock was gone; want 201", o.status)
				}
			}
			if o := postOrder(client, e.url, token); o.status != http.StatusCreated {
				t.Errorf("a write after the lock = %d; want 201", o.status)
			}
		})
	}
}
