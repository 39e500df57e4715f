package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/auth/dpop/dpoptest"
	"github.com/coffeemesh/orders/repository/repotest"
)

// dpopChallenge is the start of every DPoP challenge with the default
// algorithms.
const dpopChallenge = `DPoP algs="ES256 EdDSA Ed25519 PS256 RS256", realm="orders"`

// boundToken mints a token for sub with scope, bound to client's key.
func (e *env) boundToken(t *testing.T, client *dpoptest.Client, sub, scope string) string {
	t.Helper()
	return e.idp.Token(t, authtest.Claims{Subject: sub, Scope: scope, Extra: map[string]any{"cnf": map[string]any{"jkt": client.Thumbprint}}})
}

// dpopHeader is the header of a request with token under the DPoP scheme
// and the given DPoP header values, which are remembered so that the log
// can be searched for them.
func (e *env) dpopHeader(token string, proofs ...string) http.Header {
	e.mu.Lock()
	e.tokens = append(e.tokens, proofs...)
	e.mu.Unlock()
	h := http.Header{"Authorization": {"DPoP " + token}}
	if len(proofs) > 0 {
		h["Dpop"] = proofs
	}
	return h
}

// dpopCall sends a request of method to path with token and a fresh proof
// by client.
func (e *env) dpopCall(t *testing.T, client *dpoptest.Client, method, path, token string) response {
	t.Helper()
	return e.do(t, request{method: method, path: path, header: e.dpopHeader(token, client.Proof(t, method, e.url+path, token))})
}

