package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/coffeemesh/orders/auth/authtest"
)

// binDir holds the orders command once a test has needed it; TestMain
// makes it and removes it.
var binDir string

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // once, before any engine exists: gin's mode is global
	dir, err := os.MkdirTemp("", "orders-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildOrders builds the orders command the first time a test asks for it,
// once per test run: a run of tests that start no process builds nothing.
var buildOrders = sync.OnceValues(func() (string, error) {
	path := filepath.Join(binDir, "orders")
	out, err := exec.Command("go", "build", "-o", path, "..").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build orders: %w\n%s", err, out)
	}
	return path, nil
})

// ordersBinary returns the path of the orders command, built on first use.
func ordersBinary(tb testing.TB) string {
	tb.Helper()
	path, err := buildOrders()
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// process is a running orders command.
type process struct {
	cmd   *exec.Cmd
	lines chan map[string]any // its JSON log lines
	done  chan error
}

// start runs the binary with args and env (on top of a clean environment),
// and stops it when the test ends.
func start(t *testing.T, env map[string]string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(ordersBinary(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cmd.Dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, lines: make(chan map[string]any, 1000), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			select {
			case p.lines <- line:
			default:
				// The last 1000 lines are unread, as when a test drives
				// load and waits for no line: this one is dropped rather
				// than the output left undrained, which would stall the
				// process and hide its exit from done.
			}
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it may have exited already
	})
	return p
}

// terminate sends SIGTERM and fails the test unless the process exits
// cleanly within 20 seconds.
func (p *process) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v; want a clean exit", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20s after SIGTERM")
	}
}

// waitFor returns the first log line whose msg is msg.
func (p *process) waitFor(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("the server exited before logging %q", msg)
			}
			if line["msg"] == msg {
				return line
			}
		case <-timeout:
			t.Fatalf("no %q log line within 20s", msg)
		}
	}
}

func serverEnv(t *testing.T, idp *authtest.IdP) map[string]string {
	return map[string]string{
		"ORDERS_ADDR":          "127.0.0.1:0",
		"ORDERS_DATABASE_URL":  "sqlite:" + filepath.Join(t.TempDir(), "orders.db"),
		"ORDERS_AUTH_ISSUER":   idp.URL(),
		"ORDERS_AUTH_AUDIENCE": authtest.Audience,
	}
}

func call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestServeWithHostedIssuer runs the binary configured for an issuer by
// environment, as in production, and stops it with SIGTERM. A misspelt
// variable in the environment is warned about, with the setting meant.
func TestServeWithHostedIssuer(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	env := serverEnv(t, idp)
	env["ORDERS_ADRR"] = "127.0.0.1:0"
	p := start(t, env, "serve")
	warn := p.waitFor(t, "unknown environment variable: no setting reads it")
	if warn["level"] != "WARN" || warn["name"] != "ORDERS_ADRR" || warn["did_you_mean"] != "ORDERS_ADDR" {
		t.Errorf("warning = %v; want ORDERS_ADRR, did you mean ORDERS_ADDR, at WARN", warn)
	}
	base := "http://" + p.waitFor(t, "listening")["addr"].(string)

	if status, _ := call(t, "GET", base+"/healthz", "", ""); status != http.StatusOK {
		t.Errorf("GET /healthz = %d; want 200", status)
	}
	tok := idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw})
	if status, b := call(t, "POST", base+"/orders", tok, `{"order":[{"product":"latte","size":"big"}]}`); status != http.StatusCreated {
		t.Errorf("POST /orders = %d %s; want 201", status, b)
	}
	if status, _ := call(t, "GET", base+"/orders", "", ""); status != http.StatusUnauthorized {
		t.Errorf("GET /orders without a token = %d; want 401", status)
	}

	p.terminate(t)
}

