package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"filippo.io/edwards25519"
	"github.com/MicahParks/jwkset"
)

// minRSABits is the smallest RSA modulus trusted (RFC 7518, section 3.3).
const minRSABits = 2048

// Key is a public key of the issuer's JWKS with what it may verify.
type Key struct {
	// KID is the JWK's kid, "" when it names none.
	KID string
	// Alg is the JWK's alg, or "" when it names none.
	Alg string
	// Public is an *rsa.PublicKey, an *ecdsa.PublicKey or an
	// ed25519.PublicKey.
	Public crypto.PublicKey
	// Fingerprint identifies the key across fetches: its issuer, kid and
	// the hash of its public key.
	Fingerprint string
}

// Fits reports whether k may verify a signature made with alg: the key type
// must be the algorithm's, and a JWK that names its alg is used with that
// algorithm only.
func (k Key) Fits(alg string) bool {
	if k.Alg != "" && k.Alg != alg {
		return false
	}
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		return want != nil && pub.Curve == want
	case ed25519.PublicKey:
		return alg == "EdDSA" || alg == "Ed25519" // RFC 9864's name for it
	}
	return false
}

// Query is what a token asks of its issuer's keys: its kid (HasKID false
// when it names none) and its alg.
type Query struct {
	KID    string
	HasKID bool
	Alg    string
}

// Candidates returns the keys that may verify a token asking q, and whether
// any key has its kid.
func (q Query) Candidates(keys []Key) (out []Key, kidFound bool) {
	for _, k := range keys {
		if q.HasKID && k.KID != q.KID {
			continue
		}
		kidFound = true
		if k.Fits(q.Alg) {
			out = append(out, k)
		}
	}
	return out, kidFound
}

// Refused is a JWK of a set that ParseSet left out, and why.
type Refused struct {
	// KID is the key's kid, as far as it could be read.
	KID string
	Err error
}

// ParseSet reads a JWKS document of issuer and returns the keys that may
// verify signatures, each with its fingerprint, and those it left out
// because they cannot or must not verify (see ParseKey); the others stay
// usable. A set with no usable key is an error.
func ParseSet(issuer string, body []byte) ([]Key, []Refused, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, nil, fmt.Errorf("decode jwks: %w", err)
	}
	keys := make([]Key, 0, len(set.Keys))
	var refused []Refused
	for _, raw := range set.Keys {
		k, err := ParseKey(raw)
		if err != nil {
			var named struct {
				KID string `json:"kid"`
			}
			_ = json.Unmarshal(raw, &named) // the kid only names the key in the log
			refused = append(refused, Refused{KID: named.KID, Err: err})
			continue
		}
		k.Fingerprint = fingerprint(issuer, k.KID, k.Public)
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, refused, errors.New("the jwks holds no usable signing key")
	}
	return keys, refused, nil
}

// ErrWeakKey means a JWK is a public key under which others could forge
// signatures, or that no honest issuer publishes (see ParseKey).
var ErrWeakKey = errors.New("the key is weak")

// Other reasons a JWK is not used.
var (
	errNotForSignatures = errors.New("the key is not for verifying signatures")
	errPrivate          = errors.New("the key holds private or symmetric key material")
	errKeyType          = errors.New("the key's type is not RSA, EC or OKP Ed25519")
)

// ParseKey turns one JWK into a verification key, or says why it cannot or
// must not verify signatures: unparsable, symmetric, holding private
// material (a published private key is a leaked one), meant for encryption,
// of a type we do not know, or weak (see checkStrength). No URL in the key
// is ever followed.
func ParseKey(raw json.RawMessage) (Key, error) {
	var m jwkset.JWKMarshal
	if err := json.Unmarshal(raw, &m); err != nil {
		return Key{}, fmt.Errorf("decode jwk: %w", err)
	}
	if m.USE != "" && m.USE != jwkset.UseSig {
		return Key{}, errNotForSignatures
	}
	if len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify) {
		return Key{}, errNotForSignatures
	}
	if m.D != "" || m.P != "" || m.Q != "" || m.DP != "" || m.DQ != "" || m.QI != "" || len(m.OTH) > 0 || m.K != "" {
		return Key{}, errPrivate
	}
	m.X5U = ""
	jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
	if err != nil {
		return Key{}, fmt.Errorf("read jwk: %w", err)
	}
	k := Key{KID: m.KID, Alg: string(m.ALG), Public: jwk.Key()}
	if err := checkStrength(k.Public); err != nil {
		return Key{}, err
	}
	return k, nil
}

// checkStrength refuses public keys that no honest issuer publishes and that
// would let others forge signatures: RSA under minRSABits, with an exponent
// that is even or below 3, or with the ROCA fingerprint (CVE-2017-15361,
// whose private keys can be computed from the public ones); EC points off
// their curve; Ed25519 keys of small order, under which one signature
// verifies for many messages (for the identity point, every message).
func checkStrength(pub crypto.PublicKey) error {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		switch {
		case pub.N.BitLen() < minRSABits:
			return fmt.Errorf("%w: an RSA modulus of %d bits, under %d", ErrWeakKey, pub.N.BitLen(), minRSABits)
		case pub.E < 3 || pub.E%2 == 0:
			return fmt.Errorf("%w: RSA exponent %d", ErrWeakKey, pub.E)
		case rocaFingerprint(pub.N):
			return fmt.Errorf("%w: an RSA modulus with the ROCA fingerprint (CVE-2017-15361)", ErrWeakKey)
		}
		return nil
	case *ecdsa.PublicKey:
		if _, err := pub.ECDH(); err != nil {
			return fmt.Errorf("%w: an EC point off its curve", ErrWeakKey)
		}
		return nil
	case ed25519.PublicKey:
		return checkEd25519(pub)
	}
	return errKeyType
}

// checkEd25519 refuses an Ed25519 public key that is not a point of the
// curve or whose order is small (a multiple of it by the cofactor 8 is the
// identity). Non-canonical encodings of such points are caught too.
func checkEd25519(pub ed25519.PublicKey) error {
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return fmt.Errorf("%w: not an Ed25519 point", ErrWeakKey)
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return fmt.Errorf("%w: an Ed25519 point of small order", ErrWeakKey)
	}
	return nil
}

// rocaPrimes are the small primes of the ROCA fingerprint test (Nemec et
// al., "The Return of Coppersmith's Attack", CCS 2017).
var rocaPrimes = []int64{3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73,
	79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167}

// rocaFingerprint reports whether n has the structure of the moduli that
// Infineon's RSALib made: their primes are k*M + (65537^a mod M), so n
// modulo each small prime p lies in the subgroup that 65537 generates
// modulo p. A random modulus does so for all of rocaPrimes with negligible
// probability.
func rocaFingerprint(n *big.Int) bool {
	var r, p big.Int
	for _, prime := range rocaPrimes {
		p.SetInt64(prime)
		residue := r.Mod(n, &p).Int64()
		if !inSubgroupOf65537(residue, prime) {
			return false
		}
	}
	return true
}

// inSubgroupOf65537 reports whether x is a power of 65537 modulo prime.
func inSubgroupOf65537(x, prime int64) bool {
	g := 65537 % prime
	for y := int64(1); ; {
		if y == x {
			return true
		}
		if y = y * g % prime; y == 1 {
			return false
		}
	}
}

// fingerprint identifies a public key of an issuer across fetches.
func fingerprint(issuer, kid string, key any) string {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return issuer + " " + kid
	}
	sum := sha256.Sum256(der)
	return issuer + " " + kid + " " + hex.EncodeToString(sum[:8])
}
