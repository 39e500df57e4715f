package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/coffeemesh/orders/auth/jwe"
)

// DecryptionKey is a private key of the API's that an issuer encrypts
// tokens to, made for one test.
type DecryptionKey struct {
	// KID names the key in its JWK and in the tokens encrypted to it; ""
	// for none.
	KID string
	// Private is an *rsa.PrivateKey or an *ecdsa.PrivateKey.
	Private crypto.Signer
}

// NewDecryptionKey generates a key: kty "RSA" (2048 bits) or "EC" (P-256).
func NewDecryptionKey(tb testing.TB, kid, kty string) DecryptionKey {
	tb.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kty {
	case "RSA":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EC":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		tb.Fatalf("no key type %q", kty)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return DecryptionKey{KID: kid, Private: k}
}

// JWK returns the private key as a JWK for encryption (use enc).
func (k DecryptionKey) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Private, KeyID: k.KID, Use: "enc"}
}

// PublicJWK returns the public key as a JWK, as the API's owner gives it
// to the issuer.
func (k DecryptionKey) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Private.Public(), KeyID: k.KID, Use: "enc"}
}

// WriteKeySet writes the keys as a private JWK set into a file of the test
// that only its owner may read, and returns its path.
func WriteKeySet(tb testing.TB, keys ...DecryptionKey) string {
	tb.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	b, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "decryption.jwks")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// KeySet returns the keys as the verifier's configuration holds them.
func KeySet(tb testing.TB, keys ...DecryptionKey) *jwe.Keys {
	tb.Helper()
	b, err := os.ReadFile(WriteKeySet(tb, keys...))
	if err != nil {
		tb.Fatal(err)
	}
	set, err := jwe.ParseKeys(b)
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

// Encryption says how Encrypt encrypts a token.
type Encryption struct {
	// Alg and Enc are the key management and content encryption
	// algorithms; empty means RSA-OAEP-256 (ECDH-ES for an EC key) and
	// A256GCM.
	Alg, Enc string
	// Key is the key encrypted to: the public key of To, unless set (for
	// dir, a shared key; for PBES2, a password).
	Key any
	// ContentType is cty; empty means "JWT", Omit leaves it out.
	ContentType string
	// Header adds protected header parameters, such as crit.
	Header map[string]any
	// Compress deflates the plaintext (zip DEF).
	Compress bool
}

// Encrypt encrypts plaintext, usually a signed token of the IdP's, to the
// key to as e says, with to's kid, and returns the compact JWE.
func Encrypt(tb testing.TB, plaintext string, to DecryptionKey, e Encryption) string {
	tb.Helper()
	if e.Alg == "" {
		e.Alg = "RSA-OAEP-256"
		if _, ok := to.Private.(*ecdsa.PrivateKey); ok {
			e.Alg = "ECDH-ES"
		}
	}
	if e.Enc == "" {
		e.Enc = "A256GCM"
	}
	if e.Key == nil {
		e.Key = to.Private.Public()
	}
	opts := &jose.EncrypterOptions{}
	switch e.ContentType {
	case "":
		opts = opts.WithContentType("JWT")
	case string(Omit):
	default:
		opts = opts.WithContentType(jose.ContentType(e.ContentType))
	}
	for k, v := range e.Header {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	if e.Compress {
		opts.Compression = jose.DEFLATE
	}
	enc, err := jose.NewEncrypter(jose.ContentEncryption(e.Enc), jose.Recipient{Algorithm: jose.KeyAlgorithm(e.Alg), Key: e.Key, KeyID: to.KID}, opts)
	if err != nil {
		tb.Fatalf("new encrypter: %v", err)
	}
	obj, err := enc.Encrypt([]byte(plaintext))
	if err != nil {
		tb.Fatalf("encrypt: %v", err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
