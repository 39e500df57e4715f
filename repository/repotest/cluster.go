package repotest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/coffeemesh/orders/repository"
)

// clusterTimeout bounds each step of a Cluster: initdb, a start, a kill.
const clusterTimeout = 60 * time.Second

// Cluster is a PostgreSQL server of one test's own: initdb in a temporary
// folder, trust authentication, a free port on 127.0.0.1. A test may kill
// it and start it again without harming any other. As root, the server runs
// as the postgres user, since PostgreSQL refuses to run as root.
type Cluster struct {
	bin  string // the folder of initdb and postgres
	dir  string // the cluster's folder: data/, the socket and the log
	port int
	cred *syscall.Credential // nil when the test runs as an ordinary user

	cmd  *exec.Cmd  // the running postmaster; nil when stopped
	done chan error // its exit
}

// NewCluster makes a cluster, starts it, and removes it when the test
// ends. Without initdb it skips the test, except under CI=true, where it
// fails instead: CI must run the fault tests.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bin, err := postgresBin()
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%v (CI=true: the PostgreSQL fault tests must run)", err)
		}
		tb.Skipf("%v; install PostgreSQL's server to run the fault tests", err)
	}
	c := &Cluster{bin: bin, port: freePort(tb)}
	if os.Geteuid() == 0 {
		c.cred = postgresUser(tb)
	}
	c.dir, err = os.MkdirTemp("", "orders-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c.Kill(tb)
		os.RemoveAll(c.dir)
	})
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			tb.Fatal(err)
		}
	}
	initdb := c.command("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	c.Start(tb)
	return c
}

// postgresBin returns the folder of the newest initdb installed.
func postgresBin() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(found, func(a, b string) int { return versionOf(a) - versionOf(b) })
	if len(found) > 0 {
		return filepath.Dir(found[len(found)-1]), nil
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", fmt.Errorf("initdb not found under /usr/lib/postgresql/*/bin nor on PATH")
}

// versionOf reads the major version in /usr/lib/postgresql/VERSION/bin/initdb.
func versionOf(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

func postgresUser(tb testing.TB) *syscall.Credential {
	tb.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		tb.Fatalf("running as root, the cluster needs the postgres user: %v", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// command runs one of PostgreSQL's programs as the cluster's user, in its
// own process group, so that Kill reaches every process of the server.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	return cmd
}

// URL is the cluster's superuser URL, on its postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the server and returns once it accepts connections; the
// server then recovers from a crash on its own, as after a SIGKILL.
func (c *Cluster) Start(tb testing.TB) {
	tb.Helper()
	log, err := os.OpenFile(filepath.Join(c.dir, "server.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	defer log.Close()
	cmd := c.command("postgres", "-D", c.data(), "-p", strconv.Itoa(c.port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=60")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start postgres: %v", err)
	}
	c.cmd, c.done = cmd, make(chan error, 1)
	go func() { c.done <- cmd.Wait() }()
	db, err := sql.Open("pgx", c.URL())
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(clusterTimeout); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		switch {
		case err == nil:
			return
		case len(c.done) > 0 || time.Now().After(deadline):
			out, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
			tb.Fatalf("postgres did not start: %v\n%s", err, out)
		}
		time.Sleep(50 * time.Millisecond) // polling until the server accepts connections
	}
}

// Kill ends every process of the server with SIGKILL, as a crash would,
// and returns once none is left. It does nothing when the server is
// stopped.
func (c *Cluster) Kill(tb testing.TB) {
	tb.Helper()
	if c.cmd == nil {
		return
	}
	pgid := c.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
		tb.Errorf("kill postgres: %v", err)
	}
	<-c.done
	c.cmd = nil
	// The backends, orphaned, may take a moment to die; a new server
	// refuses to start while one still holds the old shared memory.
	for deadline := time.Now().Add(clusterTimeout); groupAlive(pgid); {
		if time.Now().After(deadline) {
			tb.Fatalf("processes of the killed postgres (group %d) still alive", pgid)
		}
		time.Sleep(10 * time.Millisecond) // polling until the kernel has ended them
	}
}

// groupAlive reports whether a process of group pgid lives, zombies apart.
func groupAlive(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		_, rest, _ := strings.Cut(string(b), ") ")
		f := strings.Fields(rest)
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

// Database makes the database orders on the cluster, owned by AppRole,
// which connects without password as the API would: no superuser, so
// row-level security applies. A cluster has one: call it once.
func (c *Cluster) Database(tb testing.TB) Database {
	tb.Helper()
	admin, err := sql.Open("pgx", c.URL())
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	for _, stmt := range []string{
		"CREATE ROLE " + AppRole + " LOGIN NOSUPERUSER NOBYPASSRLS",
		"CREATE DATABASE orders OWNER " + AppRole,
	} {
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			tb.Fatalf("%s: %v", stmt, err)
		}
	}
	return Database{Name: "postgres", URL: fmt.Sprintf("postgres://%s@127.0.0.1:%d/orders?sslmode=disable", AppRole, c.port)}
}

// OpenPool opens db with pool, as serve opens the pool it serves from,
// without migrating it, and closes it when the test ends.
func OpenPool(tb testing.TB, db Database, pool repository.Pool) *gorm.DB {
	tb.Helper()
	g, err := repository.Open(db.URL, pool)
	if err != nil {
		tb.Fatal(err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sqlDB.Close() })
	return g
}
