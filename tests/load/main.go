// Command load measures the orders API on this machine: it builds the
// server, seeds a SQLite database, starts `orders serve --dev` pinned to CPU
// 0, drives it from CPU 1 with a fixed number of connections, and prints a
// table of requests per second, p50 and p99 latency, and the ratio to
// GET /healthz, the ceiling of what the server can answer.
//
//	go run ./tests/load [-duration 10s] [-conns 50] [-rounds 1] [-scale]
//
// With -scale it also compares GET /orders latency with 10,000 orders in
// the database and with 1,000,000 orders of 10,000 users. It only talks to
// 127.0.0.1 and stops by itself.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"gorm.io/gorm"

	"github.com/coffeemesh/orders/migrations"
	"github.com/coffeemesh/orders/models"
	"github.com/coffeemesh/orders/repository"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long each endpoint is driven")
	conns := flag.Int("conns", 50, "concurrent connections")
	scale := flag.Bool("scale", false, "also compare list latency with 10k and 1M orders")
	rounds := flag.Int("rounds", 1, "times to drive every endpoint, printing the server's resident set after each, to see whether it grows")
	flag.Parse()
	if err := run(*duration, *conns, *rounds, *scale); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

type result struct {
	name     string
	requests int
	errors   int64
	rps      float64
	p50, p99 time.Duration
}

