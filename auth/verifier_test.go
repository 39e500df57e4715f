package auth_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/internal/devissuer"
)

func TestVerifyAcceptsValidTokens(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	keys := []devissuer.Key{idp.Keys()[0]}
	for _, alg := range []string{"RS384", "PS256", "ES256", "ES384", "ES512", "EdDSA"} {
		keys = append(keys, authtest.NewKey(t, "k-"+alg, alg))
	}
	idp.SetKeys(keys...)
	v := idp.NewVerifier(t)

	for _, k := range keys {
		t.Run(k.Alg, func(t *testing.T) {
			tok := idp.Sign(t, k, nil, idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: "orders:read orders:write"}))
			p, err := v.Verify(t.Context(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Subject != "alice" || !p.Has("orders:read") || !p.Has("orders:write") {
				t.Errorf("got %+v, want alice with orders:read and orders:write", p)
			}
		})
	}
}

func TestVerifyReadsScopesFromEveryClaim(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	v := idp.NewVerifier(t)
	tests := []struct {
		name  string
		extra map[string]any
		want  []auth.Scope
		not   []auth.Scope
	}{
		{"scope string", map[string]any{"scope": "orders:read  orders:write"}, []auth.Scope{"orders:read", "orders:write"}, nil},
		{"scp string", map[string]any{"scp": "orders:read orders:write"}, []auth.Scope{"orders:read", "orders:write"}, nil},
		{"scp array", map[string]any{"scp": []string{"orders:write"}}, []auth.Scope{"orders:write"}, []auth.Scope{"orders:read"}},
		{"permissions array", map[string]any{"permissions": []string{"orders:read"}}, []auth.Scope{"orders:read"}, []auth.Scope{"orders:write"}},
		{"case matters", map[string]any{"scope": "Orders:Read ORDERS:WRITE"}, nil, []auth.Scope{"orders:read", "orders:write"}},
		{"no prefix match", map[string]any{"scope": "orders:readwrite orders"}, nil, []auth.Scope{"orders:read", "orders:write"}},
		{"case-variant claim name ignored", map[string]any{"Scope": "orders:write", "SCP": "orders:write"}, nil, []auth.Scope{"orders:write"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := v.Verify(t.Context(), idp.Token(t, authtest.Claims{Subject: "alice", Extra: tt.extra}))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			for _, s := range tt.want {
				if !p.Has(s) {
					t.Errorf("scopes %v lack %q", p.Scopes, s)
				}
			}
			for _, s := range tt.not {
				if p.Has(s) {
					t.Errorf("scopes %v hold %q", p.Scopes, s)
				}
			}
		})
	}
}

