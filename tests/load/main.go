// Command load measures the orders API on this machine: it builds the
// server, seeds a SQLite database (or, with -db postgres, a fresh schema on
// the PostgreSQL server of -database-url, seeded with COPY and dropped at
// the end; the URL's role must create roles and schemas and bypass
// row-level security, as postgres does, and the server connects as
// orders_app, which does not), starts `orders serve --dev` on it pinned to
// CPU 0, drives it from CPU 1 with a fixed number of connections, and
// prints a table of requests per second, p50 and p99 latency, and the ratio
// to GET /healthz, the ceiling of what the server can answer. It drives
// with wrk when it is installed (apt-get install wrk), and with a Go load
// generator otherwise.
//
//	go run ./tests/load [-db sqlite|postgres] [-database-url URL] [-duration 10s] [-slices 5] [-conns 50] [-rounds 1] [-scale] [-dpop-alg ES256|EdDSA]
//
// It measures the create twice: plain, and with a new Idempotency-Key on
// every request. The server reads the rest of its configuration from the
// environment, so ORDERS_RATE_LIMIT and ORDERS_RATE_LIMIT_BURST set there
// (high enough never to refuse) measure what the rate limits cost.
//
// Beside the bearer point read, it measures one with DPoP: tokens bound to
// a key of -dpop-alg, issued by the dev issuer to token requests with a
// proof, and a fresh proof on every request, each sent once. The Go driver
// signs each before its request; with wrk, the proofs of a slice are
// signed before it starts (1.5 times what the last slice's rate would
// send), outside its time. The server keeps used proofs in memory on
// SQLite, in PostgreSQL with -db postgres, and in Redis when
// ORDERS_REDIS_URL is set in the environment.
//
// Each endpoint's duration is cut into slices run in turn with the other
// endpoints', so that a noisy neighbour slows every endpoint alike. At the
// end it checks that every order the server acknowledged is stored. With
// -scale it also compares GET /orders latency with 10,000 orders in the
// database and with 1,000,000 orders of 10,000 users (on PostgreSQL,
// 10,000,000 orders of 100,000 users). It talks only to 127.0.0.1 and to
// the PostgreSQL server, and stops by itself.
package main

