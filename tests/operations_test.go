package tests

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth/authtest"
)

func get(t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// startDev runs serve --dev on random loopback ports and returns the API's
// base URL and the dev issuer's token endpoint.
func startDev(t *testing.T, extra map[string]string) (p *process, base, tokenURL string) {
	t.Helper()
	env := map[string]string{
		"ORDERS_ADDR":            "127.0.0.1:0",
		"ORDERS_DEV_ISSUER_ADDR": "127.0.0.1:0",
		"ORDERS_DATABASE_URL":    "sqlite:" + filepath.Join(t.TempDir(), "orders.db"),
	}
	for k, v := range extra {
		env[k] = v
	}
	p = start(t, env, "serve", "--dev")
	tokenURL = p.waitFor(t, "DEV MODE: accepting tokens from a local development issuer; never use this in production")["token_endpoint"].(string)
	base = "http://" + p.waitFor(t, "listening")["addr"].(string)
	return p, base, tokenURL
}

// TestOperations checks what operators and tools read: health, readiness,
// metrics, the contract and the documentation page, none of which needs a
// token, and the request id.
func TestOperations(t *testing.T) {
	t.Parallel()
	p, base, _ := startDev(t, nil)
	resp, body := get(t, base+"/readyz", nil)
	for deadline := time.Now().Add(10 * time.Second); resp.StatusCode != 200 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // polling until the keys are loaded
		resp, body = get(t, base+"/readyz", nil)
	}
	if resp.StatusCode != 200 || !strings.Contains(body, `"ready"`) {
		t.Errorf("/readyz = %d %s; want ready", resp.StatusCode, body)
	}
	resp, _ = get(t, base+"/orders", http.Header{"X-Request-Id": {"trace-42"}})
	if resp.Header.Get("X-Request-Id") != "trace-42" {
		t.Errorf("X-Request-ID echoed as %q; want trace-42", resp.Header.Get("X-Request-Id"))
	}
	resp, _ = get(t, base+"/healthz", http.Header{"X-Request-Id": {"bad id with spaces"}})
	if id := resp.Header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("an unusable X-Request-ID was echoed as %q; want a new one", id)
	}
	line := p.waitFor(t, "request")
	for line["request_id"] == nil || line["route"] != "/orders" {
		line = p.waitFor(t, "request")
	}
	if line["request_id"] != "trace-42" || line["status"] != float64(401) {
		t.Errorf("request log line = %v", line)
	}

	for i := range 3 {
		req, _ := http.NewRequest(fmt.Sprintf("MADEUP%d", i), base+"/healthz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	_, metrics := get(t, base+"/metrics", nil)
	if strings.Contains(metrics, "MADEUP") || !strings.Contains(metrics, `method="other"`) {
		t.Error("made-up methods became metric labels; want them counted as other")
	}
	for _, want := range []string{
		`orders_http_requests_total{method="GET",route="/orders",status="401"}`,
		`orders_auth_outcomes_total{outcome="missing"}`,
		`orders_jwks_keys{issuer="http://127.0.0.1:`,
		`orders_jwks_refreshes_total`,
		`go_sql_open_connections{db_name="orders"}`,
		`orders_http_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	resp, yaml := get(t, base+"/openapi.yaml", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(yaml, "openapi: 3.1") {
		t.Errorf("/openapi.yaml = %d %.40q", resp.StatusCode, yaml)
	}
	resp, body = get(t, base+"/openapi.json", nil)
	var spec struct {
		Components struct {
			SecuritySchemes map[string]struct {
				Description string `json:"description"`
				Flows       map[string]struct {
					AuthorizationURL string            `json:"authorizationUrl"`
					TokenURL         string            `json:"tokenUrl"`
					Scopes           map[string]string `json:"scopes"`
				} `json:"flows"`
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(body), &spec); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/openapi.json: %d %v", resp.StatusCode, err)
	}
	flows := spec.Components.SecuritySchemes["oauth2"].Flows
	code, ok := flows["authorizationCode"]
	if !ok || len(flows) != 1 || !strings.HasSuffix(code.AuthorizationURL, "/authorize") || len(code.Scopes) != 2 {
		t.Errorf("oauth2 flows = %+v; want the dev issuer's authorization code flow only", flows)
	}
	if d := spec.Components.SecuritySchemes["oauth2"].Description; strings.Contains(d, "placeholder") {
		t.Errorf("oauth2 description = %q; want it to speak of the flow offered", d)
	}
	if _, implicit := flows["implicit"]; implicit {
		t.Error("the implicit flow is offered")
	}
	resp, body = get(t, base+"/docs", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "swagger-ui-bundle.js") || !strings.Contains(body, `"orders-docs"`) || strings.Contains(body, "//unpkg") {
		t.Errorf("/docs = %d; want Swagger UI from embedded assets, client orders-docs", resp.StatusCode)
	}
	for _, asset := range []string{"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/oauth2-redirect.html"} {
		if resp, _ := get(t, base+asset, nil); resp.StatusCode != 200 {
			t.Errorf("%s = %d", asset, resp.StatusCode)
		}
	}
	if resp, _ := get(t, base+"/docs/nothing.js", nil); resp.StatusCode != 404 {
		t.Errorf("/docs/nothing.js = %d; want 404", resp.StatusCode)
	}
}

// TestAdminListener moves /metrics and pprof to a listener of their own.
func TestAdminListener(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	env := serverEnv(t, idp)
	env["ORDERS_ADMIN_ADDR"] = "127.0.0.1:0"
	env["ORDERS_PPROF_ADDR"] = "127.0.0.1:0"
	p := start(t, env, "serve")
	pprofURL := "http://" + p.waitFor(t, "pprof listening")["addr"].(string)
	admin := "http://" + p.waitFor(t, "admin listening")["addr"].(string)
	if resp, _ := get(t, pprofURL+"/debug/pprof/", nil); resp.StatusCode != 200 {
		t.Errorf("ORDERS_PPROF_ADDR pprof = %d", resp.StatusCode)
	}
	base := "http://" + p.waitFor(t, "listening")["addr"].(string)
	if resp, body := get(t, admin+"/metrics", nil); resp.StatusCode != 200 || !strings.Contains(body, "go_goroutines") {
		t.Errorf("admin /metrics = %d", resp.StatusCode)
	}
	if resp, _ := get(t, admin+"/debug/pprof/", nil); resp.StatusCode != 200 {
		t.Errorf("admin pprof = %d", resp.StatusCode)
	}
	if resp, _ := get(t, base+"/metrics", nil); resp.StatusCode != 404 {
		t.Errorf("/metrics on the API's address = %d; want 404 once moved", resp.StatusCode)
	}
	if resp, _ := get(t, base+"/debug/pprof/", nil); resp.StatusCode != 404 {
		t.Errorf("pprof on the API's address = %d; want 404", resp.StatusCode)
	}
}

// TestReadinessWhileIssuerDown: /readyz is 503 with a reason until keys load.
func TestReadinessWhileIssuerDown(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	idp.SetFailing(true)
	p := start(t, serverEnv(t, idp), "serve")
	base := "http://" + p.waitFor(t, "listening")["addr"].(string)
	resp, body := get(t, base+"/readyz", nil)
	if resp.StatusCode != 503 || !strings.Contains(body, "signing keys") {
		t.Errorf("/readyz while the issuer is down = %d %s; want 503 naming the keys", resp.StatusCode, body)
	}
	if resp, _ := get(t, base+"/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("/healthz = %d; the process is alive", resp.StatusCode)
	}
}

// TestTokenTools mints a token from the running dev issuer and inspects it,
// then inspects tokens the API refuses, and checks the words it uses.
func TestTokenTools(t *testing.T) {
	t.Parallel()
	_, _, tokenURL := startDev(t, nil)
	issuerAddr := strings.TrimSuffix(strings.TrimPrefix(tokenURL, "http://"), "/token")
	run := func(env map[string]string, stdin string, args ...string) (string, int) {
		return runBinary(t, env, stdin, append([]string{"token"}, args...)...)
	}
	tok, code := run(nil, "", "mint", "--dev-issuer-addr", issuerAddr, "--sub", "alice", "--scope", "orders:read", "--ttl", "5m")
	tok = strings.TrimSpace(tok)
	if code != 0 || strings.Count(tok, ".") != 2 {
		t.Fatalf("mint: %d %s", code, tok)
	}
	devEnv := map[string]string{"ORDERS_DEV_ISSUER_ADDR": issuerAddr}
	out, code := run(devEnv, tok, "inspect", "--dev", "-")
	if code != 0 || !strings.Contains(out, "ACCEPTED: alice at http://"+issuerAddr+", with scopes [orders:read]") || !(strings.Contains(out, "expires in 4m") || strings.Contains(out, "expires in 5m0s")) {
		t.Errorf("inspect a good token: exit %d\n%s", code, out)
	}
	if strings.Contains(out, tok[strings.LastIndexByte(tok, '.')+1:]) {
		t.Error("inspect printed the signature")
	}
	if strings.Contains(out, "bound to") {
		t.Errorf("inspect calls an unbound token bound:\n%s", out)
	}
	key, code := run(nil, "", "dpop-key")
	keyFile := filepath.Join(t.TempDir(), "key.jwk")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); code != 0 || err != nil {
		t.Fatalf("dpop-key: exit %d, %v", code, err)
	}
	bound, code := run(nil, "", "mint", "--dev-issuer-addr", issuerAddr, "--sub", "alice", "--dpop-key", keyFile)
	if code != 0 {
		t.Fatalf("mint --dpop-key: exit %d\n%s", code, bound)
	}
	if out, code = run(devEnv, strings.TrimSpace(bound), "inspect", "--dev", "-"); code != 0 || !strings.Contains(out, "bound to a DPoP key (cnf.jkt)") {
		t.Errorf("inspect a DPoP-bound token: exit %d\n%s", code, out)
	}

	apiKey := authtest.NewDecryptionKey(t, "dev", "RSA")
	der, err := x509.MarshalPKIXPublicKey(apiKey.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	publicPEM := filepath.Join(t.TempDir(), "api.pub.pem")
	publicJWK := filepath.Join(t.TempDir(), "api.pub.jwk")
	jwkJSON, err := json.Marshal(apiKey.PublicJWK())
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(os.WriteFile(publicPEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600), os.WriteFile(publicJWK, jwkJSON, 0o600)); err != nil {
		t.Fatal(err)
	}
	// A PEM public key names no kid, so its tokens name none, and the API
	// decrypts them only with a key that has none either.
	for pub, private := range map[string]authtest.DecryptionKey{publicPEM: {Private: apiKey.Private}, publicJWK: apiKey} {
		jweEnv := map[string]string{"ORDERS_DEV_ISSUER_ADDR": issuerAddr, "ORDERS_AUTH_DECRYPTION_KEY_FILE": authtest.WriteKeySet(t, private)}
		encrypted, code := run(nil, "", "mint", "--dev-issuer-addr", issuerAddr, "--sub", "alice", "--encrypt-to", pub)
		if code != 0 || strings.Count(encrypted, ".") != 4 {
			t.Fatalf("mint --encrypt-to %s: exit %d\n%s", filepath.Base(pub), code, encrypted)
		}
		if out, code = run(jweEnv, strings.TrimSpace(encrypted), "inspect", "--dev", "-"); code != 0 || !strings.Contains(out, "encrypted (JWE)") || !strings.Contains(out, "ACCEPTED: alice") {
			t.Errorf("inspect a token minted with --encrypt-to %s: exit %d\n%s", filepath.Base(pub), code, out)
		}
	}

	idp := authtest.NewIdP(t)
	env := map[string]string{"ORDERS_AUTH_ISSUER": idp.URL(), "ORDERS_AUTH_AUDIENCE": "https://orders.example.com"}
	out, code = run(env, "", "inspect", idp.Token(t, authtest.Claims{Subject: "bob"}))
	if code != 1 || !strings.Contains(out, `REFUSED: aud is "https://orders.test/api"; this API accepts ["https://orders.example.com"]`) || !strings.Contains(out, "reason: wrong_audience") {
		t.Errorf("inspect a token for another audience: exit %d\n%s", code, out)
	}
	env["ORDERS_AUTH_AUDIENCE"] = authtest.Audience
	expired := idp.Token(t, authtest.Claims{Subject: "bob", Extra: map[string]any{"exp": time.Now().Add(-3 * time.Minute).Unix()}})
	out, code = run(env, "", "inspect", expired)
	if code != 1 || !strings.Contains(out, "REFUSED: the token expired 3m") || !strings.Contains(out, "reason: expired") {
		t.Errorf("inspect an expired token: exit %d\n%s", code, out)
	}
	decKey := authtest.NewDecryptionKey(t, "orders-2026", "EC")
	encrypted := authtest.Encrypt(t, idp.Token(t, authtest.Claims{Subject: "bob", Scope: "orders:read"}), decKey, authtest.Encryption{})
	out, code = run(env, "", "inspect", encrypted)
	if code != 1 || !strings.Contains(out, "encrypted (JWE), protected header:") || !strings.Contains(out, "names no key to decrypt them") || !strings.Contains(out, "reason: jwe_no_key") {
		t.Errorf("inspect an encrypted token without the key: exit %d\n%s", code, out)
	}
	env["ORDERS_AUTH_DECRYPTION_KEY_FILE"] = authtest.WriteKeySet(t, decKey)
	out, code = run(env, "", "inspect", encrypted)
	if code != 0 || !strings.Contains(out, `kid: "orders-2026"`) || !strings.Contains(out, `sub: "bob"`) || !strings.Contains(out, "ACCEPTED: bob") {
		t.Errorf("inspect an encrypted token with the key: exit %d\n%s", code, out)
	}
	out, code = run(env, "", "inspect", authtest.Encrypt(t, expired, decKey, authtest.Encryption{}))
	if code != 1 || !strings.Contains(out, "REFUSED: the token expired 3m") || !strings.Contains(out, "reason: expired") {
		t.Errorf("inspect an encrypted expired token: exit %d\n%s", code, out)
	}
	out, code = run(env, "", "inspect", authtest.Encrypt(t, `{"sub":"bob"}`, decKey, authtest.Encryption{}))
	if code != 1 || !strings.Contains(out, "reason: jwe_not_nested") {
		t.Errorf("inspect encrypted bare claims: exit %d\n%s", code, out)
	}
	delete(env, "ORDERS_AUTH_DECRYPTION_KEY_FILE")
	out, code = run(env, "", "inspect", "not-a-token")
	if code != 1 || !strings.Contains(out, "REFUSED:") || !strings.Contains(out, "reason: not_jws") {
		t.Errorf("inspect garbage: exit %d\n%s", code, out)
	}
}
