package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDPoPInteropPanva: proofs made by panva's dpop package from npm, a
// client library nobody here wrote, get DPoP-bound tokens from the dev
// issuer and are accepted by the API once, with server nonces on and off;
// the same proof again is refused. The package names Ed25519 proofs by RFC
// 9864's fully-specified alg "Ed25519". .ci/run installs the package; elsewhere the
// test is skipped without node or `npm ci --prefix tests/dpopjs`, but never
// under CI=true.
func TestDPoPInteropPanva(t *testing.T) {
	t.Parallel()
	_, errNode := exec.LookPath("node")
	_, errModule := os.Stat("dpopjs/node_modules/dpop")
	if errNode != nil || errModule != nil {
		msg := "needs node and `npm ci --prefix tests/dpopjs`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, nonce := range []string{"off", "on"} {
		t.Run("nonce "+nonce, func(t *testing.T) {
			t.Parallel()
			_, base, tokenURL := startDev(t, map[string]string{"ORDERS_AUTH_DPOP_NONCE": nonce})
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			algs := []string{"ES256", "Ed25519", "PS256", "RS256"}
			cmd := exec.CommandContext(ctx, "node", append([]string{"interop.mjs", base, tokenURL}, algs...)...)
			cmd.Dir = "dpopjs"
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			type result struct {
				Alg        string `json:"alg"`
				TokenType  string `json:"token_type"`
				BoundToKey bool   `json:"bound_to_key"`
				NonceAsked bool   `json:"nonce_asked"`
				First      int    `json:"first"`
				Replay     int    `json:"replay"`
			}
			want := map[string]bool{}
			for _, a := range algs {
				want[a] = true
			}
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				var r result
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatalf("node printed %q: %v", sc.Text(), err)
				}
				delete(want, r.Alg)
				if r.TokenType != "DPoP" || !r.BoundToKey || r.NonceAsked != (nonce == "on") || r.First != 200 || r.Replay != 401 {
					t.Errorf("%s: %+v; want a DPoP token bound to the key, a nonce asked for only with nonces on, 200, then 401 for the replay", r.Alg, r)
				}
			}
			if len(want) > 0 {
				t.Errorf("no result for %v", want)
			}
		})
	}
}