import (
	"bufio"
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	duration := flag.Duration("duration", 10*time.Second, "how long each endpoint is driven in a round")
	nslices := flag.Int("slices", 5, "slices each endpoint's duration is cut into, run in turn with the other endpoints'")
	conns := flag.Int("conns", 50, "concurrent connections")
	scale := flag.Bool("scale", false, "also compare list latency with 10k and 1M orders")
	rounds := flag.Int("rounds", 1, "times to drive every endpoint, printing the server's resident set after each, to see whether it grows")
	kind := flag.String("db", "sqlite", `the database the server runs on: "sqlite" or "postgres"`)
	adminURL := flag.String("database-url", defaultPostgresURL, "with -db postgres, the server, as a role that may create roles and schemas")
	dpopAlg := flag.String("dpop-alg", "ES256", `the algorithm of the DPoP proofs: "ES256" or "EdDSA"`)
	flag.Parse()
	if *dpopAlg != "ES256" && *dpopAlg != "EdDSA" {
		fmt.Fprintf(os.Stderr, "load: -dpop-alg %q: want ES256 or EdDSA\n", *dpopAlg)
		os.Exit(2)
	}
	if *kind != "sqlite" && *kind != "postgres" {
		fmt.Fprintf(os.Stderr, "load: -db %q: want sqlite or postgres\n", *kind)
		os.Exit(2)
	}
	_, err := exec.LookPath("wrk")
	d := driver{conns: *conns, wrk: err == nil, target: target{kind: *kind, adminURL: *adminURL}, rates: map[string]float64{}, dpopAlg: *dpopAlg}
	if err := run(d, *duration, *nslices, *rounds, *scale); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// call is one request a scenario sends.
type call struct {
	method, path, token, body string
}

// scenario is an endpoint driven with its calls, in turn.
type scenario struct {
	name  string
	want  int
	calls []call
	// record keeps the Location of every 201, to read the orders back at
	// the end.
	record bool
	// prover, when set, signs a fresh DPoP proof for every request, whose
	// token is then sent with the DPoP scheme.
	prover *prover
	// keyed sends every request with an Idempotency-Key of its own.
	keyed bool
}

// slice is what one run of a scenario measured.
type slice struct {
	requests, errors int
	duration         time.Duration
	p50, p99         time.Duration
	// created are the Locations of the 201s, when the scenario records them.
	created []string
}

// result sums a scenario's slices: requests per second over all of them,
// and the median of their percentiles.
type result struct {
	name     string
	requests int
	errors   int
	rps      float64
	p50, p99 time.Duration
}

func summarize(name string, ss []slice) result {
	r := result{name: name}
	var d time.Duration
	var p50s, p99s []time.Duration
	for _, s := range ss {
		r.requests += s.requests
		r.errors += s.errors
		d += s.duration
		p50s, p99s = append(p50s, s.p50), append(p99s, s.p99)
	}
	if d > 0 {
		r.rps = float64(r.requests) / d.Seconds()
	}
	slices.Sort(p50s)
	slices.Sort(p99s)
	if len(ss) > 0 {
		r.p50, r.p99 = p50s[len(p50s)/2], p99s[len(p99s)/2]
	}
	return r
}

func run(d driver, duration time.Duration, nslices, rounds int, scale bool) error {
	dir, err := os.MkdirTemp("", "orders-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d.dir = dir
	d.target.dir = dir
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

	const users, each = 100, 25
	db, err := d.target.open("orders")
	if err != nil {
		return err
	}
	defer db.drop()
	ids, err := db.seed(issuer, users, each)
	if err != nil {
		return err
	}
	srv, base, err := startServer(bin, db.url, issuerAddr)
	if err != nil {
		return err
	}
	defer stop(srv)
	d.base = base
	tokens, err := mintAll(issuer, users, 1)
	if err != nil {
		return err
	}
	p, err := newProver(d.dpopAlg)
	if err != nil {
		return err
	}
	bound, err := p.mintBound(issuer, users)
	if err != nil {
		return err
	}
	scenarios := newScenarios(ids, tokens, users, each)
	scenarios = slices.Insert(scenarios, 2, dpopScenario(p, ids, bound, users, each))
	results, acknowledged, served, err := d.measure(scenarios, duration, nslices, rounds, srv.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("\n%s on %s, %d connections, %s per endpoint in %d slices, server on CPU 0, load on CPU 1, %s\n\n",
		d.name(), d.target.kind, d.conns, duration, nslices, cpuName())
	fmt.Println("| Endpoint | req/s | p50 | p99 | errors | ratio to /healthz |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Printf("| %s | %.0f | %s | %s | %d | %.2f |\n", r.name, r.rps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errors, r.rps/results[0].rps)
	}
	fmt.Printf("\nserver resident set after %d requests: %s\n", served, rss(srv.Process.Pid))
	if err := d.readBack(tokens, acknowledged); err != nil {
		return err
	}
	fmt.Printf("orders acknowledged with a 201: %d, every one read back through GET /orders\n", len(acknowledged))

	if scale {
		stop(srv)
		return compareScale(d, bin, duration)
	}
	return nil
}

// healthzName names the scenario of GET /healthz, the ceiling.
const healthzName = "GET /healthz"

// newScenarios are the endpoints measured: /healthz, the ceiling, then a
// point read, a list of 20 and a create of 3 items, spread over users, and
// the create again with a new Idempotency-Key on every request.
func newScenarios(ids [][]string, tokens []string, users, each int) []scenario {
	const body = `{"order":[{"product":"cappuccino","size":"big","quantity":2},{"product":"croissant","size":"small"},{"product":"latte","size":"medium"}]}`
	healthz := scenario{name: healthzName, want: 200, calls: []call{{method: "GET", path: "/healthz"}}}
	get := scenario{name: "GET /orders/{id}", want: 200}
	list := scenario{name: "GET /orders (20)", want: 200}
	post := scenario{name: "POST /orders (3 items)", want: 201, record: true}
	keyed := scenario{name: "POST /orders (3 items, Idempotency-Key)", want: 201, record: true, keyed: true}
	for j := range each {
		for u := range users {
			get.calls = append(get.calls, call{method: "GET", path: "/orders/" + ids[u][j], token: tokens[u]})
		}
	}
	for u := range users {
		list.calls = append(list.calls, call{method: "GET", path: "/orders?limit=20", token: tokens[u]})
		post.calls = append(post.calls, call{method: "POST", path: "/orders", token: tokens[u], body: body})
	}
	keyed.calls = post.calls
	return []scenario{healthz, get, list, post, keyed}
}

// measure warms the server up for a second per scenario, then drives the
// scenarios in turn, slice by slice, rounds times, printing the server's
// resident set after each round when there are several. It returns the
// last round's results, the Locations of every order acknowledged with a
// 201, and how many requests were served.
func (d driver) measure(scenarios []scenario, duration time.Duration, nslices, rounds, pid int) (results []result, acknowledged []string, served int, err error) {
	for _, s := range scenarios {
		sl, err := d.drive(s, time.Second)
		if err != nil {
			return nil, nil, 0, err
		}
		acknowledged = append(acknowledged, sl.created...)
	}
	for round := range rounds {
		measured := make([][]slice, len(scenarios))
		for range nslices {
			for i, s := range scenarios {
				sl, err := d.drive(s, duration/time.Duration(nslices))
				if err != nil {
					return nil, nil, 0, err
				}
				measured[i] = append(measured[i], sl)
				served += sl.requests
				acknowledged = append(acknowledged, sl.created...)
			}
		}
		results = results[:0]
		for i, s := range scenarios {
			results = append(results, summarize(s.name, measured[i]))
		}
		if rounds > 1 {
			fmt.Printf("round %d: server resident set after %d requests: %s\n", round+1, served, rss(pid))
		}
	}
	return results, acknowledged, served, nil
}

// readBack pages through every user's orders with GET /orders and checks
// that each of the acknowledged Locations is there.
func (d driver) readBack(tokens, acknowledged []string) error {
	stored := map[string]bool{}
	for _, token := range tokens {
		next := "/orders?limit=100"
		for next != "" {
			resp, err := http.DefaultClient.Do(newReq("GET", d.base+next, token, ""))
			if err != nil {
				return err
			}
			var page struct {
				Orders []struct {
					ID string `json:"id"`
				} `json:"orders"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %d, %v", next, resp.StatusCode, err)
			}
			for _, o := range page.Orders {
				stored["/orders/"+o.ID] = true
			}
			next = ""
			if link, _, ok := strings.Cut(strings.TrimPrefix(resp.Header.Get("Link"), "<"), ">"); ok {
				next = link
			}
		}
	}
	for _, l := range acknowledged {
		if !stored[l] {
			return fmt.Errorf("order %s was acknowledged with a 201 but is not listed", l)
		}
	}
	return nil
}

// compareScale measures the list of one user's 20 newest orders with 10,000
// orders in all, then with 100 orders each of 10,000 users on SQLite, of
// 100,000 users on PostgreSQL.
func compareScale(d driver, bin string, duration time.Duration) error {
	big := 10000
	if d.target.kind == "postgres" {
		big = 100000
	}
	var p50s []time.Duration
	for _, users := range []int{100, big} {
		p50, err := measureList(d, bin, fmt.Sprintf("scale_%d", users), users, 100, duration)
		if err != nil {
			return err
		}
		fmt.Printf("list with %d orders of %d users: p50 %s\n", users*100, users, p50)
		p50s = append(p50s, p50)
	}
	fmt.Printf("ratio of p50 (%d orders / 10k orders): %.2f\n", big*100, float64(p50s[1])/float64(p50s[0]))
	return nil
}

// measureList seeds a database of users × each orders, serves it, and
// returns the p50 latency of lists of 20 orders of 100 of its users.
func measureList(d driver, bin, name string, users, each int, duration time.Duration) (time.Duration, error) {
	issuerAddr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	issuer := "http://" + issuerAddr
	db, err := d.target.open(name)
	if err != nil {
		return 0, err
	}
	defer db.drop()
	if _, err := db.seed(issuer, users, each); err != nil {
		return 0, err
	}
	srv, base, err := startServer(bin, db.url, issuerAddr)
	if err != nil {
		return 0, err
	}
	defer stop(srv)
	d.base = base
	tokens, err := mintAll(issuer, 100, users/100)
	if err != nil {
		return 0, err
	}
	list := scenario{name: "list", want: 200}
	for _, t := range tokens {
		list.calls = append(list.calls, call{method: "GET", path: "/orders?limit=20", token: t})
	}
	if _, err := d.drive(list, time.Second); err != nil {
		return 0, err
	}
	sl, err := d.drive(list, duration)
	return sl.p50, err
}

// stop kills the server and waits for it.
func stop(srv *exec.Cmd) {
	_ = srv.Process.Kill()
	_ = srv.Wait() // killed: its exit status is the kill
}

// driver sends a scenario's calls to the server at base from conns
// connections.
type driver struct {
	conns  int
	wrk    bool // wrk is installed
	base   string
	dir    string // for wrk's scripts
	target target
	// rates are the requests per second of each scenario's last slice,
	// by name, to size the next slice's DPoP proofs.
	rates map[string]float64
	// dpopAlg signs the DPoP proofs: ES256 or EdDSA.
	dpopAlg string
}

func (d driver) name() string {
	if d.wrk {
		return "wrk"
	}
	return "Go load generator (install wrk for a lighter one)"
}

// drive sends s's calls, in turn, for duration, with wrk when it is
// installed and with Go's HTTP client otherwise.
func (d driver) drive(s scenario, duration time.Duration) (slice, error) {
	var sl slice
	var err error
	if d.wrk {
		sl, err = d.runWrk(s, duration)
	} else {
		sl = d.goClient(s, duration)
	}
	if sl.duration > 0 {
		d.rates[s.name] = float64(sl.requests) / sl.duration.Seconds()
	}
	return sl, err
}

// runWrk drives s with wrk, on CPU 1 like this process, through a Lua
// script that cycles through s's calls (for a DPoP scenario, sends each of
// the proofs signed before the slice once) and reports wrk's summary on
// one line.
func (d driver) runWrk(s scenario, duration time.Duration) (slice, error) {
	secs := max(1, int(duration.Round(time.Second)/time.Second))
	lua := bearerScript(s)
	if s.prover != nil {
		var err error
		if lua, err = d.dpopScript(s, secs); err != nil {
			return slice{}, err
		}
	}
	script := filepath.Join(d.dir, "load.lua")
	if err := os.WriteFile(script, []byte(lua+doneScript(s.record)), 0o600); err != nil {
		return slice{}, err
	}
	args := pinned(1, "wrk", "-t1", fmt.Sprintf("-c%d", d.conns), fmt.Sprintf("-d%ds", secs), "--timeout", "10s", "-s", script, d.base)
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return slice{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	_, line, ok := strings.Cut(string(out), "wrk-result ")
	var sl slice
	var us, p50, p99 int64
	if !ok {
		return slice{}, fmt.Errorf("wrk printed no result:\n%s", out)
	}
	if _, err := fmt.Sscan(line, &sl.requests, &sl.errors, &us, &p50, &p99); err != nil {
		return slice{}, fmt.Errorf("wrk's result %q: %v", line, err)
	}
	sl.duration, sl.p50, sl.p99 = time.Duration(us)*time.Microsecond, time.Duration(p50)*time.Microsecond, time.Duration(p99)*time.Microsecond
	for _, l := range strings.Split(string(out), "\n") {
		if loc, ok := strings.CutPrefix(l, "wrk-created "); ok {
			sl.created = append(sl.created, loc)
		}
	}
	if strings.Contains(string(out), "wrk-exhausted") {
		fmt.Fprintf(os.Stderr, "load: %s: every proof was sent before the slice's end, which was cut short\n", s.name)
	}
	return sl, nil
}

// bearerScript is the start of the Lua script of a scenario of bearer
// tokens: its requests are formatted in init, once wrk knows the Host
// header, and request cycles through them.
func bearerScript(s scenario) string {
	var lua strings.Builder
	lua.WriteString("local calls = {}\ninit = function(args)\n")
	for _, c := range s.calls {
		headers := "{}"
		if c.token != "" {
			headers = fmt.Sprintf("{[\"Authorization\"] = %q", "Bearer "+c.token)
			if c.body != "" {
				headers += `, ["Content-Type"] = "application/json"`
			}
			headers += "}"
		}
		body := "nil"
		if c.body != "" {
			body = fmt.Sprintf("%q", c.body)
		}
		if s.keyed {
			fmt.Fprintf(&lua, "calls[#calls+1] = {%q, %q, %s, %s}\n", c.method, c.path, headers, body)
			continue
		}
		fmt.Fprintf(&lua, "calls[#calls+1] = wrk.format(%q, %q, %s, %s)\n", c.method, c.path, headers, body)
	}
	if s.keyed {
		// Each request is formatted as it is sent, with a key of its own.
		fmt.Fprintf(&lua, `end
local i, n, prefix = 0, 0, "%d-"
request = function()
  i = i %% #calls + 1
  n = n + 1
  local c = calls[i]
  c[3]["Idempotency-Key"] = prefix .. n
  return wrk.format(c[1], c[2], c[3], c[4])
end
`, time.Now().UnixNano())
		return lua.String()
	}
	lua.WriteString(`end
local i = 0
request = function()
  i = i % #calls + 1
  return calls[i]
end
`)
	return lua.String()
}

// doneScript ends a Lua script: done prints wrk's summary and, when record
// is set, the Location of every 201.
func doneScript(record bool) string {
	lua := `local threads = {}
setup = function(thread) threads[#threads+1] = thread end
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format("wrk-result %d %d %d %d %d\n", s.requests, e.connect + e.read + e.write + e.status + e.timeout,
    s.duration, latency:percentile(50), latency:percentile(99)))
  for _, t in ipairs(threads) do
    if t:get("exhausted") then io.write("wrk-exhausted\n") end
  end
`
	if !record {
		return lua + "end\n"
	}
	// Each thread keeps the Location of every 201; done, which runs apart
	// from the threads, prints them.
	return lua + `  for _, t in ipairs(threads) do
    for _, l in ipairs(t:get("created")) do io.write("wrk-created ", l, "\n") end
  end
end
created = {}
response = function(status, headers, body)
  if status == 201 then created[#created+1] = headers["Location"] end
end
`
}

// goClient drives s from conns goroutines of Go's HTTP client.
func (d driver) goClient(s scenario, duration time.Duration) slice {
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: d.conns, MaxIdleConnsPerHost: d.conns, MaxConnsPerHost: d.conns}}
	defer client.CloseIdleConnections()
	var (
		next    atomic.Int64
		errs    atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
		created []string
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(duration)
	keyPrefix := strconv.FormatInt(start.UnixNano(), 36) + "-"
	for range d.conns {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				c := s.calls[int(next.Add(1))%len(s.calls)]
				sent := time.Now()
				req := newReq(c.method, d.base+c.path, c.token, c.body)
				if s.keyed {
					req.Header.Set("Idempotency-Key", keyPrefix+strconv.FormatInt(next.Add(1), 10))
				}
				var err error
				if s.prover != nil {
					req.Header.Set("Authorization", "DPoP "+c.token)
					var proof string
					proof, err = s.prover.proof(c.method, d.base+c.path, c.token)
					req.Header.Set("DPoP", proof)
				}
				var resp *http.Response
				if err == nil {
					resp, err = client.Do(req)
				}
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mine = append(mine, time.Since(sent))
				if err != nil || resp.StatusCode != s.want {
					errs.Add(1)
				} else if s.record && resp.StatusCode == http.StatusCreated {
					mu.Lock()
					created = append(created, resp.Header.Get("Location"))
					mu.Unlock()
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	sl := slice{requests: len(lat), errors: int(errs.Load()), duration: time.Since(start), created: created}
	if len(lat) > 0 {
		sl.p50, sl.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return sl
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

// pinned returns the command line that runs args on CPU cpu with taskset,
// when there is more than one CPU and taskset is installed; args otherwise.
func pinned(cpu int, args ...string) []string {
	if _, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() > 1 {
		return append([]string{"taskset", "-c", strconv.Itoa(cpu)}, args...)
	}
	return args
}

func startServer(bin, databaseURL, issuerAddr string) (*exec.Cmd, string, error) {
	args := pinned(0, bin, "serve", "--dev")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "ORDERS_ADDR=127.0.0.1:0", "ORDERS_DEV_ISSUER_ADDR="+issuerAddr,
		"ORDERS_DATABASE_URL="+databaseURL, "GOMAXPROCS=1")
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
	stop(cmd)
	return nil, "", fmt.Errorf("the server did not start")
}

// mintAll mints a token at issuer for n users, user-0, user-step,
// user-2*step and so on.
func mintAll(issuer string, n, step int) ([]string, error) {
	tokens := make([]string, n)
	for u := range tokens {
		resp, err := http.PostForm(issuer+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {fmt.Sprintf("user-%d", u*step)}, "ttl": {"2h"}})
		if err != nil {
			return nil, err
		}
		var body struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		tokens[u] = body.AccessToken
	}
	return tokens, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// rss is the server's resident set, with how much of it is anonymous
// memory (Go's heap and stacks, malloc), mapped files (the program, shared
// libraries, SQLite's WAL index) and shared memory.
func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	kb := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if ok {
			kb[name] = strings.TrimSpace(value)
		}
	}
	return fmt.Sprintf("%s (anonymous %s, files %s, shared %s)", kb["VmRSS"], kb["RssAnon"], kb["RssFile"], kb["RssShmem"])
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
