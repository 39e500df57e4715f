package auth

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/jwks"
)

// TestPutRacingASweepLeavesNoEntry: a refresh that removes a key right
// after a put checked that key is held must still sweep the entry the put
// adds. The check starts that sweep and gives it time to run to its end
// first, as it would without the put's lock; with it, the sweep waits and
// removes the entry.
func TestPutRacingASweepLeavesNoEntry(t *testing.T) {
	t.Parallel()
	tc := newTokenCache(10, time.Minute, 0, time.Now)
	c := &claims{expiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}
	swept := make(chan struct{})
	tc.put("token", Principal{Subject: "alice"}, c, []jwks.Key{{Fingerprint: "old"}}, func() bool {
		go func() {
			tc.dropUnless([]string{"new"})
			close(swept)
		}()
		select {
		case <-swept:
		case <-time.After(50 * time.Millisecond):
		}
		return true
	})
	<-swept
	if _, ok := tc.get("token"); ok {
		t.Error("a token verified by a removed key is still cached after the sweep")
	}
}
