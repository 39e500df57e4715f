package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/auth/jwe"
)

// TestJWEInteropPanva: tokens of the in-test IdP, encrypted by panva's
// jose package from npm (a JOSE library nobody here wrote) with every key
// management and content encryption algorithm the API accepts, to the
// API's public RSA and EC keys, with cty JWT and without it (as Auth0
// sends them), are accepted by the API. .ci/run installs
// the package; elsewhere the test is skipped without node or `npm ci
// --prefix tests/josejs`, but never under CI=true.
func TestJWEInteropPanva(t *testing.T) {
	t.Parallel()
	_, errNode := exec.LookPath("node")
	_, errModule := os.Stat("josejs/node_modules/jose")
	if errNode != nil || errModule != nil {
		msg := "needs node and `npm ci --prefix tests/josejs`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	rsaKey := authtest.NewDecryptionKey(t, "orders-rsa", "RSA")
	ecKey := authtest.NewDecryptionKey(t, "", "EC")
	e := newJWEEnv(t, rsaKey, ecKey)
	type encryption struct {
		Alg string `json:"alg"`
		Enc string `json:"enc"`
		CTY bool   `json:"cty"`
	}
	var cases []encryption
	for _, alg := range jwe.KeyAlgorithms() {
		for _, enc := range jwe.ContentAlgorithms() {
			cases = append(cases, encryption{alg, enc, true}, encryption{alg, enc, false})
		}
	}
	input, err := json.Marshal(map[string]any{
		"token": e.token(t, "alice", rw),
		"keys":  map[string]any{"RSA": rsaKey.PublicJWK(), "EC": ecKey.PublicJWK()},
		"cases": cases,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "interop.mjs", e.url)
	cmd.Dir = "josejs"
	cmd.Stdin = bytes.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := map[encryption]bool{}
	for _, c := range cases {
		want[c] = true
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r struct {
			encryption
			Segments int `json:"segments"`
			Status   int `json:"status"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("node printed %q: %v", sc.Text(), err)
		}
		delete(want, r.encryption)
		if r.Segments != 5 || r.Status != http.StatusOK {
			t.Errorf("%s %s, cty %t: %d segments, GET /orders = %d; want a JWE (5 segments) accepted with 200", r.Alg, r.Enc, r.CTY, r.Segments, r.Status)
		}
	}
	if len(want) > 0 {
		t.Errorf("no result for %v", want)
	}
}
