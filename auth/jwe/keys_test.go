package jwe_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/coffeemesh/orders/auth/jwe"
)

// newRSA and newEC generate keys, failing the test on error.
func newRSA(tb testing.TB, bits int) *rsa.PrivateKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func newEC(tb testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// pemOf encodes one PEM block.
func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// pkcs8 encodes k as a PKCS#8 PEM block.
func pkcs8(tb testing.TB, k any) string {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return pemOf("PRIVATE KEY", der)
}

// marshal encodes v as JSON.
func marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// jwkJSON encodes k as a JWK, with members added or replaced by extra.
func jwkJSON(tb testing.TB, k jose.JSONWebKey, extra map[string]any) string {
	tb.Helper()
	var m map[string]any
	b := marshal(tb, k)
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	for name, v := range extra {
		m[name] = v
	}
	return string(marshal(tb, m))
}

// TestParseKeys: the key files an operator may give, and the kids read
// from them.
func TestParseKeys(t *testing.T) {
	t.Parallel()
	rsaKey := newRSA(t, 2048)
	ecKey := newEC(t, elliptic.P384())
	pkcs8Key := pkcs8(t, rsaKey)
	pkcs1 := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
	der, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	sec1 := pemOf("EC PARAMETERS", []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}) + pemOf("EC PRIVATE KEY", der)
	rsaJWK := jwkJSON(t, jose.JSONWebKey{Key: rsaKey, KeyID: "r", Use: "enc", Algorithm: "RSA-OAEP-256"}, nil)
	ecJWK := jwkJSON(t, jose.JSONWebKey{Key: ecKey, KeyID: "e"}, nil)
	tests := []struct {
		name string
		file string
		kids []string
	}{
		{"PKCS#8", pkcs8Key, []string{""}},
		{"PKCS#1", pkcs1, []string{""}},
		{"SEC1 after EC PARAMETERS", sec1, []string{""}},
		{"several PEM blocks, certificates skipped", pkcs1 + pemOf("CERTIFICATE", []byte{1}) + sec1, []string{"", ""}},
		{"JWK set", `{"keys":[` + rsaJWK + `,` + ecJWK + `]}`, []string{"r", "e"}},
		{"one JWK", ecJWK, []string{"e"}},
		{"key_ops naming decryption", jwkJSON(t, jose.JSONWebKey{Key: ecKey}, map[string]any{"key_ops": []string{"deriveKey"}}), []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keys, err := jwe.ParseKeys([]byte(tt.file))
			if err != nil {
				t.Fatalf("ParseKeys: %v", err)
			}
			if got := keys.KIDs(); strings.Join(got, ",") != strings.Join(tt.kids, ",") {
				t.Errorf("kids = %q; want %q", got, tt.kids)
			}
		})
	}
}

// TestParseKeysRefuses: weak, public, symmetric, mislabelled and
// ambiguous keys are refused, each with an error that says why and never
// quotes the key.
func TestParseKeysRefuses(t *testing.T) {
	t.Parallel()
	weak := newRSA(t, 1024)
	ecKey := newEC(t, elliptic.P256())
	p224 := newEC(t, elliptic.P224())
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecJWK := func(extra map[string]any) string {
		return jwkJSON(t, jose.JSONWebKey{Key: ecKey, KeyID: "e"}, extra)
	}
	tests := []struct {
		name, file, want string
	}{
		{"empty file", "", "neither PEM"},
		{"garbage", "not a key", "neither PEM"},
		{"RSA of 1024 bits", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(weak)), "1024 bits"},
		{"RSA of 4160 bits", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(newRSA(t, 4160))), "4160 bits"},
		{"P-224", pkcs8(t, p224), "P-224"},
		{"Ed25519", pkcs8(t, edKey), "ed25519"},
		{"public key PEM", pemOf("PUBLIC KEY", []byte{1}), "PUBLIC KEY, not a private key"},
		{"encrypted PEM", pemOf("ENCRYPTED PRIVATE KEY", []byte{1}), "encrypted"},
		{"broken PEM block", "-----BEGIN PRIVATE KEY-----\n!!!\n", "does not decode"},
		{"public JWK", jwkJSON(t, jose.JSONWebKey{Key: ecKey.Public(), KeyID: "e"}, nil), "public key"},
		{"symmetric JWK", `{"kty":"oct","k":"` + strings.Repeat("A", 43) + `"}`, "symmetric key"},
		{"use sig", ecJWK(map[string]any{"use": "sig"}), "use \"sig\""},
		{"key_ops for signing", ecJWK(map[string]any{"key_ops": []string{"sign"}}), "key_ops"},
		{"alg RSA1_5", jwkJSON(t, jose.JSONWebKey{Key: newRSA(t, 2048), Algorithm: "RSA1_5"}, nil), "alg \"RSA1_5\""},
		{"alg of another key type", ecJWK(map[string]any{"alg": "RSA-OAEP"}), "alg \"RSA-OAEP\""},
		{"duplicate kid", `{"keys":[` + ecJWK(nil) + `,` + ecJWK(nil) + `]}`, "two keys with kid \"e\""},
		{"duplicate member", `{"keys":[],"keys":[]}`, "each member once"},
		{"empty set", `{"keys":[]}`, "no private key"},
		{"only certificates", pemOf("CERTIFICATE", []byte{1}), "no private key"},
	}
	scalar, err := ecKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	d := base64.RawURLEncoding.EncodeToString(scalar) // as the JWK's d
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := jwe.ParseKeys([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseKeys = %v; want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), d) {
				t.Errorf("the error quotes the private key")
			}
		})
	}
}