// TestServeWithEncryptedTokens runs the binary with a decryption key file
// that every user may read: serve names its kid, warns about the file,
// and accepts a token encrypted to the key.
func TestServeWithEncryptedTokens(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	key := authtest.NewDecryptionKey(t, "orders-2026", "EC")
	keyFile := authtest.WriteKeySet(t, key)
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	env := serverEnv(t, idp)
	env["ORDERS_AUTH_DECRYPTION_KEY_FILE"] = keyFile
	p := start(t, env, "serve")
	if cfg := p.waitFor(t, "config"); fmt.Sprint(cfg["auth_decryption_kids"]) != "[orders-2026]" {
		t.Errorf("config log: auth_decryption_kids = %v; want [orders-2026]", cfg["auth_decryption_kids"])
	}
	if warn := p.waitFor(t, "the decryption key file is readable by every user of this machine; make it readable by the API's user only (chmod 600 or 640)"); warn["level"] != "WARN" || warn["file"] != keyFile {
		t.Errorf("warning = %v; want the file at WARN", warn)
	}
	base := "http://" + p.waitFor(t, "listening")["addr"].(string)
	tok := authtest.Encrypt(t, idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw}), key, authtest.Encryption{})
	if status, b := call(t, "POST", base+"/orders", tok, `{"order":[{"product":"latte","size":"big"}]}`); status != http.StatusCreated {
		t.Errorf("POST /orders with an encrypted token = %d %s; want 201", status, b)
	}
	p.terminate(t)
}

