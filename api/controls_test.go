package api

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/coffeemesh/orders/models"
)

// FuzzIdempotencyKey: a key accepted is 1 to 255 visible ASCII
// characters, whatever the header held.
func FuzzIdempotencyKey(f *testing.F) {
	for _, s := range []string{"", "k", `"k"`, `""`, `"a"b"`, `"\"`, "a b", "clé", strings.Repeat("k", 256), `"` + strings.Repeat("k", 255) + `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		key, err := idempotencyKey(http.Header{"Idempotency-Key": {v}})
		if err != nil {
			return
		}
		if len(key) < 1 || len(key) > maxIdempotencyKey {
			t.Fatalf("idempotencyKey(%q) = %q, %d characters", v, key, len(key))
		}
		for i := range len(key) {
			if key[i] < 0x21 || key[i] > 0x7e {
				t.Fatalf("idempotencyKey(%q) = %q, with byte %#x", v, key, key[i])
			}
		}
	})
}

// FuzzStrongVersion: only a quoted positive decimal, as this API writes
// it, is read as a version, and it is read back as written.
func FuzzStrongVersion(f *testing.F) {
	for _, s := range []string{`"1"`, `W/"1"`, `"0"`, `"01"`, `"+1"`, `"-1"`, `"9223372036854775808"`, `"abc"`, `*`, `""`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		v, ok := strongVersion(tag)
		if !ok {
			return
		}
		if v < 1 || etag(models.Order{Version: v}) != tag {
			t.Fatalf("strongVersion(%q) = %d; the ETag of that version is %s", tag, v, etag(models.Order{Version: v}))
		}
	})
}

// TestClientAddr: X-Forwarded-For names the client only when the peer is a
// trusted proxy, and then its rightmost untrusted entry does.
func TestClientAddr(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tt := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"direct", "198.51.100.1:5000", nil, "198.51.100.1"},
		{"forged by an untrusted peer", "198.51.100.1:5000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"one trusted proxy", "10.0.0.2:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"forged entry left of the proxy's", "10.0.0.2:5000", []string{"192.0.2.66, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted proxies, two headers", "10.0.0.2:5000", []string{"203.0.113.9", "10.0.0.3"}, "203.0.113.9"},
		{"only trusted proxies", "10.0.0.2:5000", []string{"10.0.0.4"}, "10.0.0.4"},
		{"garbage stops the walk", "10.0.0.2:5000", []string{"203.0.113.9, nonsense, 10.0.0.3"}, "10.0.0.3"},
		{"no header from a proxy", "10.0.0.2:5000", nil, "10.0.0.2"},
		{"IPv4 in IPv6", "[::ffff:198.51.100.1]:5000", nil, "198.51.100.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, trusted).String(); got != tt.want {
				t.Errorf("clientAddr = %s; want %s", got, tt.want)
			}
		})
	}
}