// dpopAttacks are the attack suite's hostile DPoP requests to cancel
// alice's order hers: each must be refused, with a DPoP challenge.
// replica, when not nil, shares e's store of used proofs.
func dpopAttacks(t *testing.T, e, replica *env, hers string) []attack {
	t.Helper()
	path := "/orders/" + hers + "/cancel"
	url := e.url + path
	es, other, otherES := dpoptest.NewClient(t, "ES256"), dpoptest.NewClient(t, "EdDSA"), dpoptest.NewClient(t, "ES256")
	bound := e.boundToken(t, es, "alice", rw)
	proof := func(changes ...dpoptest.Change) string { return es.Proof(t, http.MethodPost, url, bound, changes...) }
	claims := func(c map[string]any) dpoptest.Change { return dpoptest.Change{Claims: c} }
	header := func(h map[string]any) dpoptest.Change { return dpoptest.Change{Header: h} }
	// A proof first used by a reader: refused by scope (403) after it
	// was recorded, then replayed.
	reader := e.boundToken(t, es, "alice", "orders:read")
	used := es.Proof(t, http.MethodPost, url, reader)
	e.do(t, request{method: http.MethodPost, path: path, header: e.dpopHeader(reader, used)}).wantProblem(t, http.StatusForbidden)
	// The same on a replica that shares the store of used proofs, if any.
	var elsewhere string
	if replica != nil {
		elsewhere = es.Proof(t, http.MethodPost, url, reader)
		replica.do(t, request{method: http.MethodPost, path: path, header: replica.dpopHeader(reader, elsewhere)}).wantProblem(t, http.StatusForbidden)
	}
	unbound := e.token(t, "alice", rw)
	expired := e.idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw, Extra: map[string]any{
		"cnf": map[string]any{"jkt": es.Thumbprint}, "exp": time.Now().Add(-time.Hour).Unix()}})
	now := time.Now()
	unsigned := authtest.Compact(t, map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": es.JWK},
		map[string]any{"jti": "x", "htm": "POST", "htu": url, "iat": now.Unix(), "ath": dpop.TokenHash(bound)}, nil)
	badProof := func(name, tok string, proofs ...string) attack {
		return attack{name: name, auth: []string{"DPoP " + tok}, dpop: proofs, status: http.StatusUnauthorized, code: "invalid_dpop_proof", scheme: "DPoP"}
	}
	badToken := func(name string, a attack) attack {
		a.name, a.status, a.code, a.scheme = name, http.StatusUnauthorized, "invalid_token", "DPoP"
		return a
	}
	attacks := []attack{
		badProof("DPoP replayed proof", reader, used),
		badProof("DPoP proof for another method", bound, es.Proof(t, http.MethodGet, url, bound)),
		badProof("DPoP proof for another URL", bound, es.Proof(t, http.MethodPost, e.url+"/orders/"+hers+"/pay", bound)),
		badProof("DPoP proof for another host", bound, es.Proof(t, http.MethodPost, "http://orders.example.com"+path, bound)),
		badProof("DPoP proof for another token", bound, es.Proof(t, http.MethodPost, url, e.boundToken(t, es, "alice", "orders:read"))),
		badProof("DPoP proof without ath", bound, es.Proof(t, http.MethodPost, url, "")),
		badProof("DPoP proof with a stale iat", bound, proof(claims(map[string]any{"iat": now.Add(-2 * time.Minute).Unix()}))),
		badProof("DPoP proof with a future iat", bound, proof(claims(map[string]any{"iat": now.Add(2 * time.Minute).Unix()}))),
		badProof("DPoP proof without jti", bound, proof(claims(map[string]any{"jti": dpoptest.Omit}))),
		badProof("DPoP proof with a private jwk", bound, proof(header(map[string]any{"jwk": es.PrivateJWK}))),
		badProof("DPoP proof with typ JWT", bound, proof(header(map[string]any{"typ": "JWT"}))),
		badProof("DPoP proof with alg none", bound, proof(header(map[string]any{"alg": "none"}))),
		badProof("DPoP proof unsigned with alg none", bound, unsigned),
		badProof("DPoP proof with alg HS256", bound, proof(header(map[string]any{"alg": "HS256"}))),
		badProof("DPoP proof by a key other than the bound one", bound, other.Proof(t, http.MethodPost, url, bound)),
		// A thief's jwk with the bound key's members and its own under
		// names that differ in case only: a case-insensitive JSON decoder
		// reads the thief's key, the thumbprint the bound one's.
		badProof("DPoP jwk with the bound key's members and the thief's in other case", bound, otherES.Proof(t, http.MethodPost, url, bound, header(map[string]any{
			"jwk": json.RawMessage(fmt.Sprintf(`{"kty":"EC","crv":"P-256","x":%q,"y":%q,"X":%q,"Y":%q}`, es.JWK["x"], es.JWK["y"], otherES.JWK["x"], otherES.JWK["y"]))}))),
		badProof("DPoP proof signed by another key than its jwk", bound, proof(dpoptest.Change{Signer: otherES.Signer})),
		badProof("DPoP proof not a JWT", bound, "not-a-proof"),
		badProof("two DPoP headers", bound, proof(), proof()),
		badProof("DPoP scheme without a proof", bound),
		badToken("bound token as Bearer", attack{auth: bearer(bound)}),
		badToken("bound token as Bearer with a proof", attack{auth: bearer(bound), dpop: []string{proof()}}),
		badToken("unbound token with the DPoP scheme", attack{auth: []string{"DPoP " + unbound}, dpop: []string{es.Proof(t, http.MethodPost, url, unbound)}}),
		badToken("expired bound token with a good proof", attack{auth: []string{"DPoP " + expired}, dpop: []string{es.Proof(t, http.MethodPost, url, expired)}}),
	}
	if replica != nil {
		attacks = append(attacks, badProof("DPoP proof replayed on another replica", reader, elsewhere))
	}
	return attacks
}