// TestServeDev follows the README: serve --dev, get a token from the dev
// issuer with client_credentials, call the API.
func TestServeDev(t *testing.T) {
	t.Parallel()
	p := start(t, map[string]string{
		"ORDERS_ADDR":            "127.0.0.1:0",
		"ORDERS_DEV_ISSUER_ADDR": "127.0.0.1:0",
		"ORDERS_DATABASE_URL":    "sqlite:" + filepath.Join(t.TempDir(), "orders.db"),
	}, "serve", "--dev")
	dev := p.waitFor(t, "DEV MODE: accepting tokens from a local development issuer; never use this in production")
	tokenURL := dev["token_endpoint"].(string)
	base := "http://" + p.waitFor(t, "listening")["addr"].(string)

	token := func(client, scope string) string {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client}}
		if scope != "" {
			form.Set("scope", scope)
		}
		resp, err := http.PostForm(tokenURL, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.TokenType != "Bearer" {
			t.Fatalf("token endpoint: %d %+v %v", resp.StatusCode, body, err)
		}
		return body.AccessToken
	}
	alice := token("alice", "")
	status, b := call(t, "POST", base+"/orders", alice, `{"order":[{"product":"latte","size":"big"}]}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /orders = %d %s; want 201", status, b)
	}
	var o order
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if status, b := call(t, "POST", base+"/orders", token("reader", "orders:read"), `{"order":[{"product":"latte","size":"big"}]}`); status != http.StatusForbidden {
		t.Errorf("POST with a read-only token = %d %s; want 403", status, b)
	}
	if status, _ := call(t, "GET", base+"/orders/"+o.ID, token("bob", ""), ""); status != http.StatusNotFound {
		t.Errorf("bob reading alice's order = %d; want 404", status)
	}
	if status, _ := call(t, "GET", base+"/orders/"+o.ID, alice, ""); status != http.StatusOK {
		t.Errorf("alice reading her order = %d; want 200", status)
	}
}

// TestServeRefusesToStartUnsafely checks that a missing or unsafe security
// setting stops the server before it listens.
func TestServeRefusesToStartUnsafely(t *testing.T) {
	t.Parallel()
	base := map[string]string{"ORDERS_ADDR": "127.0.0.1:0", "ORDERS_AUTH_ISSUER": "https://issuer.example.com/", "ORDERS_AUTH_AUDIENCE": "orders"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no issuer", map[string]string{"ORDERS_AUTH_ISSUER": ""}, nil, "ORDERS_AUTH_ISSUER is required"},
		{"no audience", map[string]string{"ORDERS_AUTH_AUDIENCE": ""}, nil, "ORDERS_AUTH_AUDIENCE is required"},
		{"plain http issuer", map[string]string{"ORDERS_AUTH_ISSUER": "http://issuer.example.com"}, nil, "plain http"},
		{"plain http jwks", map[string]string{"ORDERS_AUTH_JWKS_URL": "http://keys.example.com/jwks"}, nil, "plain http"},
		{"symmetric algorithm", map[string]string{"ORDERS_AUTH_ALGORITHMS": "RS256,HS256"}, nil, "HS256"},
		{"alg none", map[string]string{"ORDERS_AUTH_ALGORITHMS": "none"}, nil, "none"},
		{"leeway too long", map[string]string{"ORDERS_AUTH_LEEWAY": "10m"}, nil, "ORDERS_AUTH_LEEWAY"},
		{"wildcard origin with others", map[string]string{"ORDERS_CORS_ORIGINS": "*,https://a.example.com"}, nil, "cors"},
		{"dev with a hosted issuer", nil, []string{"--dev"}, "--dev runs its own issuer"},
		{"dev issuer off loopback", map[string]string{"ORDERS_AUTH_ISSUER": "", "ORDERS_DEV_ISSUER_ADDR": "0.0.0.0:0"}, []string{"--dev"}, "loopback"},
		{"flag overrides env", nil, []string{"--auth-issuer", "http://10.1.2.3"}, "plain http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A regression that let serve start must fail the test, not hang it.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, ordersBinary(t), append([]string{"serve"}, tt.args...)...)
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range base {
				if o, ok := tt.env[k]; ok {
					v = o
				}
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			for k, v := range tt.env {
				if _, ok := base[k]; !ok {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
			}
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("serve started; want a refusal. Output:\n%s", out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output %q does not mention %q", out, tt.want)
			}
			if strings.Contains(string(out), `"listening"`) {
				t.Errorf("serve listened before refusing")
			}
		})
	}
}

// runBinary runs the orders binary with args, the environment env (and
// PATH only) and stdin, and returns what it printed and its exit code.
func runBinary(t *testing.T, env map[string]string, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(ordersBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return string(out), 0
}

// TestHelpExitsZero: asked for help, the process prints it and exits 0;
// given a flag it does not know, it exits 1 and says where the flags are.
func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		wantCode int
		want     string
	}{
		{[]string{"help"}, 0, "usage:"},
		{[]string{"token", "--help"}, 0, "orders token mint"},
		{[]string{"token", "inspect", "-h"}, 0, "usage: orders token inspect"},
		{[]string{"serve", "-h"}, 0, "usage: orders serve"},
		{[]string{"serve", "--nope"}, 1, `orders: flag provided but not defined: -nope (run "orders serve -h" for the flags)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			out, code := runBinary(t, nil, "", tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.want) {
				t.Errorf("orders %q: exit %d\n%s\nwant exit %d and %q", tt.args, code, out, tt.wantCode, tt.want)
			}
		})
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	db := "sqlite:" + filepath.Join(t.TempDir(), "orders.db")
	binary := ordersBinary(t)
	run := func(args ...string) string {
		cmd := exec.Command(binary, append([]string{"migrate", "--database-url", db}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("migrate %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("status"); !strings.Contains(out, "pending") {
		t.Errorf("status on a new database = %q; want pending migrations", out)
	}
	if out := run("up"); !strings.Contains(out, "applied") || strings.Contains(out, "pending") {
		t.Errorf("up = %q; want every migration applied", out)
	}
	if out := run(); !strings.Contains(out, "0001  applied") {
		t.Errorf("second up = %q; want it to change nothing", out)
	}
	// Flags may also follow the action, as the README writes it.
	out, err := exec.Command(binary, "migrate", "status", "--database-url", db).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "0001  applied") {
		t.Errorf("migrate status --database-url = %q, %v; want the migrations of that database", out, err)
	}
	if out, err := exec.Command(binary, "migrate", "up", "status").CombinedOutput(); err == nil {
		t.Errorf("migrate up status = %q; want two actions refused", out)
	}
}

// TestOversizeHeadersAre431 sends a 1 MB token: the server answers 431
// without reading it as a token.
func TestOversizeHeadersAre431(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	p := start(t, serverEnv(t, idp), "serve")
	base := "http://" + p.waitFor(t, "listening")["addr"].(string)
	status, _ := call(t, "GET", base+"/orders", strings.Repeat("A", 1<<20), "")
	if status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 1 MB token = %d; want 431", status)
	}
}

