package dpop

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// MinNonceSecretLength is the shortest secret Nonces accepts, in bytes.
const MinNonceSecretLength = 32

// Nonces makes and checks server nonces (RFC 9449, section 9): the HMAC of
// a time window's number under a secret, so that no nonce is stored. A
// nonce is accepted during its window and the next one, so it lives at
// least one window and at most two. Servers that share the secret accept
// each other's nonces; with a random secret, each server only its own. It
// is safe for concurrent use.
type Nonces struct {
	secret []byte
	window time.Duration
	now    func() time.Time
}

// NewNonces returns nonces that rotate every window, under secret (nil
// means a random one, held in this process's memory only), telling the time
// with now (nil means time.Now).
func NewNonces(secret []byte, window time.Duration, now func() time.Time) (*Nonces, error) {
	if window <= 0 {
		return nil, errors.New("dpop nonce window must be more than 0s")
	}
	if secret == nil {
		secret = make([]byte, MinNonceSecretLength)
		_, _ = rand.Read(secret) // crypto/rand.Read never fails
	}
	if len(secret) < MinNonceSecretLength {
		return nil, errors.New("dpop nonce secret must be at least 32 bytes")
	}
	if now == nil {
		now = time.Now
	}
	return &Nonces{secret: secret, window: window, now: now}, nil
}

// Current is the nonce of the present window, which clients must put in
// their proofs' nonce claim.
func (n *Nonces) Current() string {
	return n.of(n.index())
}

// Valid reports whether nonce is that of the present window or of the one
// before.
func (n *Nonces) Valid(nonce string) bool {
	i := n.index()
	return hmac.Equal([]byte(nonce), []byte(n.of(i))) || hmac.Equal([]byte(nonce), []byte(n.of(i-1)))
}

// index is the number of the present window.
func (n *Nonces) index() int64 {
	return n.now().UnixNano() / int64(n.window)
}

// of is the nonce of window i.
func (n *Nonces) of(i int64) string {
	mac := hmac.New(sha256.New, n.secret)
	_ = binary.Write(mac, binary.BigEndian, i) // a hash never fails to write
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
