package dpop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/auth/dpop/dpoptest"
)

// TestThumbprintRFC7638 is the known answer of RFC 7638, section 3.1; the
// members beside the required ones are left out of the hash.
func TestThumbprintRFC7638(t *testing.T) {
	t.Parallel()
	jwk := `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	got, err := dpop.Thumbprint([]byte(jwk))
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; err != nil || got != want {
		t.Errorf("Thumbprint = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{`{"kty":"RSA","e":"AQAB"}`, `{"kty":"EC","crv":"P-256","x":"AA"}`, `{"kty":"oct","k":"AA"}`, `{"kty":"RSA","n":1,"e":"AQAB"}`, `[]`} {
		if _, err := dpop.Thumbprint([]byte(bad)); err == nil {
			t.Errorf("Thumbprint(%s) = nil error; want one", bad)
		}
	}
}

// TestNormalizeURL: scheme and host compare without case and default
// port; the path compares as sent; query and fragment do not count.
func TestNormalizeURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://API.Example.com:443/orders?x=1#f", "https://api.example.com/orders"},
		{"HTTP://example.com:80", "http://example.com/"},
		{"http://example.com:8080/Orders", "http://example.com:8080/Orders"},
		{"https://example.com:80/a%2Fb", "https://example.com:80/a%2Fb"},
		{"http://[::1]:80/x", "http://[::1]/x"},
		{"ftp://example.com/", ""},
		{"/orders", ""},
		{"https://user@example.com/", ""},
	}
	for _, tt := range tests {
		got, err := dpop.NormalizeURL(tt.in)
		if (tt.want == "") != (err != nil) || got != tt.want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestCheck signs proofs with a real client key and checks each refusal
// against its error, in the order of RFC 9449.
func TestCheck(t *testing.T) {
	t.Parallel()
	const url, token = "https://api.example.com/orders/1", "a.b.c"
	now := time.Now()
	v, err := dpop.New(dpop.Options{Now: func() time.Time { return now }, Replay: dpop.NewMemoryStore(0, nil)})
	if err != nil {
		t.Fatal(err)
	}
	es, ed, other := dpoptest.NewClient(t, "ES256"), dpoptest.NewClient(t, "EdDSA"), dpoptest.NewClient(t, "ES256")
	ed9864 := dpoptest.NewClient(t, "Ed25519")
	es384, otherES := dpoptest.NewClient(t, "ES256"), dpoptest.NewClient(t, "ES256")
	claims := func(c map[string]any) dpoptest.Change { return dpoptest.Change{Claims: c} }
	header := func(h map[string]any) dpoptest.Change { return dpoptest.Change{Header: h} }
	tests := []struct {
		name  string
		proof string
		want  error
	}{
		{"ES256 proof", es.Proof(t, "GET", url, token), nil},
		{"EdDSA proof", ed.Proof(t, "GET", url, token), nil},
		{"Ed25519 proof (RFC 9864's name)", ed9864.Proof(t, "GET", url, token), nil},
		{"Ed25519 alg with an EC key", es.Proof(t, "GET", url, token, header(map[string]any{"alg": "Ed25519"})), dpop.ErrKey},
		{"htu with query, port and case", es.Proof(t, "GET", "HTTPS://API.example.com:443/orders/1?x=y", token), nil},
		{"not a JWT", "abc", dpop.ErrMalformed},
		{"too long", es.Proof(t, "GET", url, token, claims(map[string]any{"pad": strings.Repeat("x", dpop.MaxProofLength)})), dpop.ErrMalformed},
		{"typ JWT", es.Proof(t, "GET", url, token, header(map[string]any{"typ": "JWT"})), dpop.ErrType},
		{"typ missing", es.Proof(t, "GET", url, token, header(map[string]any{"typ": dpoptest.Omit})), dpop.ErrType},
		{"alg none", es.Proof(t, "GET", url, token, header(map[string]any{"alg": "none"})), dpop.ErrAlgorithm},
		{"alg HS256", es.Proof(t, "GET", url, token, header(map[string]any{"alg": "HS256"})), dpop.ErrAlgorithm},
		{"alg ES384 not allowed", es384.Proof(t, "GET", url, token, header(map[string]any{"alg": "ES384"})), dpop.ErrAlgorithm},
		{"no jwk", es.Proof(t, "GET", url, token, header(map[string]any{"jwk": dpoptest.Omit})), dpop.ErrKey},
		{"private jwk", es.Proof(t, "GET", url, token, header(map[string]any{"jwk": es.PrivateJWK})), dpop.ErrKey},
		{"symmetric jwk", es.Proof(t, "GET", url, token, header(map[string]any{"jwk": map[string]any{"kty": "oct", "k": "c2VjcmV0"}})), dpop.ErrKey},
		{"jwk with the bound key's members and its own in other case", otherES.Proof(t, "GET", url, token, header(map[string]any{"jwk": json.RawMessage(fmt.Sprintf(
			`{"kty":"EC","crv":"P-256","x":%q,"y":%q,"X":%q,"Y":%q}`, es.JWK["x"], es.JWK["y"], otherES.JWK["x"], otherES.JWK["y"]))})), dpop.ErrKey},
		{"jwk with a leading zero in x", es.Proof(t, "GET", url, token, header(map[string]any{"jwk": map[string]any{
			"kty": "EC", "crv": "P-256", "x": "AA" + es.JWK["x"].(string), "y": es.JWK["y"]}})), dpop.ErrKey},
		{"jwk of another type than alg", es.Proof(t, "GET", url, token, header(map[string]any{"jwk": ed.JWK})), dpop.ErrKey},
		{"crit", es.Proof(t, "GET", url, token, header(map[string]any{"crit": []string{"x"}})), dpop.ErrMalformed},
		{"signed by another key than its jwk", es.Proof(t, "GET", url, token, dpoptest.Change{Signer: other.Signer}), dpop.ErrSignature},
		{"other method", es.Proof(t, "POST", url, token), dpop.ErrMethod},
		{"method in lower case", es.Proof(t, "get", url, token), dpop.ErrMethod},
		{"other URL", es.Proof(t, "GET", "https://api.example.com/orders/2", token), dpop.ErrURL},
		{"other scheme", es.Proof(t, "GET", "http://api.example.com/orders/1", token), dpop.ErrURL},
		{"htu relative", es.Proof(t, "GET", "/orders/1", token), dpop.ErrURL},
		{"iat stale", es.Proof(t, "GET", url, token, claims(map[string]any{"iat": now.Add(-61 * time.Second).Unix()})), dpop.ErrIssuedAt},
		{"iat future", es.Proof(t, "GET", url, token, claims(map[string]any{"iat": now.Add(61 * time.Second).Unix()})), dpop.ErrIssuedAt},
		{"iat missing", es.Proof(t, "GET", url, token, claims(map[string]any{"iat": dpoptest.Omit})), dpop.ErrIssuedAt},
		{"iat a string", es.Proof(t, "GET", url, token, claims(map[string]any{"iat": "1"})), dpop.ErrMalformed},
		{"jti missing", es.Proof(t, "GET", url, token, claims(map[string]any{"jti": dpoptest.Omit})), dpop.ErrID},
		{"jti too long", es.Proof(t, "GET", url, token, claims(map[string]any{"jti": strings.Repeat("j", dpop.MaxIDLength+1)})), dpop.ErrID},
		{"ath missing", es.Proof(t, "GET", url, ""), dpop.ErrTokenHash},
		{"ath of another token", es.Proof(t, "GET", url, "x.y.z"), dpop.ErrTokenHash},
	}
	noToken := []struct {
		name  string
		proof string
		want  error
	}{
		{"token request without ath", es.Proof(t, "GET", url, ""), nil},
		{"token request with ath", es.Proof(t, "GET", url, token), dpop.ErrTokenHash},
	}
	for _, tt := range noToken {
		if _, err := v.Check(tt.proof, dpop.Request{Method: "GET", URL: url}); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Check = %v; want %v", tt.name, err, tt.want)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Check(tt.proof, dpop.Request{Method: "GET", URL: url + "?q=1", AccessToken: token})
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Check = %v; want %v", err, tt.want)
			}
			if err == nil && p.Thumbprint == "" {
				t.Errorf("Thumbprint is empty")
			}
		})
	}
}

// TestUseRefusesReplays: a proof is accepted once per key within its
// window, and the same jti under another key is another proof.
func TestUseRefusesReplays(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := func() time.Time { return now }
	v, err := dpop.New(dpop.Options{Now: clock, Replay: dpop.NewMemoryStore(0, clock)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := dpop.Proof{Thumbprint: "k1", ID: "j", IssuedAt: now}
	for i, want := range []error{nil, dpop.ErrReplay} {
		if err := v.Use(ctx, p); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("use %d = %v; want %v", i+1, err, want)
		}
	}
	if err := v.Use(ctx, dpop.Proof{Thumbprint: "k2", ID: "j", IssuedAt: now}); err != nil {
		t.Errorf("same jti under another key = %v; want nil", err)
	}
}

// TestMemoryStoreBounded: a full store drops expired entries to make room
// and, full of live ones, refuses rather than forgets.
func TestMemoryStoreBounded(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s := dpop.NewMemoryStore(2, func() time.Time { return now })
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if err := s.Use(ctx, id, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Use(ctx, "c", now.Add(time.Minute)); !errors.Is(err, dpop.ErrStoreFault) {
		t.Errorf("full store = %v; want ErrStoreFault", err)
	}
	now = now.Add(2 * time.Minute)
	if err := s.Use(ctx, "c", now.Add(time.Minute)); err != nil {
		t.Errorf("after expiry = %v; want nil", err)
	}
	if err := s.Use(ctx, "a", now.Add(time.Minute)); err != nil {
		t.Errorf("expired id used again = %v; want nil", err)
	}
	if err := s.Use(ctx, "c", now.Add(time.Minute)); !errors.Is(err, dpop.ErrReplay) {
		t.Errorf("live id used again = %v; want ErrReplay", err)
	}
}

// TestMemoryStoreKeepsUp: a store of 62 seconds of a steady 3,000 proofs a
// second, each kept the 60 s of its window, takes that flow for two
// minutes: entries leave as they expire, so the store never refuses a
// fresh proof, still refuses each live one used again, and takes an
// expired one again. (It once swept the whole map when full, and held
// 100,000 entries by default, fewer than 60 s of this flow.)
func TestMemoryStoreKeepsUp(t *testing.T) {
	t.Parallel()
	now := time.Now()
	const rate, life, seconds = 3000, 60 * time.Second, 120
	s := dpop.NewMemoryStore(rate*62, func() time.Time { return now })
	ctx := context.Background()
	for i := range rate * seconds {
		if i%rate == 0 {
			now = now.Add(time.Second)
		}
		if err := s.Use(ctx, strconv.Itoa(i), now.Add(life)); err != nil {
			t.Fatalf("proof %d, at second %d = %v; want nil", i, i/rate, err)
		}
	}
	for _, back := range []int{1, rate * 59} {
		id := strconv.Itoa(rate*seconds - back)
		if err := s.Use(ctx, id, now.Add(life)); !errors.Is(err, dpop.ErrReplay) {
			t.Errorf("live proof %s used again = %v; want ErrReplay", id, err)
		}
	}
	if err := s.Use(ctx, "0", now.Add(life)); err != nil {
		t.Errorf("a proof expired a minute ago, used again = %v; want nil", err)
	}
}

// TestMemoryStoreAfterIdle: after the whole store has expired at once, as
// after an idle minute, expired entries count as gone even before they
// leave, and a full store of them takes fresh proofs until it is full of
// live ones again.
func TestMemoryStoreAfterIdle(t *testing.T) {
	t.Parallel()
	now := time.Now()
	const size = 5000
	s := dpop.NewMemoryStore(size, func() time.Time { return now })
	ctx := context.Background()
	for i := range size {
		if err := s.Use(ctx, strconv.Itoa(i), now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(2 * time.Minute)
	for i := range size / 2 {
		if err := s.Use(ctx, strconv.Itoa(i), now.Add(time.Minute)); err != nil {
			t.Fatalf("expired proof %d used again = %v; want nil", i, err)
		}
		if err := s.Use(ctx, "fresh"+strconv.Itoa(i), now.Add(time.Minute)); err != nil {
			t.Fatalf("fresh proof %d in a store full of expired ones = %v; want nil", i, err)
		}
	}
	if err := s.Use(ctx, "0", now.Add(time.Minute)); !errors.Is(err, dpop.ErrReplay) {
		t.Errorf("a proof recorded again, used a third time = %v; want ErrReplay", err)
	}
	if err := s.Use(ctx, "one too many", now.Add(time.Minute)); !errors.Is(err, dpop.ErrStoreFault) {
		t.Errorf("a fresh proof in a store full of live ones = %v; want ErrStoreFault", err)
	}
}

// TestKeyKept: the key kept from a client's proof serves its later proofs
// as a fresh parse would: the same thumbprint, the same jwk spelled
// otherwise is the same key, and a kept key is still refused with an alg
// it does not fit. A proof whose signature fails keeps nothing that
// changes the next.
func TestKeyKept(t *testing.T) {
	t.Parallel()
	const url, token = "https://api.example.com/orders", "tok"
	v, err := dpop.New(dpop.Options{Algorithms: []string{"ES256", "ES384", "EdDSA", "RS256"}, Replay: dpop.NewMemoryStore(0, nil)})
	if err != nil {
		t.Fatal(err)
	}
	es, thief, ed, rs := dpoptest.NewClient(t, "ES256"), dpoptest.NewClient(t, "ES256"), dpoptest.NewClient(t, "EdDSA"), dpoptest.NewClient(t, "RS256")
	r := dpop.Request{Method: "GET", URL: url, AccessToken: token}
	respelled := json.RawMessage(fmt.Sprintf(`{ "y": %q, "x": %q, "kty": "EC", "crv": "P-256" }`, es.JWK["y"], es.JWK["x"]))
	header := func(h map[string]any) dpoptest.Change { return dpoptest.Change{Header: h} }
	tests := []struct {
		name  string
		proof string
		want  error
	}{
		{"signed by a thief under the client's jwk", es.Proof(t, "GET", url, token, dpoptest.Change{Signer: thief.Signer}), dpop.ErrSignature},
		{"first proof", es.Proof(t, "GET", url, token), nil},
		{"second proof", es.Proof(t, "GET", url, token), nil},
		{"the jwk spelled otherwise", es.Proof(t, "GET", url, token, header(map[string]any{"jwk": respelled})), nil},
		{"kept key with an alg it does not fit", es.Proof(t, "GET", url, token, header(map[string]any{"alg": "ES384"})), dpop.ErrKey},
		{"kept key with EdDSA", es.Proof(t, "GET", url, token, header(map[string]any{"alg": "EdDSA"})), dpop.ErrKey},
		{"Ed25519 when only EdDSA is accepted", ed.Proof(t, "GET", url, token, header(map[string]any{"alg": "Ed25519"})), dpop.ErrAlgorithm},
		{"RSA key with EdDSA", rs.Proof(t, "GET", url, token, header(map[string]any{"alg": "EdDSA"})), dpop.ErrKey},
		{"signed by a thief again", es.Proof(t, "GET", url, token, dpoptest.Change{Signer: thief.Signer}), dpop.ErrSignature},
	}
	for _, tt := range tests {
		p, err := v.Check(tt.proof, r)
		switch {
		case tt.want == nil && err != nil:
			t.Errorf("%s: %v; want accepted", tt.name, err)
		case tt.want == nil && p.Thumbprint != es.Thumbprint:
			t.Errorf("%s: thumbprint %s; want the client's %s", tt.name, p.Thumbprint, es.Thumbprint)
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s: %v; want %v", tt.name, err, tt.want)
		}
	}
}

// FuzzCheck: no input makes Check panic, and a proof it accepts has a
// thumbprint, an id and a time.
func FuzzCheck(f *testing.F) {
	client := dpoptest.NewClient(f, "ES256")
	const url = "https://api.example.com/orders"
	f.Add(client.Proof(f, "GET", url, "t"))
	f.Add(client.Proof(f, "GET", url, "t", dpoptest.Change{Header: map[string]any{"jwk": client.PrivateJWK}}))
	for _, s := range []string{"", "..", "a.b.c", "eyJ9.eyJ9.", strings.Repeat(".", 100)} {
		f.Add(s)
	}
	v, err := dpop.New(dpop.Options{Replay: dpop.NewMemoryStore(0, nil)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, proof string) {
		p, err := v.Check(proof, dpop.Request{Method: "GET", URL: url, AccessToken: "t"})
		if err == nil && (p.Thumbprint == "" || p.ID == "" || p.IssuedAt.IsZero()) {
			t.Errorf("Check accepted %q as %+v", proof, p)
		}
	})
}
