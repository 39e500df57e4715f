package jwks_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/auth/jwks"
	"github.com/coffeemesh/orders/internal/devissuer"
)

// newSource returns the key source of idp's JWKS, logging into log when
// it is not nil.
func newSource(idp *authtest.IdP, log *slog.Logger) *jwks.Source {
	if log == nil {
		log = authtest.Discard()
	}
	return jwks.New(idp.URL(), idp.URL()+devissuer.JWKSPath, log, jwks.Options{})
}

func query(k devissuer.Key) jwks.Query {
	return jwks.Query{KID: k.ID, HasKID: true, Alg: k.Alg}
}

// waitUntil polls cond until it holds, failing the test after five seconds.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond) // polling a condition the code under test sets
	}
}

// TestRotationDuringAFetch: a request for a new kid that joins a fetch
// begun before the issuer rotated its keys gets the old set from it, and
// must then fetch once more rather than refuse a valid token. The JWKS
// answer of the first fetch is held until the second request waits on it.
func TestRotationDuringAFetch(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	s := newSource(idp, nil)
	if _, err := s.Find(t.Context(), query(idp.Keys()[0])); err != nil {
		t.Fatal(err)
	}
	old, err := idp.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	idp.SetFault(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write(old)
	})

	var wg sync.WaitGroup
	var errJunk, errNew error
	wg.Go(func() { _, errJunk = s.Find(context.Background(), jwks.Query{KID: "junk", HasKID: true, Alg: "RS256"}) })
	<-entered
	rotated := authtest.NewKey(t, "rotated", "ES256")
	idp.SetKeys(rotated)
	idp.SetFault(nil)
	wg.Go(func() { _, errNew = s.Find(context.Background(), query(rotated)) })
	waitUntil(t, "both requests wait for the held fetch", func() bool { return s.Stats().Waiting == 2 })
	close(release)
	wg.Wait()

	if errNew != nil {
		t.Errorf("the new kid after a fetch begun before the rotation: %v; want its key", errNew)
	}
	if !errors.Is(errJunk, jwks.ErrUnknownKID) {
		t.Errorf("a made-up kid: %v; want ErrUnknownKID", errJunk)
	}
	if n := idp.JWKSFetches(); n != 3 {
		t.Errorf("%d JWKS fetches; want 3 (the first, the held one, one more for the new kid)", n)
	}
}

// TestFindTellsMissingKeysFromUnfetchableOnes: a kid absent from a
// successful fetch does not exist (ErrUnknownKID, a 401 for the client); a
// kid that could not be looked up, because the issuer failed or hung, or
// the limiter held back a retry after a failure, may exist (ErrUnavailable,
// a 503). The same holds for a kid in hand whose keys do not fit the
// token's alg (the issuer may have replaced them). Either answer comes
// within three seconds.
func TestFindTellsMissingKeysFromUnfetchableOnes(t *testing.T) {
	t.Parallel()
	ask := func(q jwks.Query) func(*authtest.IdP) jwks.Query { return func(*authtest.IdP) jwks.Query { return q } }
	unknown := jwks.Query{KID: "not-published", HasKID: true, Alg: "RS256"}
	otherAlg := func(idp *authtest.IdP) jwks.Query {
		return jwks.Query{KID: idp.Keys()[0].ID, HasKID: true, Alg: "ES256"}
	}
	tests := []struct {
		name string
		// fault breaks the issuer after its keys were fetched; nil leaves
		// it working.
		fault   http.HandlerFunc
		noKeys  bool // the fault is there from the start
		q       func(*authtest.IdP) jwks.Query
		queries int // how many lookups of q, the last one checked
		want    error
	}{
		{"kid absent from a successful fetch", nil, false, ask(unknown), 1, jwks.ErrUnknownKID},
		{"limiter holding back after successful fetches", nil, false, ask(unknown), 6, jwks.ErrUnknownKID},
		{"issuer answers 500", authtest.Status(http.StatusInternalServerError), false, ask(unknown), 1, jwks.ErrUnavailable},
		{"issuer answers 503", authtest.Status(http.StatusServiceUnavailable), false, ask(unknown), 1, jwks.ErrUnavailable},
		{"connection reset", authtest.Reset, false, ask(unknown), 1, jwks.ErrUnavailable},
		{"JWKS hangs", authtest.Hang, false, ask(unknown), 1, jwks.ErrUnavailable},
		{"not JSON", authtest.Body("text/html", "<html>down</html>"), false, ask(unknown), 1, jwks.ErrUnavailable},
		{"no usable key", authtest.Body("application/json", `{"keys":[]}`), false, ask(unknown), 1, jwks.ErrUnavailable},
		{"kid in hand, another alg, issuer down", authtest.Status(http.StatusInternalServerError), false, otherAlg, 1, jwks.ErrUnavailable},
		{"limiter holding back after a failed fetch", authtest.Status(http.StatusBadGateway), false, ask(unknown), 6, jwks.ErrUnavailable},
		{"no key ever fetched, issuer down", authtest.Status(http.StatusInternalServerError), true, ask(unknown), 1, jwks.ErrUnavailable},
		{"no key ever fetched, JWKS hangs", authtest.Hang, true, ask(unknown), 1, jwks.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idp := authtest.NewIdP(t)
			s := newSource(idp, nil)
			if tt.noKeys {
				idp.SetFault(tt.fault)
			} else if _, err := s.Find(t.Context(), query(idp.Keys()[0])); err != nil {
				t.Fatal(err)
			}
			if tt.fault != nil {
				idp.SetFault(tt.fault)
			}
			var err error
			for range tt.queries {
				start := time.Now()
				_, err = s.Find(t.Context(), tt.q(idp))
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("Find took %v; want an answer within 3s", d)
				}
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Find = %v; want %v", err, tt.want)
			}
			if !tt.noKeys {
				if _, err := s.Find(t.Context(), query(idp.Keys()[0])); err != nil {
					t.Errorf("a key in hand: %v; want it whatever the issuer does", err)
				}
			}
		})
	}
}

