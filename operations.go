package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/coffeemesh/orders/auth"
)

// newRegistry returns the Prometheus registry of one server: Go and process
// metrics, the database pool's statistics, the issuers' key sets and
// introspection; the API adds its request metrics.
func newRegistry(db *sql.DB, v *auth.Verifier) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(db, "orders"),
		keyCollector{v},
		introspectionCollector{v},
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// keyCollector exports the verifier's key-set counters.
type keyCollector struct{ v *auth.Verifier }

var (
	keysDesc      = prometheus.NewDesc("orders_jwks_keys", "Verification keys in hand, by issuer.", []string{"issuer"}, nil)
	refreshesDesc = prometheus.NewDesc("orders_jwks_refreshes_total", "JWKS fetches, by issuer.", []string{"issuer"}, nil)
	failuresDesc  = prometheus.NewDesc("orders_jwks_refresh_failures_total", "JWKS fetches that failed, by issuer.", []string{"issuer"}, nil)
)

func (k keyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keysDesc
	ch <- refreshesDesc
	ch <- failuresDesc
}

func (k keyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range k.v.Stats() {
		ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, float64(s.Keys), s.Issuer)
		ch <- prometheus.MustNewConstMetric(refreshesDesc, prometheus.CounterValue, float64(s.Refreshes), s.Issuer)
		ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.CounterValue, float64(s.Failures), s.Issuer)
	}
}

// introspectionCollector exports the verifier's introspection counters.
type introspectionCollector struct{ v *auth.Verifier }

var (
	introspectionsDesc = prometheus.NewDesc("orders_introspection_calls_total", "Introspection requests to the issuer, by issuer and outcome: active, inactive, refused (active but not acceptable here) or error.", []string{"issuer", "outcome"}, nil)
	introspectionHits  = prometheus.NewDesc("orders_introspection_cache_hits_total", "Requests answered from remembered introspection answers, by issuer.", []string{"issuer"}, nil)
	introspectionBusy  = prometheus.NewDesc("orders_introspection_busy_total", "Requests answered 503 without a call, as the most calls allowed to the issuer were under way, by issuer.", []string{"issuer"}, nil)
	introspectionTime  = prometheus.NewDesc("orders_introspection_duration_seconds", "Latency of introspection requests, by issuer.", []string{"issuer"}, nil)
)

func (ic introspectionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- introspectionsDesc
	ch <- introspectionHits
	ch <- introspectionBusy
	ch <- introspectionTime
}

func (ic introspectionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range ic.v.IntrospectionStats() {
		for outcome, n := range map[string]int64{"active": s.Active, "inactive": s.Inactive, "refused": s.Refused, "error": s.Errors} {
			ch <- prometheus.MustNewConstMetric(introspectionsDesc, prometheus.CounterValue, float64(n), s.Issuer, outcome)
		}
		ch <- prometheus.MustNewConstMetric(introspectionHits, prometheus.CounterValue, float64(s.CacheHits), s.Issuer)
		ch <- prometheus.MustNewConstMetric(introspectionBusy, prometheus.CounterValue, float64(s.Busy), s.Issuer)
		ch <- prometheus.MustNewConstHistogram(introspectionTime, uint64(s.Calls), s.LatencySeconds, s.LatencyBuckets, s.Issuer)
	}
}

// readiness is the check of GET /readyz: the database answers and every
// issuer's signing keys are in hand.
func readiness(db *sql.DB, v *auth.Verifier) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := db.PingContext(ctx); err != nil {
			return errors.New("the database does not answer")
		}
		if !v.Ready() {
			return errors.New("the issuer's signing keys are not loaded yet")
		}
		return nil
	}
}

// startAdmin serves /metrics, and pprof when the address is loopback, on a
// listener of its own until ctx ends.
func startAdmin(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	if auth.IsLoopback(host) {
		addPprof(mux)
	}
	srv := newServer(mux, log)
	srv.WriteTimeout = 0 // a CPU profile takes as long as it is asked to
	go func() {
		if err := serveUntilDone(ctx, "admin", srv, ln, log); err != nil {
			log.Error("admin listener stopped", "error", err)
		}
	}()
	log.InfoContext(ctx, "admin listening", "addr", ln.Addr().String(), "pprof", auth.IsLoopback(host))
	return nil
}

// addPprof adds Go's profiler, which must only ever be reachable from this
// machine.
func addPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// startPprof serves pprof alone on a loopback address until ctx ends.
func startPprof(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	addPprof(mux)
	srv := newServer(mux, log)
	srv.WriteTimeout = 0 // a CPU profile takes as long as it is asked to
	go func() {
		if err := serveUntilDone(ctx, "pprof", srv, ln, log); err != nil {
			log.Error("pprof listener stopped", "error", err)
		}
	}()
	log.InfoContext(ctx, "pprof listening", "addr", ln.Addr().String())
	return nil
}
