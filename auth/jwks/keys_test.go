package jwks_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"testing"

	"github.com/coffeemesh/orders/auth/jwks"
)

var b64 = base64.RawURLEncoding

// rsaJWK is the JWK of an RSA public key with modulus n and exponent e.
func rsaJWK(kid string, n *big.Int, e int) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"kty": "RSA", "kid": kid, "alg": "RS256", "n": b64.EncodeToString(n.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(e)).Bytes())})
	return b
}

func ed25519JWK(x []byte) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64.EncodeToString(x)})
	return b
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// rocaPrime returns a prime of the form k*M + 65537^a mod M, where M is the
// product of the primes up to 167: the structure of the primes of
// Infineon's RSALib (CVE-2017-15361), whose products the ROCA test finds.
func rocaPrime(tb testing.TB, bits int) *big.Int {
	tb.Helper()
	m := big.NewInt(1)
	for p := int64(2); p <= 167; p++ {
		if big.NewInt(p).ProbablyPrime(0) {
			m.Mul(m, big.NewInt(p))
		}
	}
	for {
		a, _ := rand.Int(rand.Reader, big.NewInt(1<<20))
		k, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits-m.BitLen())))
		p := new(big.Int).Exp(big.NewInt(65537), a, m)
		p.Add(p, k.Mul(k, m))
		if p.BitLen() == bits && p.ProbablyPrime(20) {
			return p
		}
	}
}