// TestDPoP calls the API as a DPoP client on both databases: bound tokens
// work with fresh proofs, the proof is checked on every request though the
// token's verification is cached, and a proof is good for one request.
func TestDPoP(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		for _, alg := range []string{"ES256", "EdDSA", "PS256", "RS256"} {
			t.Run(alg, func(t *testing.T) {
				client := dpoptest.NewClient(t, alg)
				tok := e.boundToken(t, client, "alice-"+alg, rw)
				r := e.do(t, request{method: http.MethodPost, path: "/orders", body: `{"order":[{"product":"latte","size":"big"}]}`,
					header: e.dpopHeader(tok, client.Proof(t, http.MethodPost, e.url+"/orders", tok))})
				r.wantStatus(t, http.StatusCreated)
				var o order
				r.decode(t, &o)
				// The second call hits the token cache; its proof is still checked.
				e.dpopCall(t, client, http.MethodGet, "/orders/"+o.ID, tok).wantStatus(t, http.StatusOK)
				proof := client.Proof(t, http.MethodGet, e.url+"/orders/"+o.ID, tok)
				e.do(t, request{method: http.MethodGet, path: "/orders/" + o.ID, header: e.dpopHeader(tok, proof)}).wantStatus(t, http.StatusOK)
				r = e.do(t, request{method: http.MethodGet, path: "/orders/" + o.ID, header: e.dpopHeader(tok, proof)})
				r.wantProblem(t, http.StatusUnauthorized)
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, dpopChallenge+`, error="invalid_dpop_proof"`) {
					t.Errorf("replay: WWW-Authenticate = %q", got)
				}
				// A bound reader is told which scope it lacks, in a DPoP challenge.
				reader := e.boundToken(t, client, "alice-"+alg, "orders:read")
				r = e.dpopCall(t, client, http.MethodPost, "/orders/"+o.ID+"/cancel", reader)
				r.wantProblem(t, http.StatusForbidden)
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, dpopChallenge+`, error="insufficient_scope", scope="orders:write"`) {
					t.Errorf("403: WWW-Authenticate = %q", got)
				}
				// A thief with the token but not the key gets nothing.
				thief := dpoptest.NewClient(t, alg)
				e.dpopCall(t, thief, http.MethodGet, "/orders/"+o.ID, tok).wantProblem(t, http.StatusUnauthorized)
				e.do(t, request{method: http.MethodGet, path: "/orders/" + o.ID, token: tok}).wantProblem(t, http.StatusUnauthorized)
			})
		}
	})
}

// TestDPoPModes: off refuses the DPoP scheme, allowed takes both schemes,
// required refuses bearer tokens; a bound token is never a bearer token;
// the challenges to a request without credentials follow the mode.
func TestDPoPModes(t *testing.T) {
	t.Parallel()
	type want struct {
		status     int
		challenges []string // prefixes of the WWW-Authenticate values, in order
	}
	bearerBare := `Bearer realm="orders"`
	tests := []struct {
		mode                                        auth.DPoPMode
		unboundBearer, boundBearer, boundDPoP, none want
	}{
		{auth.DPoPOff,
			want{200, nil}, want{401, []string{dpopChallenge + `, error="invalid_token"`}}, want{401, []string{bearerBare}}, want{401, []string{bearerBare}}},
		{auth.DPoPAllowed,
			want{200, nil}, want{401, []string{dpopChallenge + `, error="invalid_token"`}}, want{200, nil}, want{401, []string{bearerBare, dpopChallenge}}},
		{auth.DPoPRequired,
			want{401, []string{dpopChallenge + `, error="invalid_token"`}}, want{401, []string{dpopChallenge + `, error="invalid_token"`}}, want{200, nil}, want{401, []string{dpopChallenge}}},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Parallel()
			e := newEnvFor(t, nil, func(c *envConfig) { c.auth.DPoP.Mode = tt.mode })
			client := dpoptest.NewClient(t, "ES256")
			bound := e.boundToken(t, client, "alice", rw)
			cases := []struct {
				name string
				r    response
				want want
			}{
				{"unbound token as Bearer", e.do(t, request{method: http.MethodGet, path: "/orders", token: e.token(t, "alice", rw)}), tt.unboundBearer},
				{"bound token as Bearer", e.do(t, request{method: http.MethodGet, path: "/orders", token: bound}), tt.boundBearer},
				{"bound token with DPoP", e.dpopCall(t, client, http.MethodGet, "/orders", bound), tt.boundDPoP},
				{"no credentials", e.do(t, request{method: http.MethodGet, path: "/orders"}), tt.none},
			}
			for _, c := range cases {
				if c.r.status != c.want.status {
					t.Errorf("%s: status %d; want %d; body %s", c.name, c.r.status, c.want.status, c.r.body)
				}
				got := c.r.header.Values("WWW-Authenticate")
				match := strings.HasPrefix
				if c.name == "no credentials" || tt.mode == auth.DPoPOff && c.name == "bound token with DPoP" {
					match = func(s, want string) bool { return s == want }
				}
				if len(got) != len(c.want.challenges) || !slices.EqualFunc(got, c.want.challenges, match) {
					t.Errorf("%s: WWW-Authenticate = %q; want %q", c.name, got, c.want.challenges)
				}
			}
		})
	}
}

