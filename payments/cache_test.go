package payments_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth/clientauth"
	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/payments"
)

// clock is a settable time for the token cache.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestTokenCacheExpiry: a token is used until 30 seconds before it
// expires, and never longer than an hour, whatever expires_in says.
func TestTokenCacheExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		expiresIn int64
		reused    time.Duration // still used this long after it was issued
		renewed   time.Duration // asked for again this long after
	}{
		{"five minutes", 300, 269 * time.Second, 270 * time.Second},
		{"huge expires_in is capped at an hour", 1 << 62, time.Hour - 31*time.Second, time.Hour - 30*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newIssuerAndPayments(t)
			s.answer["expires_in"] = tt.expiresIn
			clk := &clock{now: time.Unix(1_700_000_000, 0)}
			cfg := s.config(payments.Exchange, clientauth.Credentials{ID: "orders-api", Secret: "secret"})
			cfg.Now = clk.Now
			c := mustNew(t, cfg)
			pay := func() {
				t.Helper()
				if err := c.Pay(t.Context(), issuerA, "alice", "callers-token", "order-1"); err != nil {
					t.Fatal(err)
				}
			}
			pay()
			clk.advance(tt.reused)
			pay()
			if len(s.forms) != 1 {
				t.Errorf("token requests %s after the first = %d; want 1 (cached)", tt.reused, len(s.forms))
			}
			clk.advance(tt.renewed - tt.reused)
			pay()
			if len(s.forms) != 2 {
				t.Errorf("token requests %s after the first = %d; want 2 (renewed)", tt.renewed, len(s.forms))
			}
		})
	}
}

// TestRefusedTokenIsForgotten: a 401 or 403 from the payments service
// drops the cached token; other failures keep it.
func TestRefusedTokenIsForgotten(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status        int
		want          error
		tokenRequests int // for two pays
	}{
		{http.StatusUnauthorized, models.ErrPaymentFailed, 2},
		{http.StatusForbidden, models.ErrPaymentFailed, 2},
		{http.StatusInternalServerError, models.ErrPaymentFailed, 1},
		{http.StatusServiceUnavailable, models.ErrPaymentUnavailable, 1},
		{http.StatusTooManyRequests, models.ErrPaymentUnavailable, 1},
		{http.StatusConflict, models.ErrConflict, 1},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			t.Parallel()
			s := newIssuerAndPayments(t)
			s.paid = tt.status
			c := mustNew(t, s.config(payments.Exchange, clientauth.Credentials{ID: "orders-api", Secret: "secret"}))
			for range 2 {
				if err := c.Pay(t.Context(), issuerA, "alice", "callers-token", "order-1"); !errors.Is(err, tt.want) {
					t.Fatalf("Pay = %v; want %v", err, tt.want)
				}
			}
			if len(s.forms) != tt.tokenRequests {
				t.Errorf("token requests = %d; want %d", len(s.forms), tt.tokenRequests)
			}
		})
	}
}

// TestCacheKeyHasTheIssuer: the same token text from two issuers is
// exchanged at each issuer, never answered from the other's cache entry.
func TestCacheKeyHasTheIssuer(t *testing.T) {
	t.Parallel()
	for _, mode := range []payments.Mode{payments.Exchange, payments.ClientCredentials} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			s := newIssuerAndPayments(t)
			c := mustNew(t, s.config(mode, clientauth.Credentials{ID: "orders-api", Secret: "secret"}))
			for _, iss := range []string{issuerA, "https://b.example.com", issuerA} {
				if err := c.Pay(t.Context(), iss, "alice", "callers-token", "order-1"); err != nil {
					t.Fatal(err)
				}
			}
			if len(s.issuers) != 2 || s.issuers[0] != issuerA || s.issuers[1] != "https://b.example.com" {
				t.Errorf("token endpoints asked of = %v; want A then B, A's token cached", s.issuers)
			}
		})
	}
}

// TestTimeoutSaysWho: a hung issuer is the issuer's timeout, before
// anything was sent to the payments service; a hung payments service is
// its own; both within the timeout.
func TestTimeoutSaysWho(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// Read the body, so the server sees the client go.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(hang.Close)
	tests := []struct {
		name    string
		hangAt  func(s *issuerAndPayments, cfg *payments.Config)
		want    error
		notWant error
	}{
		{"issuer", func(_ *issuerAndPayments, cfg *payments.Config) {
			cfg.TokenEndpoint = func(context.Context, string) (string, error) { return hang.URL, nil }
		}, models.ErrIssuerTimeout, models.ErrPaymentTimeout},
		{"payments service", func(_ *issuerAndPayments, cfg *payments.Config) { cfg.URL = hang.URL }, models.ErrPaymentTimeout, models.ErrIssuerTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newIssuerAndPayments(t)
			cfg := s.config(payments.Exchange, clientauth.Credentials{ID: "orders-api", Secret: "secret"})
			cfg.Timeout = timeout
			tt.hangAt(s, &cfg)
			c := mustNew(t, cfg)
			start := time.Now()
			err := c.Pay(t.Context(), issuerA, "alice", "callers-token", "order-1")
			if !errors.Is(err, tt.want) || errors.Is(err, tt.notWant) {
				t.Errorf("Pay = %v; want %v only", err, tt.want)
			}
			if took := time.Since(start); took > timeout+time.Second {
				t.Errorf("Pay took %s; want about %s", took, timeout)
			}
		})
	}
}

// TestRedirectsAreNotFollowed: neither the token request nor the payment
// follows a redirect, which would carry the caller's token or the charge
// somewhere not configured.
func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		at   func(cfg *payments.Config, redirect string)
		want error
	}{
		{"token endpoint", func(cfg *payments.Config, redirect string) {
			cfg.TokenEndpoint = func(context.Context, string) (string, error) { return redirect, nil }
		}, models.ErrExchangeRefused},
		{"payments service", func(cfg *payments.Config, redirect string) { cfg.URL = redirect }, models.ErrPaymentFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var elsewhere atomic.Int64
			target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
			t.Cleanup(target.Close)
			redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
			}))
			t.Cleanup(redirect.Close)
			s := newIssuerAndPayments(t)
			cfg := s.config(payments.Exchange, clientauth.Credentials{ID: "orders-api", Secret: "secret"})
			tt.at(&cfg, redirect.URL)
			c := mustNew(t, cfg)
			if err := c.Pay(t.Context(), issuerA, "alice", "callers-token", "order-1"); !errors.Is(err, tt.want) {
				t.Errorf("Pay = %v; want %v", err, tt.want)
			}
			if n := elsewhere.Load(); n != 0 {
				t.Errorf("requests at the redirect's target = %d; want 0", n)
			}
		})
	}
}
