package tests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/repository/repotest"
)

// unusedPort returns a loopback port nothing listens on, for a database
// that is down.
func unusedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestStartGivesUpOnAnAbsentDatabase: serve and migrate retry a database
// that does not answer, saying so each time, and exit 1 once the start
// timeout is over, with a message that names the database without its
// password.
func TestStartGivesUpOnAnAbsentDatabase(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	tests := []struct {
		name      string
		args      []string
		wantRetry string
	}{
		{"serve", []string{"serve"}, `"msg":"database not reachable; retrying"`},
		{"migrate", []string{"migrate", "up"}, "not reachable (attempt 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := serverEnv(t, idp)
			database := fmt.Sprintf("postgres://orders_app:s3cret@127.0.0.1:%d/orders", unusedPort(t))
			env["ORDERS_DATABASE_URL"] = database + "?sslmode=disable&password=s3cret"
			env["ORDERS_DATABASE_START_TIMEOUT"] = "1s"
			sent := time.Now()
			out, code := runBinary(t, env, "", tt.args...)
			want := fmt.Sprintf("database %s did not answer within 1s", strings.Replace(database, "s3cret", "xxxxx", 1))
			switch {
			case code != 1 || !strings.Contains(out, want):
				t.Errorf("exit %d\n%s\nwant exit 1 and %q", code, out, want)
			case !strings.Contains(out, tt.wantRetry):
				t.Errorf("output\n%s\nwant each retry said: %q", out, tt.wantRetry)
			case strings.Contains(out, "s3cret"):
				t.Errorf("output holds the password:\n%s", out)
			case time.Since(sent) > 15*time.Second:
				t.Errorf("gave up after %s; want about 1s", time.Since(sent))
			}
		})
	}
}

// TestStartWaitsForTheDatabase starts serve and migrate while PostgreSQL
// is down, then starts it: each waits, then goes on as usual.
func TestStartWaitsForTheDatabase(t *testing.T) {
	t.Parallel()
	t.Run("serve", func(t *testing.T) {
		t.Parallel()
		cluster := repotest.NewCluster(t)
		db := cluster.Database(t)
		cluster.Kill(t)
		env := serverEnv(t, authtest.NewIdP(t))
		env["ORDERS_DATABASE_URL"] = db.URL
		env["ORDERS_DATABASE_START_TIMEOUT"] = "30s"
		p := start(t, env, "serve")
		p.waitFor(t, "database not reachable; retrying")
		cluster.Start(t)
		p.waitFor(t, "listening")
		p.terminate(t)
	})
	t.Run("migrate", func(t *testing.T) {
		t.Parallel()
		cluster := repotest.NewCluster(t)
		db := cluster.Database(t)
		cluster.Kill(t)
		cmd := exec.Command(ordersBinary(t), "migrate", "up", "--database-url", db.URL)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ORDERS_DATABASE_START_TIMEOUT=30s"}
		var stdout strings.Builder
		cmd.Stdout = &stdout
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() }) // it may have exited already
		lines := bufio.NewScanner(stderr)
		if !lines.Scan() || !strings.Contains(lines.Text(), "not reachable (attempt 1)") {
			t.Fatalf("first stderr line %q; want the first retry", lines.Text())
		}
		cluster.Start(t)
		for lines.Scan() { // later retries, until the database answers
		}
		if err := cmd.Wait(); err != nil || !strings.Contains(stdout.String(), "0001  applied") {
			t.Errorf("migrate up: %v\n%s\nwant the migrations applied", err, stdout.String())
		}
	})
}
