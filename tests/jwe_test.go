package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/auth/dpop/dpoptest"
)

// newJWEEnv starts an API server that decrypts with keys (none when
// empty).
func newJWEEnv(t *testing.T, keys ...authtest.DecryptionKey) *env {
	t.Helper()
	return newEnvFor(t, nil, func(c *envConfig) {
		if len(keys) > 0 {
			c.auth.DecryptionKeys = authtest.KeySet(t, keys...)
		}
	})
}

// TestEncryptedTokens: through the real HTTP API, an encrypted token (a
// signed token of the IdP's, encrypted to the API's key) works as the
// signed one would: its owner creates and reads her orders, another
// owner's encrypted token sees 404, a read-only one gets 403 on a write,
// and a DPoP-bound one needs its proof. Encrypted tokens the API must
// refuse get 401 invalid_token with their reason in the detail, logged
// at info, and no token reaches the log.
func TestEncryptedTokens(t *testing.T) {
	t.Parallel()
	rsaKey := authtest.NewDecryptionKey(t, "orders-2026", "RSA")
	ecKey := authtest.NewDecryptionKey(t, "", "EC")
	e := newJWEEnv(t, rsaKey, ecKey)
	encrypt := func(sub, scope string, to authtest.DecryptionKey, enc authtest.Encryption) string {
		return authtest.Encrypt(t, e.token(t, sub, scope), to, enc)
	}
	alice := encrypt("alice", rw, rsaKey, authtest.Encryption{})
	created := e.do(t, request{method: http.MethodPost, path: "/orders", token: alice, body: `{"order":[{"product":"latte","size":"big"}]}`})
	created.wantStatus(t, http.StatusCreated)
	var o order
	created.decode(t, &o)
	path := "/orders/" + o.ID

	e.do(t, request{method: http.MethodGet, path: path, token: alice}).wantStatus(t, http.StatusOK)
	e.do(t, request{method: http.MethodGet, path: path, token: encrypt("alice", "orders:read", ecKey, authtest.Encryption{Alg: "ECDH-ES+A128KW", Enc: "A128CBC-HS256"})}).wantStatus(t, http.StatusOK)
	e.do(t, request{method: http.MethodGet, path: path, token: e.token(t, "alice", "orders:read")}).wantStatus(t, http.StatusOK)
	e.do(t, request{method: http.MethodGet, path: path, token: encrypt("bob", rw, rsaKey, authtest.Encryption{})}).wantProblem(t, http.StatusNotFound)
	forbidden := e.do(t, request{method: http.MethodPost, path: path + "/cancel", token: encrypt("alice", "orders:read", rsaKey, authtest.Encryption{})})
	forbidden.wantProblem(t, http.StatusForbidden)

	client := dpoptest.NewClient(t, "ES256")
	bound := authtest.Encrypt(t, e.boundToken(t, client, "alice", rw), ecKey, authtest.Encryption{})
	e.dpopCall(t, client, http.MethodGet, path, bound).wantStatus(t, http.StatusOK)
	e.do(t, request{method: http.MethodGet, path: path, token: bound}).wantProblem(t, http.StatusUnauthorized)

	signed := e.token(t, "alice", rw)
	refused := []struct {
		name string
		tok  string
		want auth.Reason
	}{
		{"RSA1_5", authtest.Encrypt(t, signed, rsaKey, authtest.Encryption{Alg: "RSA1_5"}), auth.ReasonJWEAlgorithm},
		{"dir", authtest.Encrypt(t, signed, rsaKey, authtest.Encryption{Alg: "dir", Key: make([]byte, 32)}), auth.ReasonJWEAlgorithm},
		{"zip", authtest.Encrypt(t, signed, rsaKey, authtest.Encryption{Compress: true}), auth.ReasonJWECompressed},
		{"another key", authtest.Encrypt(t, signed, authtest.NewDecryptionKey(t, "orders-2025", "RSA"), authtest.Encryption{}), auth.ReasonJWEUnknownKey},
		{"tampered tag", alice[:len(alice)-2] + flipChar(alice[len(alice)-2]) + alice[len(alice)-1:], auth.ReasonJWEDecrypt},
		{"bare claims", authtest.Encrypt(t, `{"iss":"`+e.idp.URL()+`","sub":"alice","aud":"`+authtest.Audience+`","exp":9999999999,"scope":"orders:read orders:write"}`, rsaKey, authtest.Encryption{}), auth.ReasonJWENotNested},
		{"nested token of an untrusted issuer", authtest.Encrypt(t, authtest.NewIdP(t).Token(t, authtest.Claims{Subject: "alice", Scope: rw}), rsaKey, authtest.Encryption{}), auth.ReasonWrongIssuer},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, request{method: http.MethodPost, path: path + "/cancel", token: tt.tok})
			p := r.wantProblem(t, http.StatusUnauthorized)
			if p.Detail != tt.want.Description() || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("detail %q, challenge %q; want %q with error=\"invalid_token\"", p.Detail, r.header.Get("WWW-Authenticate"), tt.want.Description())
			}
			if !loggedAtInfo(e.log.String(), tt.want.String()) {
				t.Errorf("no info log line with reason %s", tt.want)
			}
		})
	}
	var got order
	e.do(t, request{method: http.MethodGet, path: path, token: alice}).decode(t, &got)
	if got.Status != "created" {
		t.Errorf("status = %q after the refused cancels; want created", got.Status)
	}
}

// TestEncryptedTokensWithoutKey: without a decryption key every encrypted
// token is refused, as jwe_no_key, and plain tokens still work.
func TestEncryptedTokensWithoutKey(t *testing.T) {
	t.Parallel()
	e := newJWEEnv(t)
	tok := authtest.Encrypt(t, e.token(t, "alice", rw), authtest.NewDecryptionKey(t, "k", "RSA"), authtest.Encryption{})
	p := e.do(t, request{method: http.MethodGet, path: "/orders", token: tok}).wantProblem(t, http.StatusUnauthorized)
	if p.Detail != auth.ReasonJWENoKey.Description() {
		t.Errorf("detail = %q; want %q", p.Detail, auth.ReasonJWENoKey.Description())
	}
	e.do(t, request{method: http.MethodGet, path: "/orders", token: e.token(t, "alice", rw)}).wantStatus(t, http.StatusOK)
}

// flipChar returns another base64url character than c.
func flipChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// loggedAtInfo reports whether the JSON log holds a refusal at info with
// reason.
func loggedAtInfo(log, reason string) bool {
	for _, line := range strings.Split(log, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["level"] == "INFO" && m["reason"] == reason {
			return true
		}
	}
	return false
}