func run(duration time.Duration, conns, rounds int, scale bool) error {
	dir, err := os.MkdirTemp("", "orders-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "orders")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	// The load generator runs on CPU 1, the server on CPU 0.
	if runtime.NumCPU() > 1 {
		var set unix.CPUSet
		set.Set(1)
		_ = unix.SchedSetaffinity(0, &set) // best effort: measure anyway
		runtime.GOMAXPROCS(1)
	}
	issuerAddr, err := freeAddr()
	if err != nil {
		return err
	}
	issuer := "http://" + issuerAddr

	dbPath := filepath.Join(dir, "orders.db")
	ids, err := seed(dbPath, issuer, 100, 25)
	if err != nil {
		return err
	}
	srv, base, err := startServer(bin, dbPath, issuerAddr)
	if err != nil {
		return err
	}
	defer srv.Process.Kill()

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	tokens := make([]string, 100)
	for u := range tokens {
		if tokens[u], err = mint(client, issuer, fmt.Sprintf("user-%d", u)); err != nil {
			return err
		}
	}
	body := `{"order":[{"product":"cappuccino","size":"big","quantity":2},{"product":"croissant","size":"small"},{"product":"latte","size":"medium"}]}`
	scenarios := []struct {
		name string
		req  func(i int) *http.Request
		want int
	}{
		{"GET /healthz", func(int) *http.Request { return newReq("GET", base+"/healthz", "", "") }, 200},
		{"GET /orders/{id}", func(i int) *http.Request {
			u := i % 100
			return newReq("GET", base+"/orders/"+ids[u][i%len(ids[u])], tokens[u], "")
		}, 200},
		{"GET /orders (20)", func(i int) *http.Request { return newReq("GET", base+"/orders?limit=20", tokens[i%100], "") }, 200},
		{"POST /orders (3 items)", func(i int) *http.Request { return newReq("POST", base+"/orders", tokens[i%100], body) }, 201},
	}
	var (
		results []result
		served  int
	)
	for round := range rounds {
		results = results[:0]
		for _, s := range scenarios {
			results = append(results, drive(client, s.name, s.req, s.want, duration, conns))
		}
		served += total(results)
		if rounds > 1 {
			fmt.Printf("round %d: server resident set after %d requests: %s\n", round+1, served, rss(srv.Process.Pid))
		}
	}
	fmt.Printf("\n%d connections, %s per endpoint, server on CPU 0, load on CPU 1, %s\n\n", conns, duration, cpuName())
	fmt.Println("| Endpoint | req/s | p50 | p99 | errors | ratio to /healthz |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Printf("| %s | %.0f | %s | %s | %d | %.2f |\n", r.name, r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errors, r.rps/results[0].rps)
	}
	fmt.Printf("\nserver resident set after %d requests: %s\n", served, rss(srv.Process.Pid))

	if scale {
		srv.Process.Kill()
		return compareScale(bin, dir, client, duration, conns)
	}
	return nil
}

func total(rs []result) int {
	n := 0
	for _, r := range rs {
		n += r.requests
	}
	return n
}

// compareScale measures the list of one user's 20 newest orders with 10,000
// orders in all, then with 1,000,000 orders of 10,000 users.
func compareScale(bin, dir string, client *http.Client, duration time.Duration, conns int) error {
	var p50s []time.Duration
	for _, size := range []struct{ users, each int }{{100, 100}, {10000, 100}} {
		issuerAddr, err := freeAddr()
		if err != nil {
			return err
		}
		issuer := "http://" + issuerAddr
		dbPath := filepath.Join(dir, fmt.Sprintf("scale-%d.db", size.users))
		if _, err := seed(dbPath, issuer, size.users, size.each); err != nil {
			return err
		}
		srv, base, err := startServer(bin, dbPath, issuerAddr)
		if err != nil {
			return err
		}
		tokens := make([]string, 100)
		for u := range tokens {
			if tokens[u], err = mint(client, issuer, fmt.Sprintf("user-%d", u*(size.users/100))); err != nil {
				return err
			}
		}
		r := drive(client, "list", func(i int) *http.Request { return newReq("GET", base+"/orders?limit=20", tokens[i%100], "") }, 200, duration, conns)
		srv.Process.Kill()
		srv.Wait()
		fmt.Printf("list with %d orders of %d users: p50 %s, %.0f req/s\n", size.users*size.each, size.users, r.p50, r.rps)
		p50s = append(p50s, r.p50)
	}
	fmt.Printf("ratio of p50 (1M orders / 10k orders): %.2f\n", float64(p50s[1])/float64(p50s[0]))
	return nil
}

func newReq(method, u, token, body string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, u, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// drive sends requests from conns workers for duration and measures them.
func drive(client *http.Client, name string, req func(i int) *http.Request, want int, duration time.Duration, conns int) result {
	var (
		next   atomic.Int64
		errs   atomic.Int64
		mu     sync.Mutex
		lat    []time.Duration
		wg     sync.WaitGroup
		warmup = time.Now().Add(time.Second)
	)
	// A second of warm-up fills the connection pool and the caches.
	deadline := warmup.Add(duration)
	for range conns {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				i := int(next.Add(1))
				start := time.Now()
				resp, err := client.Do(req(i))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if start.Before(warmup) {
					continue
				}
				mine = append(mine, time.Since(start))
				if err != nil || resp.StatusCode != want {
					errs.Add(1)
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	r := result{name: name, requests: len(lat), errors: errs.Load(), rps: float64(len(lat)) / duration.Seconds()}
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r
}

// seed fills a new database with users × each orders of subjects user-N at
// issuer, directly through the repository's schema, and returns the ids of
// the first 100 users' orders.
func seed(path, issuer string, users, each int) ([][]string, error) {
	db, err := repository.Open("sqlite:"+path, repository.Pool{MaxOpenConns: 1})
	if err != nil {
		return nil, err
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	if err := migrations.Up(context.Background(), sqlDB, migrations.SQLite); err != nil {
		return nil, err
	}
	ids := make([][]string, min(users, 100))
	items := `[{"product":"cappuccino","size":"big","quantity":2}]`
	created := time.Now().UTC().Add(-time.Hour)
	err = db.Transaction(func(tx *gorm.DB) error {
		for u := range users {
			owner := string(models.NewOwnerID(issuer, fmt.Sprintf("user-%d", u)))
			rows := make([]map[string]any, 0, each)
			for i := range each {
				id, err := models.NewOrderID()
				if err != nil {
					return err
				}
				if u < len(ids) {
					ids[u] = append(ids[u], string(id))
				}
				rows = append(rows, map[string]any{"id": string(id), "owner": owner, "created": created.Add(time.Duration(u*each+i) * time.Microsecond).UnixMicro(), "status": "created", "items": items})
			}
			if err := tx.Table("orders").CreateInBatches(rows, 500).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return ids, err
}

func startServer(bin, dbPath, issuerAddr string) (*exec.Cmd, string, error) {
	args := []string{bin, "serve", "--dev"}
	if _, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() > 1 {
		args = append([]string{"taskset", "-c", "0"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "ORDERS_ADDR=127.0.0.1:0", "ORDERS_DEV_ISSUER_ADDR="+issuerAddr,
		"ORDERS_DATABASE_URL=sqlite:"+dbPath, "GOMAXPROCS=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		var line map[string]any
		if json.Unmarshal(lines.Bytes(), &line) == nil && line["msg"] == "listening" {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return cmd, "http://" + line["addr"].(string), nil
		}
	}
	return nil, "", fmt.Errorf("the server did not start")
}

func mint(client *http.Client, issuer, sub string) (string, error) {
	resp, err := client.PostForm(issuer+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {sub}, "ttl": {"2h"}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	return body.AccessToken, err
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:"))
		}
	}
	return "unknown"
}

func cpuName() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			_, name, _ := strings.Cut(line, ":")
			return strings.TrimSpace(name)
		}
	}
	return runtime.GOARCH
}