// TestDPoPPublicURL: behind a proxy, htu names the public URL, not the
// address the server was reached at.
func TestDPoPPublicURL(t *testing.T) {
	t.Parallel()
	e := newEnvFor(t, nil, func(c *envConfig) { c.auth.DPoP.PublicURL = "https://Orders.Example.com/api/" })
	client := dpoptest.NewClient(t, "EdDSA")
	tok := e.boundToken(t, client, "alice", rw)
	for _, tt := range []struct {
		htu    string
		status int
	}{
		{"https://orders.example.com:443/api/orders", http.StatusOK},
		{"https://orders.example.com/api/orders?page=2", http.StatusOK},
		{e.url + "/orders", http.StatusUnauthorized},
		{"https://orders.example.com/orders", http.StatusUnauthorized},
	} {
		r := e.do(t, request{method: http.MethodGet, path: "/orders", header: e.dpopHeader(tok, client.Proof(t, http.MethodGet, tt.htu, tok))})
		if r.status != tt.status {
			t.Errorf("htu %s: status %d; want %d", tt.htu, r.status, tt.status)
		}
	}
}

// TestDPoPReplayStoreFullFailsClosed: while the store of used proofs is
// full of live ones, a new proof is refused with 503 and Retry-After, not
// let through unrecorded; a bearer token is not affected.
func TestDPoPReplayStoreFullFailsClosed(t *testing.T) {
	t.Parallel()
	e := newEnvFor(t, nil, func(c *envConfig) { c.auth.DPoP.Replay = dpop.NewMemoryStore(1, nil) })
	client := dpoptest.NewClient(t, "ES256")
	tok := e.boundToken(t, client, "alice", rw)
	e.dpopCall(t, client, http.MethodGet, "/orders", tok).wantStatus(t, http.StatusOK)
	r := e.dpopCall(t, client, http.MethodGet, "/orders", tok)
	r.wantProblem(t, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	e.do(t, request{method: http.MethodGet, path: "/orders", token: e.token(t, "alice", rw)}).wantStatus(t, http.StatusOK)
}

// TestDPoPNonce: with server nonces on, a proof without the current nonce
// is refused with use_dpop_nonce and the nonce to use, and the retry with
// it passes; every answer to a DPoP request, and the challenge of a request
// without credentials, carries the nonce. With nonces off there is no
// DPoP-Nonce header, and a nonce in a proof is ignored.
func TestDPoPNonce(t *testing.T) {
	t.Parallel()
	withNonce := func(n string) dpoptest.Change { return dpoptest.Change{Claims: map[string]any{"nonce": n}} }
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("nonce ", on), func(t *testing.T) {
			t.Parallel()
			e := newEnvFor(t, nil, func(c *envConfig) { c.auth.DPoP.Nonce = on })
			client := dpoptest.NewClient(t, "ES256")
			tok := e.boundToken(t, client, "alice", rw)
			call := func(changes ...dpoptest.Change) response {
				return e.do(t, request{method: http.MethodGet, path: "/orders", header: e.dpopHeader(tok, client.Proof(t, http.MethodGet, e.url+"/orders", tok, changes...))})
			}
			bare := e.do(t, request{method: http.MethodGet, path: "/orders"})
			first := call()
			if !on {
				first.wantStatus(t, http.StatusOK)
				call(withNonce("anything")).wantStatus(t, http.StatusOK)
				for _, r := range []response{bare, first} {
					if n := r.header.Get("DPoP-Nonce"); n != "" {
						t.Errorf("DPoP-Nonce %q with nonces off", n)
					}
				}
				return
			}
			nonce := first.header.Get("DPoP-Nonce")
			if first.status != http.StatusUnauthorized || nonce == "" || !strings.Contains(first.header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
				t.Fatalf("proof without nonce: %d, DPoP-Nonce %q, %q; want 401 use_dpop_nonce with a nonce", first.status, nonce, first.header.Get("WWW-Authenticate"))
			}
			if bare.header.Get("DPoP-Nonce") != nonce {
				t.Errorf("no-credentials challenge: DPoP-Nonce %q; want %q", bare.header.Get("DPoP-Nonce"), nonce)
			}
			call(withNonce("made-up")).wantStatus(t, http.StatusUnauthorized)
			ok := call(withNonce(nonce))
			ok.wantStatus(t, http.StatusOK)
			if ok.header.Get("DPoP-Nonce") == "" {
				t.Error("200 to a DPoP request without DPoP-Nonce")
			}
		})
	}
}
