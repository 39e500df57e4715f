package main

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
)

// TestIntrospectionMetrics: the collector exports the calls by outcome,
// the cache hits and the latency histogram of the issuer that introspects.
func TestIntrospectionMetrics(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIdP(t)
	cfg := idp.Config()
	cfg.Issuers = []auth.Issuer{idp.TrustIntrospecting()}
	cfg.IntrospectionCacheTTL = auth.DefaultIntrospectionCacheTTL
	v, err := auth.NewVerifier(cfg, authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	active := idp.OpaqueToken(t, authtest.Claims{Subject: "alice"})
	for range 2 {
		if _, err := v.Verify(t.Context(), active); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Verify(t.Context(), idp.OpaqueToken(t, authtest.Claims{Subject: "alice", Extra: map[string]any{"active": false}})); err == nil {
		t.Fatal("an inactive token was accepted")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(introspectionCollector{v})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					name += "/" + l.GetValue()
				}
			}
			switch {
			case m.GetCounter() != nil:
				got[name] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				got[name] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"orders_introspection_calls_total/active":   1,
		"orders_introspection_calls_total/inactive": 1,
		"orders_introspection_calls_total/refused":  0,
		"orders_introspection_calls_total/error":    0,
		"orders_introspection_cache_hits_total":     1,
		"orders_introspection_busy_total":           0,
		"orders_introspection_duration_seconds":     2,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %v; want %v (all: %v)", name, got[name], w, got)
		}
	}
}