// TestKeysLoadedIsLoggedWhenTheKidsChange: the log says "keys loaded" for
// the first set and for every set whose keys differ, even at the same size,
// and not for a fetch that brings the same keys.
func TestKeysLoadedIsLoggedWhenTheKidsChange(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(b)
	}), nil))
	idp := authtest.NewIdP(t)
	s := newSource(idp, log)
	loaded := func() int {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(buf.String(), `"msg":"keys loaded"`)
	}
	if _, err := s.Find(t.Context(), query(idp.Keys()[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Find(t.Context(), jwks.Query{KID: "unknown", HasKID: true, Alg: "RS256"}); !errors.Is(err, jwks.ErrUnknownKID) {
		t.Fatalf("Find = %v; want ErrUnknownKID", err)
	}
	if n := loaded(); n != 1 {
		t.Errorf("%d lines say keys loaded after a second fetch of the same keys; want 1", n)
	}
	next := authtest.NewKey(t, "next", "RS256")
	idp.SetKeys(next)
	if _, err := s.Find(t.Context(), query(next)); err != nil {
		t.Fatal(err)
	}
	if n := loaded(); n != 2 {
		t.Errorf("%d lines say keys loaded after one key replaced another; want 2", n)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// TestKeysExpireAfterADay: keys that could not be refreshed for a day are
// dropped, so a key the issuer withdrew during an outage is not trusted for
// ever; the clock is the source's, moved rather than waited for.
func TestKeysExpireAfterADay(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	var later atomic.Bool
	now := func() time.Time {
		if later.Load() {
			return time.Now().Add(24*time.Hour + time.Minute)
		}
		return time.Now()
	}
	s := jwks.New(idp.URL(), idp.URL()+devissuer.JWKSPath, authtest.Discard(), jwks.Options{Now: now})
	q := query(idp.Keys()[0])
	if _, err := s.Find(t.Context(), q); err != nil {
		t.Fatal(err)
	}
	idp.SetFailing(true)
	if _, err := s.Find(t.Context(), q); err != nil {
		t.Fatalf("a key in hand while the issuer fails: %v", err)
	}
	later.Store(true)
	if _, err := s.Find(t.Context(), q); !errors.Is(err, jwks.ErrUnavailable) {
		t.Errorf("a day later, still failing: %v; want ErrUnavailable (keys dropped)", err)
	}
}
