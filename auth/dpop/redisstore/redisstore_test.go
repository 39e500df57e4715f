package redisstore_test

import (
	"crypto/rand"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/auth/dpop/redisstore"
)

// testRedisURL is the Redis the tests use: ORDERS_TEST_REDIS_URL, else the
// machine's own.
func testRedisURL() string {
	if u := os.Getenv("ORDERS_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// open returns a store on the test Redis, skipping the test if there is
// none, except under CI=true, where it fails.
func open(t *testing.T) *redisstore.Store {
	t.Helper()
	store, client, err := redisstore.Open(testRedisURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if err := client.Ping(t.Context()).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s: %v (CI=true: Redis tests must run)", testRedisURL(), err)
		}
		t.Skipf("Redis not reachable at %s (%v); set ORDERS_TEST_REDIS_URL to run these tests", testRedisURL(), err)
	}
	return store
}

// TestStore: two stores on one Redis, as two replicas have, each refuse an
// id the other recorded; an id whose time has passed may be used again.
func TestStore(t *testing.T) {
	t.Parallel()
	one, other := open(t), open(t)
	id, short := rand.Text(), rand.Text()
	if err := one.Use(t.Context(), id, time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := other.Use(t.Context(), id, time.Now().Add(time.Minute)); !errors.Is(err, dpop.ErrReplay) {
		t.Errorf("the other replica took a used id: %v; want dpop.ErrReplay", err)
	}
	if err := one.Use(t.Context(), short, time.Now().Add(-time.Second)); err != nil {
		t.Fatalf("use of an expired id: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for err := other.Use(t.Context(), short, time.Now().Add(time.Minute)); err != nil; err = other.Use(t.Context(), short, time.Now().Add(time.Minute)) {
		if !errors.Is(err, dpop.ErrReplay) || time.Now().After(deadline) {
			t.Fatalf("an expired id is still refused after 5s: %v", err)
		}
	}
}

// TestStoreDown: a Redis that does not answer is dpop.ErrStoreFault, never
// taken for a new proof.
func TestStoreDown(t *testing.T) {
	t.Parallel()
	store, client, err := redisstore.Open("redis://127.0.0.1:1/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if err := store.Use(t.Context(), "id", time.Now().Add(time.Minute)); !errors.Is(err, dpop.ErrStoreFault) {
		t.Errorf("Use on a Redis that is down: %v; want dpop.ErrStoreFault", err)
	}
}

// TestOpenRefusesABadURL: the URL is checked at start.
func TestOpenRefusesABadURL(t *testing.T) {
	t.Parallel()
	if _, _, err := redisstore.Open("http://127.0.0.1:6379"); err == nil {
		t.Error("Open of an http URL: no error")
	}
}

// BenchmarkStore measures one Use of a new id on Redis: the cost a DPoP
// request pays for the replay store shared by replicas.
func BenchmarkStore(b *testing.B) {
	store, client, err := redisstore.Open(testRedisURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	prefix := rand.Text()
	expires := time.Now().Add(time.Minute)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := store.Use(b.Context(), prefix+strconv.Itoa(i), expires); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStoreSilent: a Redis that accepts connections and never answers is
// dpop.ErrStoreFault within a few timeouts, not a request held for long.
func TestStoreSilent(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var held []net.Conn // open and silent until the listener closes
		for {
			conn, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, conn)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	store, client, err := redisstore.Open("redis://" + ln.Addr().String() + "/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	start := time.Now()
	err = store.Use(t.Context(), "id", time.Now().Add(time.Minute))
	if !errors.Is(err, dpop.ErrStoreFault) || time.Since(start) > 4*redisstore.IOTimeout+redisstore.DialTimeout {
		t.Errorf("Use on a silent Redis: %v after %s; want dpop.ErrStoreFault within a few timeouts", err, time.Since(start))
	}
}
