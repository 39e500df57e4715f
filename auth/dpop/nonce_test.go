package dpop_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/auth/dpop/dpoptest"
)

// TestNonces: a nonce is good in its window and the next, not after; a
// server with the same secret accepts it, one with another does not.
func TestNonces(t *testing.T) {
	t.Parallel()
	const window = time.Minute
	now := time.Unix(1_700_000_000, 0).Truncate(window)
	clock := func() time.Time { return now }
	secret := bytes.Repeat([]byte("s"), dpop.MinNonceSecretLength)
	mine, err := dpop.NewNonces(secret, window, clock)
	if err != nil {
		t.Fatal(err)
	}
	twin, _ := dpop.NewNonces(secret, window, clock)
	stranger, _ := dpop.NewNonces(nil, window, clock)
	issued := mine.Current()
	tests := []struct {
		name   string
		at     time.Duration
		nonces *dpop.Nonces
		want   bool
	}{
		{"same window", window - time.Nanosecond, mine, true},
		{"next window", 2*window - time.Nanosecond, mine, true},
		{"two windows on", 2 * window, mine, false},
		{"replica with the same secret", 0, twin, true},
		{"replica with a random secret", 0, stranger, false},
	}
	for _, tt := range tests {
		now = time.Unix(1_700_000_000, 0).Truncate(window).Add(tt.at)
		if got := tt.nonces.Valid(issued); got != tt.want {
			t.Errorf("%s: Valid = %v; want %v", tt.name, got, tt.want)
		}
	}
	now = now.Add(window)
	if mine.Current() == issued {
		t.Error("the nonce did not rotate")
	}
	if _, err := dpop.NewNonces([]byte("short"), window, nil); err == nil {
		t.Error("a short secret was accepted")
	}
}

// TestCheckNonce: with nonces, a proof must carry a current one.
func TestCheckNonce(t *testing.T) {
	t.Parallel()
	const url, token = "https://api.example.com/orders", "a.b.c"
	nonces, err := dpop.NewNonces(nil, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dpop.New(dpop.Options{Replay: dpop.NewMemoryStore(0, nil), Nonces: nonces})
	if err != nil {
		t.Fatal(err)
	}
	client := dpoptest.NewClient(t, "ES256")
	nonce := func(n any) dpoptest.Change { return dpoptest.Change{Claims: map[string]any{"nonce": n}} }
	tests := []struct {
		name  string
		proof string
		want  error
	}{
		{"current nonce", client.Proof(t, "GET", url, token, nonce(v.Nonce())), nil},
		{"no nonce", client.Proof(t, "GET", url, token), dpop.ErrNonce},
		{"made-up nonce", client.Proof(t, "GET", url, token, nonce("abc")), dpop.ErrNonce},
		{"nonce not a string", client.Proof(t, "GET", url, token, nonce(7)), dpop.ErrMalformed},
	}
	for _, tt := range tests {
		_, err := v.Check(tt.proof, dpop.Request{Method: "GET", URL: url, AccessToken: token})
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Check = %v; want %v", tt.name, err, tt.want)
		}
	}
}
