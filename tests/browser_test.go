package tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestDocsInBrowser opens /docs in headless Chromium (Debian's chromium,
// driven by playwright-core from tests/browser), authorizes through the dev
// issuer's login page with the authorization code flow and PKCE, runs GET
// /orders from the page and expects 200. The screenshot lands in
// tests/browser/screenshots/docs.png. .ci/run installs both; elsewhere the
// test is skipped without them, but never under CI=true.
func TestDocsInBrowser(t *testing.T) {
	t.Parallel()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	_, errChromium := os.Stat(chromium)
	_, errNode := exec.LookPath("node")
	_, errModule := os.Stat("browser/node_modules/playwright-core")
	if errChromium != nil || errNode != nil || errModule != nil {
		msg := "needs /usr/bin/chromium (apt-get install chromium), node, and `npm ci --prefix tests/browser`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	_, base, _ := startDev(t, map[string]string{"ORDERS_ADDR": "localhost:0"})
	if err := os.MkdirAll("browser/screenshots", 0o755); err != nil {
		t.Fatal(err)
	}
	shot, err := filepath.Abs("browser/screenshots/docs.png")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "docs.mjs", base, shot)
	cmd.Dir = "browser"
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("browser test: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("no screenshot at %s: %v", shot, err)
	}
}
