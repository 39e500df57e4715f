package jwe

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/coffeemesh/orders/auth/internal/jsonobject"
	"github.com/coffeemesh/orders/auth/internal/pemkey"
)

// Bounds of a decryption key.
const (
	// MinRSABits is the smallest RSA key accepted (RFC 7518, section 4.3,
	// asks for 2048 bits or more).
	MinRSABits = 2048
	// MaxRSABits is the largest: its encrypted key fits maxEncryptedKey.
	// Larger keys are refused for what they cost: a decryption with an
	// 8192-bit key takes some 20 times that with a 4096-bit one, and
	// anyone can make the API attempt one (docs/performance.md).
	MaxRSABits = 4096
)

// Keys are the API's private decryption keys. They are never changed after
// ParseKeys, so Keys is safe for concurrent use.
type Keys struct {
	keys []key
}

// key is one private key: its kid ("" for none, as PEM keys have), the
// alg its JWK pins ("" for any that fits), and the key, an *rsa.PrivateKey
// or an *ecdsa.PrivateKey.
type key struct {
	kid     string
	alg     string
	private any
}

// Len is the number of keys.
func (k *Keys) Len() int { return len(k.keys) }

// KIDs lists the keys' kids, "" for a key without one, for the log.
func (k *Keys) KIDs() []string {
	out := make([]string, len(k.keys))
	for i, ky := range k.keys {
		out[i] = ky.kid
	}
	return out
}

// ParseKeys reads the private keys of b: PEM blocks (PKCS#8 "PRIVATE KEY",
// PKCS#1 "RSA PRIVATE KEY", SEC1 "EC PRIVATE KEY"; "EC PARAMETERS" and
// "CERTIFICATE" blocks are skipped), or a JWK set (or a single JWK). It
// refuses what cannot decrypt tokens safely: public keys, symmetric keys,
// RSA keys below MinRSABits or above MaxRSABits, curves other than P-256,
// P-384 and P-521, JWKs whose use or alg says they are for something else,
// and two keys with the same kid. Its errors never quote key material.
func ParseKeys(b []byte) (*Keys, error) {
	b = bytes.TrimSpace(b)
	var (
		keys []key
		err  error
	)
	switch {
	case bytes.HasPrefix(b, []byte("{")):
		keys, err = parseJWKs(b)
	case bytes.HasPrefix(b, []byte("-----BEGIN ")):
		keys, err = parsePEM(b)
	default:
		return nil, errors.New("holds neither PEM private keys nor a JWK set")
	}
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("holds no private key")
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if k.kid != "" && seen[k.kid] {
			return nil, fmt.Errorf("holds two keys with kid %q", k.kid)
		}
		seen[k.kid] = true
	}
	return &Keys{keys: keys}, nil
}

// parsePEM reads every private key block of b.
func parsePEM(b []byte) ([]key, error) {
	var keys []key
	for n := 1; ; n++ {
		block, rest := pem.Decode(b)
		if block == nil {
			if len(bytes.TrimSpace(b)) > 0 {
				return nil, fmt.Errorf("PEM block %d does not decode", n)
			}
			return keys, nil
		}
		b = rest
		if block.Type == "EC PARAMETERS" || block.Type == "CERTIFICATE" {
			continue
		}
		private, err := pemkey.Parse(block)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d %w", n, err)
		}
		if err := checkKey(private); err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		keys = append(keys, key{private: private})
	}
}

// parseJWKs reads a JWK set, or a single JWK, strictly: a member may appear
// only once in any object.
func parseJWKs(b []byte) ([]key, error) {
	members, err := jsonobject.Members(b)
	if err != nil {
		return nil, errors.New("is not a UTF-8 JSON object with each member once")
	}
	list := []json.RawMessage{b}
	if raw, ok := members["keys"]; ok {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, errors.New("is not a JWK set: keys is not an array")
		}
	}
	keys := make([]key, 0, len(list))
	for i, raw := range list {
		k, err := parseJWK(raw)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// parseJWK reads one private JWK meant for decryption.
func parseJWK(raw json.RawMessage) (key, error) {
	var members struct {
		Use    string   `json:"use"`
		KeyOps []string `json:"key_ops"`
	}
	if err := json.Unmarshal(raw, &members); err != nil {
		return key{}, errors.New("use must be a string and key_ops an array of strings")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return key{}, fmt.Errorf("is not a usable JWK: %w", err)
	}
	switch {
	case jwk.IsPublic():
		return key{}, errors.New("is a public key; the API needs its private key (d)")
	case members.Use != "" && members.Use != "enc":
		return key{}, fmt.Errorf("has use %q; a decryption key has use enc", members.Use)
	case members.KeyOps != nil && !slices.Contains(members.KeyOps, "decrypt") && !slices.Contains(members.KeyOps, "unwrapKey") && !slices.Contains(members.KeyOps, "deriveKey"):
		return key{}, errors.New("has key_ops without decrypt, unwrapKey or deriveKey")
	}
	if err := checkKey(jwk.Key); err != nil {
		return key{}, err
	}
	if jwk.Algorithm != "" && !fits(jwk.Key, jwk.Algorithm) {
		return key{}, fmt.Errorf("has alg %q, which is not an accepted key management algorithm for its key type (%s)", jwk.Algorithm, strings.Join(KeyAlgorithms(), ", "))
	}
	return key{kid: jwk.KeyID, alg: jwk.Algorithm, private: jwk.Key}, nil
}

// checkKey refuses a key that is not a strong RSA or EC private key.
func checkKey(private any) error {
	switch k := private.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return fmt.Errorf("is an RSA key of %d bits; use %d to %d bits", bits, MinRSABits, MaxRSABits)
		}
		return k.Validate()
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("is an EC key on %s; use P-256, P-384 or P-521", k.Curve.Params().Name)
	case []byte:
		return errors.New("is a symmetric key, which the issuer would share (dir, AES key wrap); use an RSA or EC key pair")
	}
	return fmt.Errorf("is a %T; decryption keys are RSA or EC (P-256, P-384, P-521) private keys", private)
}

// fits reports whether private may decrypt with the key management
// algorithm alg, one of KeyAlgorithms().
func fits(private any, alg string) bool {
	switch private.(type) {
	case *rsa.PrivateKey:
		return alg == "RSA-OAEP" || alg == "RSA-OAEP-256"
	case *ecdsa.PrivateKey:
		return alg == "ECDH-ES" || alg == "ECDH-ES+A128KW" || alg == "ECDH-ES+A256KW"
	}
	return false
}