// TestSlowClientIsCutOff sends its request headers one byte every 500 ms:
// the server drops the connection once its ReadHeaderTimeout (5 s) is up.
func TestSlowClientIsCutOff(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	p := start(t, serverEnv(t, idp), "serve")
	addr := p.waitFor(t, "listening")["addr"].(string)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	begin := time.Now()
	cut := make(chan time.Duration, 1)
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes the connection
		cut <- time.Since(begin)
	}()
	slow := "GET /healthz HTTP/1.1\r\nHost: orders\r\nX-Slow: " + strings.Repeat("a", 40)
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	for i := 0; ; i++ {
		select {
		case d := <-cut:
			if d > 8*time.Second {
				t.Errorf("connection cut after %v; want about 5s", d)
			}
			return
		case <-ticker.C:
			if i < len(slow) {
				if _, err := conn.Write([]byte{slow[i]}); err != nil {
					d := time.Since(begin)
					if d > 8*time.Second {
						t.Errorf("connection cut after %v; want about 5s", d)
					}
					return
				}
			}
		}
	}
}

// TestServeWithConfigFile runs the binary with two issuers from a YAML
// file, one of which has its scope checks off: both are accepted, and
// serve warns about the check that is off.
func TestServeWithConfigFile(t *testing.T) {
	t.Parallel()
	a, b := authtest.NewIdP(t), authtest.NewIdPAt(t, "/realms/b")
	dir := t.TempDir()
	file := filepath.Join(dir, "orders.yaml")
	content := fmt.Sprintf(`addr: 127.0.0.1:0
database_url: sqlite:%s
auth:
  issuers:
    - issuer: %s
      audience: [%s]
    - provider: keycloak
      issuer: %s
      audience: [orders-b]
      read_scope: none
      write_scope: none
`, filepath.Join(dir, "orders.db"), a.URL(), authtest.Audience, b.URL())
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, map[string]string{"ORDERS_CONFIG": file}, "serve")
	warn := p.waitFor(t, "scope check off: every valid token of this issuer holds these scopes")
	if warn["issuer"] != b.URL() || warn["level"] != "WARN" {
		t.Errorf("warning = %v; want one for %s", warn, b.URL())
	}
	base := "http://" + p.waitFor(t, "listening")["addr"].(string)
	body := `{"order":[{"product":"latte","size":"big"}]}`
	if status, out := call(t, "POST", base+"/orders", a.Token(t, authtest.Claims{Subject: "alice", Scope: rw}), body); status != http.StatusCreated {
		t.Errorf("issuer a: %d %s; want 201", status, out)
	}
	tokB := b.Token(t, authtest.Claims{Subject: "bob", Extra: map[string]any{"aud": "orders-b", "typ": "Bearer"}})
	if status, out := call(t, "POST", base+"/orders", tokB, body); status != http.StatusCreated {
		t.Errorf("issuer b without scopes: %d %s; want 201", status, out)
	}
	tokWrongAud := b.Token(t, authtest.Claims{Subject: "bob", Extra: map[string]any{"aud": authtest.Audience, "typ": "Bearer"}})
	if status, _ := call(t, "GET", base+"/orders", tokWrongAud, ""); status != http.StatusUnauthorized {
		t.Errorf("issuer b with issuer a's audience: %d; want 401", status)
	}
}

// TestMigrateReadsTheConfigFile: migrate finds the database where serve
// would, in ORDERS_CONFIG.
func TestMigrateReadsTheConfigFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "configured.db")
	file := filepath.Join(dir, "orders.yaml")
	if err := os.WriteFile(file, []byte("database_url: sqlite:"+db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ordersBinary(t), "migrate")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ORDERS_CONFIG=" + file}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("the configured database was not migrated: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "orders.db")); err == nil {
		t.Error("migrate created the default orders.db instead")
	}
}
