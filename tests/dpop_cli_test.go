package tests

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDPoPTokenTools walks the README's bound call: a key from token
// dpop-key, a bound token from token mint --dpop-key, a proof from token
// dpop. The call with token and proof passes; the same proof again, the
// token as Bearer, and a proof by another key are refused.
func TestDPoPTokenTools(t *testing.T) {
	t.Parallel()
	_, base, tokenURL := startDev(t, nil)
	issuerAddr := strings.TrimSuffix(strings.TrimPrefix(tokenURL, "http://"), "/token")
	run := func(args ...string) string {
		t.Helper()
		out, code := runBinary(t, nil, "", append([]string{"token"}, args...)...)
		if code != 0 {
			t.Fatalf("token %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return strings.TrimSpace(out)
	}
	dir := t.TempDir()
	keyFile, otherKey := filepath.Join(dir, "key.jwk"), filepath.Join(dir, "other.jwk")
	for _, k := range []struct{ file, alg string }{{keyFile, "ES256"}, {otherKey, "EdDSA"}} {
		if err := os.WriteFile(k.file, []byte(run("dpop-key", "--alg", k.alg)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tok := run("mint", "--dev-issuer-addr", issuerAddr, "--sub", "alice", "--dpop-key", keyFile)
	proof := run("dpop", "--key", keyFile, "--method", "GET", "--url", base+"/orders", "--token", tok)
	dpopGet := func(proof string) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/orders", nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	bearer, _ := call(t, http.MethodGet, base+"/orders", tok, "")
	tests := []struct {
		name   string
		status int
		want   int
	}{
		{"bound call", dpopGet(proof), http.StatusOK},
		{"the same proof again", dpopGet(proof), http.StatusUnauthorized},
		{"the bound token as Bearer", bearer, http.StatusUnauthorized},
		{"a proof by another key", dpopGet(run("dpop", "--key", otherKey, "--url", base+"/orders", "--token", tok)), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		if tt.status != tt.want {
			t.Errorf("%s: %d; want %d", tt.name, tt.status, tt.want)
		}
	}
	if out, code := runBinary(t, nil, "", "token", "dpop", "--url", base); code != 1 || !strings.Contains(out, "token dpop needs --key and --url") {
		t.Errorf("token dpop without a key: exit %d\n%s", code, out)
	}
}