// TestVerifyRefuses is the authorization failure matrix: each token is
// refused with ErrInvalidToken.
func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	rs := idp.Keys()[0]
	ec := authtest.NewKey(t, "ec-1", "ES256")
	pinned := authtest.NewKey(t, "pinned-ps", "PS256")
	idp.SetKeys(rs, ec, pinned)
	v := idp.NewVerifier(t)

	valid := func() jwt.MapClaims { return idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: "orders:read"}) }
	with := func(extra map[string]any) jwt.MapClaims {
		return idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: "orders:read", Extra: extra})
	}
	now := time.Now()
	pubDER, err := x509.MarshalPKIXPublicKey(rs.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs256 := func(secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, valid())
		tok.Header["kid"] = rs.ID
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var jkuHits atomic.Int64
	jku := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jkuHits.Add(1)
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	t.Cleanup(jku.Close)
	attacker := authtest.NewKey(t, "attacker", "RS256")
	sign := func(c jwt.MapClaims) string { return idp.Sign(t, rs, nil, c) }
	good := sign(valid())
	parts := strings.Split(good, ".")
	forged := strings.Split(sign(with(map[string]any{"sub": "mallory"})), ".")[1]

	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"not a jwt", "not-a-token"},
		{"two segments", parts[0] + "." + parts[1]},
		{"five segments (JWE)", good + ".a.b"},
		{"padding", good + "=="},
		{"too long", good + strings.Repeat("A", auth.MaxTokenLength)},
		{"alg none unsigned", authtest.Compact(t, map[string]any{"alg": "none", "kid": rs.ID}, valid(), nil)},
		{"alg None with signature", authtest.Compact(t, map[string]any{"alg": "None", "kid": rs.ID}, valid(), []byte("sig"))},
		{"alg NONE", authtest.Compact(t, map[string]any{"alg": "NONE"}, valid(), nil)},
		{"alg missing", idp.Sign(t, rs, map[string]any{"alg": authtest.Omit}, valid())},
		{"alg unknown", authtest.Compact(t, map[string]any{"alg": "RS1", "kid": rs.ID}, valid(), []byte("sig"))},
		{"HS256 keyed with public key PEM", hs256(pubPEM)},
		{"HS256 keyed with public key DER", hs256(pubDER)},
		{"RSA key under another alg than its JWK names", idp.Sign(t, devissuer.Key{ID: pinned.ID, Alg: "RS256", Signer: pinned.Signer}, nil, valid())},
		{"RSA signature under an EC kid", idp.Sign(t, devissuer.Key{ID: ec.ID, Alg: "RS256", Signer: rs.Signer}, nil, valid())},
		{"unknown kid", idp.Sign(t, attacker, nil, valid())},
		{"another key under a real kid", idp.Sign(t, devissuer.Key{ID: rs.ID, Alg: "RS256", Signer: attacker.Signer}, nil, valid())},
		{"kid not a string", idp.Sign(t, rs, map[string]any{"kid": 7}, valid())},
		{"jku to another server", idp.Sign(t, attacker, map[string]any{"jku": jku.URL, "kid": "attacker"}, valid())},
		{"tampered payload", parts[0] + "." + forged + "." + parts[2]},
		{"stripped signature", parts[0] + "." + parts[1] + "."},
		{"crit header", idp.Sign(t, rs, map[string]any{"crit": []string{"exp"}}, valid())},
		{"typ dpop+jwt", idp.Sign(t, rs, map[string]any{"typ": "dpop+jwt"}, valid())},
		{"typ not a string", idp.Sign(t, rs, map[string]any{"typ": 1}, valid())},
		{"expired", idp.Token(t, authtest.Claims{Subject: "alice", Extra: map[string]any{"exp": now.Add(-time.Hour).Unix()}})},
		{"expired beyond leeway", idp.Token(t, authtest.Claims{Subject: "alice", Extra: map[string]any{"exp": now.Add(-auth.DefaultLeeway - 5*time.Second).Unix()}})},
		{"no exp", sign(with(map[string]any{"exp": authtest.Omit}))},
		{"exp a string", sign(with(map[string]any{"exp": fmt.Sprint(now.Add(time.Hour).Unix())}))},
		{"nbf in the future", sign(with(map[string]any{"nbf": now.Add(time.Hour).Unix()}))},
		{"nbf 1e19 does not wrap", sign(with(map[string]any{"nbf": 1e19}))},
		{"exp negative", sign(with(map[string]any{"exp": -1}))},
		{"iat in the future", sign(with(map[string]any{"iat": now.Add(time.Hour).Unix()}))},
		{"wrong issuer", sign(with(map[string]any{"iss": "https://evil.example"}))},
		{"issuer with trailing slash", sign(with(map[string]any{"iss": idp.URL() + "/"}))},
		{"issuer in another case", sign(with(map[string]any{"iss": strings.ToUpper(idp.URL())}))},
		{"no issuer", sign(with(map[string]any{"iss": authtest.Omit}))},
		{"wrong audience", sign(with(map[string]any{"aud": "https://other.test/api"}))},
		{"audience a prefix", sign(with(map[string]any{"aud": authtest.Audience[:10]}))},
		{"audience array without ours", sign(with(map[string]any{"aud": []string{"a", "b"}}))},
		{"audience array holding null", sign(with(map[string]any{"aud": []any{authtest.Audience, nil}}))},
		{"no audience", sign(with(map[string]any{"aud": authtest.Omit}))},
		{"no sub", sign(with(map[string]any{"sub": authtest.Omit}))},
		{"empty sub", sign(with(map[string]any{"sub": ""}))},
		{"sub a number", sign(with(map[string]any{"sub": 42}))},
		{"sub with a NUL", sign(with(map[string]any{"sub": "alice\x00bob"}))},
		{"sub too long", sign(with(map[string]any{"sub": strings.Repeat("a", 256)}))},
		{"id token (token_use)", sign(with(map[string]any{"token_use": "id"}))},
		{"scope a number", sign(with(map[string]any{"scope": 7}))},
		{"two sub claims", authtest.SignBytes(t, rs,
			[]byte(fmt.Sprintf(`{"alg":"RS256","kid":%q}`, rs.ID)),
			[]byte(fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d,"sub":"alice","sub":"bob"}`, idp.URL(), authtest.Audience, now.Add(time.Hour).Unix())))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(t.Context(), tt.token)
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", p, err)
			}
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Description() == "" || ae.Reason.Kind() != auth.ErrInvalidToken {
				t.Errorf("error %v has no description", err)
			}
			if tt.token != "" && len(tt.token) > 20 && strings.Contains(err.Error(), tt.token[len(tt.token)-20:]) {
				t.Errorf("error quotes the token: %v", err)
			}
		})
	}
	if n := jkuHits.Load(); n != 0 {
		t.Errorf("the jku URL was fetched %d times; want never", n)
	}
}

// TestIssuerSettings checks the per-issuer readings of a token: the
// audience claim, scope claims by dotted path, scope names and grants.
func TestIssuerSettings(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	tests := []struct {
		name   string
		trust  func(iss *auth.Issuer)
		extra  map[string]any
		want   []auth.Scope
		reject bool
	}{
		{"client_id as audience", func(iss *auth.Issuer) { iss.AudienceClaim = auth.AudienceClaimClientID },
			map[string]any{"aud": authtest.Omit, "client_id": authtest.Audience, "token_use": "access", "scope": "orders:read"}, []auth.Scope{"orders:read"}, false},
		{"client_id without token_use", func(iss *auth.Issuer) { iss.AudienceClaim = auth.AudienceClaimClientID },
			map[string]any{"aud": authtest.Omit, "client_id": authtest.Audience}, nil, true},
		{"client_id of an ID token", func(iss *auth.Issuer) { iss.AudienceClaim = auth.AudienceClaimClientID },
			map[string]any{"aud": authtest.Omit, "client_id": authtest.Audience, "token_use": "id"}, nil, true},
		{"client_id not a string", func(iss *auth.Issuer) { iss.AudienceClaim = auth.AudienceClaimClientID },
			map[string]any{"aud": authtest.Omit, "client_id": []string{authtest.Audience}, "token_use": "access"}, nil, true},
		{"aud ignored when client_id is the claim", func(iss *auth.Issuer) { iss.AudienceClaim = auth.AudienceClaimClientID },
			map[string]any{"client_id": "other", "token_use": "access"}, nil, true},
		{"aud of another API beside our client_id", func(iss *auth.Issuer) { iss.AudienceClaim = auth.AudienceClaimClientID },
			map[string]any{"aud": "https://billing.example.com", "client_id": authtest.Audience, "token_use": "access"}, nil, true},
		{"aud empty beside our client_id", func(iss *auth.Issuer) { iss.AudienceClaim = auth.AudienceClaimClientID },
			map[string]any{"aud": []string{}, "client_id": authtest.Audience, "token_use": "access"}, nil, true},
		{"aud naming us beside our client_id", func(iss *auth.Issuer) { iss.AudienceClaim = auth.AudienceClaimClientID },
			map[string]any{"aud": []string{"x", authtest.Audience}, "client_id": authtest.Audience, "token_use": "access", "scope": "orders:read"}, []auth.Scope{"orders:read"}, false},
		{"nested roles", func(iss *auth.Issuer) { iss.ScopeClaims = []string{"realm_access.roles"} },
			map[string]any{"realm_access": map[string]any{"roles": []string{"orders:write"}}, "scope": "orders:read"}, []auth.Scope{"orders:write"}, false},
		{"nested roles not an object", func(iss *auth.Issuer) { iss.ScopeClaims = []string{"realm_access.roles"} },
			map[string]any{"realm_access": "orders:write"}, nil, true},
		{"nested roles absent", func(iss *auth.Issuer) { iss.ScopeClaims = []string{"realm_access.roles"} },
			map[string]any{"realm_access": map[string]any{}}, nil, false},
		{"scope names mapped", func(iss *auth.Issuer) {
			iss.ScopeClaims = []string{"scp"}
			iss.ScopeNames = map[string][]auth.Scope{"Orders.ReadWrite": {"orders:read", "orders:write"}}
		}, map[string]any{"scp": "Orders.ReadWrite orders:admin"}, []auth.Scope{"orders:read", "orders:write"}, false},
		{"unmapped names grant nothing", func(iss *auth.Issuer) { iss.ScopeNames = map[string][]auth.Scope{"Orders.Read": {"orders:read"}} },
			map[string]any{"scope": "orders:read orders:write"}, nil, false},
		{"granted scopes", func(iss *auth.Issuer) { iss.GrantScopes = []auth.Scope{"orders:read"} },
			nil, []auth.Scope{"orders:read"}, false},
		{"typ outside the issuer's types", func(iss *auth.Issuer) { iss.Types = []string{"okta-internal-at+jwt"} },
			nil, nil, true},
		{"algorithm outside the issuer's", func(iss *auth.Issuer) { iss.Algorithms = []string{"ES256"} },
			nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss := idp.Trust()
			tt.trust(&iss)
			v, err := auth.NewVerifier(auth.Config{Issuers: []auth.Issuer{iss}, Leeway: auth.DefaultLeeway}, authtest.Discard())
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(t.Context(), idp.Token(t, authtest.Claims{Subject: "alice", Extra: tt.extra}))
			if tt.reject {
				if !errors.Is(err, auth.ErrInvalidToken) {
					t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(p.Scopes) != fmt.Sprint(tt.want) {
				t.Errorf("scopes = %v; want %v", p.Scopes, tt.want)
			}
		})
	}
}

func TestReasons(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	v := idp.NewVerifier(t)
	now := time.Now()
	stranger := authtest.NewKey(t, "stranger", "RS256")
	claims := func(extra map[string]any) jwt.MapClaims {
		return idp.ClaimsMap(authtest.Claims{Subject: "a", Extra: extra})
	}
	tests := []struct {
		name  string
		token string
		want  auth.Reason
	}{
		{"two segments", "x.y", auth.ReasonNotJWS},
		{"header not JSON", "eA.eA.eA", auth.ReasonMalformed},
		{"expired", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"exp": now.Add(-time.Hour).Unix()}}), auth.ReasonExpired},
		{"nbf ahead", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"nbf": now.Add(time.Hour).Unix()}}), auth.ReasonNotYetValid},
		{"iat ahead", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"iat": now.Add(time.Hour).Unix()}}), auth.ReasonIssuedInFuture},
		{"no exp", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"exp": authtest.Omit}}), auth.ReasonNoExpiry},
		{"other audience", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"aud": "other"}}), auth.ReasonWrongAudience},
		{"no audience", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"aud": authtest.Omit}}), auth.ReasonNoAudience},
		{"other issuer", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"iss": "https://evil.example.com"}}), auth.ReasonWrongIssuer},
		{"no issuer", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"iss": authtest.Omit}}), auth.ReasonNoIssuer},
		{"unknown kid", idp.Sign(t, stranger, nil, claims(nil)), auth.ReasonUnknownKey},
		{"another key under a real kid", idp.Sign(t, devissuer.Key{ID: idp.Keys()[0].ID, Alg: "RS256", Signer: stranger.Signer}, nil, claims(nil)), auth.ReasonBadSignature},
		{"RSA kid under ES256", idp.Sign(t, devissuer.Key{ID: idp.Keys()[0].ID, Alg: "ES256", Signer: authtest.NewKey(t, "e", "ES256").Signer}, nil, claims(nil)), auth.ReasonAlgMismatch},
		{"typ dpop+jwt", idp.Sign(t, idp.Keys()[0], map[string]any{"typ": "dpop+jwt"}, claims(nil)), auth.ReasonType},
		{"crit", idp.Sign(t, idp.Keys()[0], map[string]any{"crit": []string{"exp"}}, claims(nil)), auth.ReasonCritical},
		{"kid a number", idp.Sign(t, idp.Keys()[0], map[string]any{"kid": 7}, claims(nil)), auth.ReasonKIDType},
		{"empty sub", idp.Token(t, authtest.Claims{Extra: map[string]any{"sub": ""}}), auth.ReasonBadSubject},
		{"sub a number", idp.Token(t, authtest.Claims{Extra: map[string]any{"sub": 1}}), auth.ReasonMalformedClaims},
		{"id token", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"token_use": "id"}}), auth.ReasonNotAccessToken},
		{"cnf a string", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"cnf": "k"}}), auth.ReasonMalformedClaims},
		{"cnf.jkt a number", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"cnf": map[string]any{"jkt": 1}}}), auth.ReasonMalformedClaims},
		{"cnf.jkt empty", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"cnf": map[string]any{"jkt": ""}}}), auth.ReasonMalformedClaims},
		{"cnf an array", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"cnf": []string{"x5t#S256"}}}), auth.ReasonMalformedClaims},
		{"cnf.x5t#S256 a number", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"cnf": map[string]any{"x5t#S256": 1}}}), auth.ReasonMalformedClaims},
		{"cnf.x5t#S256 an object", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"cnf": map[string]any{"x5t#S256": map[string]any{}}}}), auth.ReasonMalformedClaims},
		{"cnf.x5t#S256 empty", idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"cnf": map[string]any{"x5t#S256": ""}}}), auth.ReasonMalformedClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), tt.token)
			var e *auth.Error
			if !errors.As(err, &e) || e.Reason != tt.want {
				t.Errorf("Verify = %v; want reason %s", err, tt.want)
			}
		})
	}
}

// TestReasonTable: every reason has a kind, a code that names it alone,
// and a description.
func TestReasonTable(t *testing.T) {
	t.Parallel()
	seen := map[string]auth.Reason{}
	for _, r := range auth.Reasons() {
		if r.Kind() == nil || r.String() == "" || r.Description() == "" {
			t.Errorf("reason %d lacks a kind, code or description", r)
		}
		if other, dup := seen[r.String()]; dup {
			t.Errorf("reasons %d and %d share the code %s", other, r, r)
		}
		seen[r.String()] = r
	}
}

// TestScopeClaimPaths: a namespaced claim is read by its whole name, a
// lookalike nested object is not, and a bracketed part may hold dots.
func TestScopeClaimPaths(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	tests := []struct {
		name  string
		claim string
		extra map[string]any
		want  string
	}{
		{"namespaced claim", "https://orders.example.com/permissions",
			map[string]any{"https://orders.example.com/permissions": []string{"orders:write"}}, "[orders:write]"},
		{"nested lookalike of a namespaced claim", "https://orders.example.com/permissions",
			map[string]any{"https://orders": map[string]any{"example": map[string]any{"com/permissions": []string{"orders:write"}}}}, "[]"},
		{"client with a dot", "resource_access[orders.api].roles",
			map[string]any{"resource_access": map[string]any{"orders.api": map[string]any{"roles": []string{"orders:write"}}}}, "[orders:write]"},
		{"another client", "resource_access[orders.api].roles",
			map[string]any{"resource_access": map[string]any{"orders": map[string]any{"api": map[string]any{"roles": []string{"orders:write"}}}}}, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := idp.Trust()
			iss.ScopeClaims = []string{tt.claim}
			v, err := auth.NewVerifier(one(iss), authtest.Discard())
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(t.Context(), idp.Token(t, authtest.Claims{Subject: "a", Extra: tt.extra}))
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(p.Scopes); got != tt.want {
				t.Errorf("scopes = %s; want %s", got, tt.want)
			}
		})
	}
}

// TestRefusalsQuoteNoClaims: the error of a token whose claims do not parse,
// which the API logs at debug level, says where they broke, never what
// they hold.
func TestRefusalsQuoteNoClaims(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	v := idp.NewVerifier(t)
	rs := idp.Keys()[0]
	header := []byte(`{"alg":"RS256","kid":"` + rs.ID + `"}`)
	exp := time.Now().Add(time.Hour).Unix()
	for _, tt := range []struct{ name, claims string }{
		{"a lone surrogate", `"sub":"\ud800secret"`},
		{"a name twice in an object", `"sub":"alice","x":{"secret":1,"secret":2}`},
		{"invalid UTF-8", `"sub":"alice","x":"secret` + "\xff" + `"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			payload := fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d,%s}`, idp.URL(), authtest.Audience, exp, tt.claims)
			_, err := v.Verify(t.Context(), authtest.SignBytes(t, rs, header, []byte(payload)))
			if !errors.Is(err, auth.ErrInvalidToken) || strings.Contains(err.Error(), "secret") {
				t.Errorf("Verify(%s) = %v; want ErrInvalidToken quoting none of the claims", payload, err)
			}
		})
	}
}

// TestVerifyReadsTheBinding: Principal.JKT is the token's cnf.jkt and
// Principal.X5T its cnf["x5t#S256"], each "" for a token without one.
func TestVerifyReadsTheBinding(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	v := idp.NewVerifier(t)
	tests := []struct {
		name    string
		cnf     any
		wantJKT string
		wantX5T string
	}{
		{"bound", map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", ""},
		{"unbound", authtest.Omit, "", ""},
		{"certificate-bound only", map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, "", "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"},
		{"both", map[string]any{"jkt": "k", "x5t#S256": "c"}, "k", "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(t.Context(), idp.Token(t, authtest.Claims{Subject: "a", Extra: map[string]any{"cnf": tt.cnf}}))
			if err != nil || p.JKT != tt.wantJKT || p.X5T != tt.wantX5T {
				t.Errorf("Verify = %+v, %v; want JKT %q, X5T %q", p, err, tt.wantJKT, tt.wantX5T)
			}
		})
	}
}
