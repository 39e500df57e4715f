package jwks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"math/big"
	"testing"
)

// TestCheckStrength refuses an EC point off its curve by itself, whatever
// the JWK library in front of it checks.
func TestCheckStrength(t *testing.T) {
	t.Parallel()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, err := k.PublicKey.Bytes() // 04 || x || y
	if err != nil {
		t.Fatal(err)
	}
	if err := checkStrength(&k.PublicKey); err != nil {
		t.Fatalf("a P-256 key: %v; want it used", err)
	}
	x, y := new(big.Int).SetBytes(point[1:33]), new(big.Int).SetBytes(point[33:])
	//lint:ignore SA1019 a point off its curve can only be made from raw coordinates, as a JWK library does
	off := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y.Add(y, big.NewInt(1))}
	if err := checkStrength(off); !errors.Is(err, ErrWeakKey) {
		t.Errorf("a point off P-256: %v; want ErrWeakKey", err)
	}
}