// TestParseKeyRefusesWeakKeys: keys under which signatures can be forged,
// or that no issuer should publish, are refused one by one.
func TestParseKeyRefusesWeakKeys(t *testing.T) {
	t.Parallel()
	good, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	roca := new(big.Int).Mul(rocaPrime(t, 1024), rocaPrime(t, 1024))
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecJWK := func(x, y []byte, extra map[string]any) json.RawMessage {
		m := map[string]any{"kty": "EC", "crv": "P-256", "kid": "ec", "x": b64.EncodeToString(x), "y": b64.EncodeToString(y)}
		for k, v := range extra {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	point, err := ec.PublicKey.Bytes() // 04 || x || y
	if err != nil {
		t.Fatal(err)
	}
	scalar, err := ec.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	xb, yb := point[1:33], point[33:]
	offCurve := append([]byte(nil), yb...)
	offCurve[31] ^= 1
	// want is nil for a key that is used, ErrWeakKey for a weak one,
	// errRefused for one refused for another reason, and errAny for one
	// refused for either (jwkset itself refuses EC points off their curve;
	// TestCheckStrength checks our own refusal of them).
	errRefused, errAny := errors.New("refused, not as weak"), errors.New("refused")
	tests := []struct {
		name string
		jwk  json.RawMessage
		want error
	}{
		{"RSA 2048", rsaJWK("rsa", good.N, 65537), nil},
		{"EC P-256", ecJWK(xb, yb, nil), nil},
		{"Ed25519", ed25519JWK(edPub), nil},
		{"RSA 1024", rsaJWK("rsa", small.N, 65537), jwks.ErrWeakKey},
		{"RSA exponent 1", rsaJWK("rsa", good.N, 1), errAny},
		{"RSA exponent 3 (small, but not weak)", rsaJWK("rsa", good.N, 3), nil},
		{"RSA even exponent", rsaJWK("rsa", good.N, 65536), jwks.ErrWeakKey},
		{"RSA with the ROCA fingerprint", rsaJWK("rsa", roca, 65537), jwks.ErrWeakKey},
		{"EC point off the curve", ecJWK(xb, offCurve, nil), errAny},
		{"EC key with its private part", ecJWK(xb, yb, map[string]any{"d": b64.EncodeToString(scalar)}), errRefused},
		{"EC key for encryption", ecJWK(xb, yb, map[string]any{"use": "enc"}), errRefused},
		{"Ed25519 identity (order 1)", ed25519JWK(mustHex(t, "0100000000000000000000000000000000000000000000000000000000000000")), jwks.ErrWeakKey},
		{"Ed25519 identity, non-canonical y = p + 1", ed25519JWK(mustHex(t, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")), jwks.ErrWeakKey},
		{"Ed25519 point of order 2", ed25519JWK(mustHex(t, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")), jwks.ErrWeakKey},
		{"Ed25519 point of order 4", ed25519JWK(mustHex(t, "0000000000000000000000000000000000000000000000000000000000000000")), jwks.ErrWeakKey},
		{"Ed25519 point of order 4, other sign", ed25519JWK(mustHex(t, "0000000000000000000000000000000000000000000000000000000000000080")), jwks.ErrWeakKey},
		{"Ed25519 point of order 4, non-canonical y = p", ed25519JWK(mustHex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")), jwks.ErrWeakKey},
		{"Ed25519 point of order 8", ed25519JWK(mustHex(t, "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")), jwks.ErrWeakKey},
		{"Ed25519 point of order 8, other sign", ed25519JWK(mustHex(t, "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85")), jwks.ErrWeakKey},
		{"Ed25519 point of order 8, another", ed25519JWK(mustHex(t, "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")), jwks.ErrWeakKey},
		{"Ed25519 point of order 8, another, other sign", ed25519JWK(mustHex(t, "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa")), jwks.ErrWeakKey},
		{"Ed25519 not a point", ed25519JWK(mustHex(t, "0200000000000000000000000000000000000000000000000000000000000000")), jwks.ErrWeakKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := jwks.ParseKey(tt.jwk)
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("ParseKey = %v; want the key used", err)
			case tt.want == jwks.ErrWeakKey && !errors.Is(err, jwks.ErrWeakKey):
				t.Errorf("ParseKey = %v; want ErrWeakKey", err)
			case tt.want == errRefused && (err == nil || errors.Is(err, jwks.ErrWeakKey)):
				t.Errorf("ParseKey = %v; want it refused, not as weak", err)
			case tt.want == errAny && err == nil:
				t.Errorf("ParseKey = %v; want it refused", err)
			}
		})
	}
}

// TestIdentityPointForgesEverything is the premise of refusing small-order
// Ed25519 keys: under the identity point, one signature verifies any
// message.
func TestIdentityPointForgesEverything(t *testing.T) {
	t.Parallel()
	identity := make(ed25519.PublicKey, 32)
	identity[0] = 1
	sig := make([]byte, 64)
	sig[0] = 1
	for _, msg := range []string{"", "any message", `{"sub":"mallory"}`} {
		if !ed25519.Verify(identity, []byte(msg), sig) {
			t.Errorf("the forged signature does not verify %q; the premise no longer holds", msg)
		}
	}
}

// TestParseSetKeepsTheGoodKeys: weak keys leave a set, the others stay.
func TestParseSetKeepsTheGoodKeys(t *testing.T) {
	t.Parallel()
	good, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	identity := make([]byte, 32)
	identity[0] = 1
	set, _ := json.Marshal(map[string]any{"keys": []json.RawMessage{ed25519JWK(identity), rsaJWK("weak", good.N, 1), json.RawMessage(`"junk"`), rsaJWK("good", good.N, 65537)}})
	keys, refused, err := jwks.ParseSet("https://issuer.test", set)
	if err != nil || len(keys) != 1 || keys[0].KID != "good" {
		t.Errorf("ParseSet = %+v, %v; want the good key alone", keys, err)
	}
	if len(refused) != 3 || refused[0].KID != "ed" || !errors.Is(refused[0].Err, jwks.ErrWeakKey) || refused[1].KID != "weak" {
		t.Errorf("refused = %+v; want the identity point (weak), the exponent of 1 and the junk", refused)
	}
	if _, _, err := jwks.ParseSet("https://issuer.test", []byte(`{"keys":[`+string(ed25519JWK(identity))+`]}`)); err == nil {
		t.Error("a set of weak keys alone parsed; want an error")
	}
}

// FuzzParseKey feeds arbitrary JWKs to the parser of the issuer's keys: it
// never panics, and a key it accepts is a public key of a type Fits knows.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		`{"kty":"RSA","n":"AQAB","e":"AQAB"}`,
		`{"kty":"EC","crv":"P-256","x":"","y":""}`,
		`{"kty":"OKP","crv":"Ed25519","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"kty":"oct","k":"c2VjcmV0"}`,
		`{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB","x5u":"https://evil.example/x"}`,
		`[]`, `null`, `{"keys":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := jwks.ParseKey(b)
		if err != nil {
			return
		}
		switch k.Public.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			t.Fatalf("ParseKey(%q) accepted a %T", b, k.Public)
		}
	})
}
