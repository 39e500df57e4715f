package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a public JWK,
// base64url-encoded: the hash of its required members, and only those, in
// lexicographic order without white space. The values are hashed as the
// JWK spells them, as the client that computed its token's cnf.jkt did.
func Thumbprint(jwk json.RawMessage) (string, error) {
	var k struct {
		Kty, Crv, X, Y, N, E string
	}
	m, err := members(jwk)
	if err != nil {
		return "", err
	}
	for name, dst := range map[string]*string{"kty": &k.Kty, "crv": &k.Crv, "x": &k.X, "y": &k.Y, "n": &k.N, "e": &k.E} {
		if v, ok := m[name]; ok && decodeString(v, dst) != nil {
			return "", errors.New("a JWK member is not a string")
		}
	}
	var canonical any
	switch {
	case k.Kty == "RSA" && k.N != "" && k.E != "":
		canonical = struct {
			E   string `json:"e"`
			Kty string `json:"kty"`
			N   string `json:"n"`
		}{k.E, k.Kty, k.N}
	case k.Kty == "EC" && k.Crv != "" && k.X != "" && k.Y != "":
		canonical = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
			Y   string `json:"y"`
		}{k.Crv, k.Kty, k.X, k.Y}
	case k.Kty == "OKP" && k.Crv != "" && k.X != "":
		canonical = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
		}{k.Crv, k.Kty, k.X}
	default:
		return "", errors.New("the JWK lacks a member its thumbprint needs")
	}
	b, err := json.Marshal(canonical)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// keyThumbprint returns the thumbprint of a proof's jwk raw, whose key pub
// is, once it has checked that raw's members, by their exact names, are
// the one encoding RFC 7518 (section 6) allows of pub: coordinates of the
// curve's full length, an RSA modulus and exponent without leading zeros.
// Without that, a JWK could carry the members of another key than the one
// it is parsed as, such as "x" for the thumbprint and "X" for a parser that
// matches names without case, and so borrow another key's thumbprint.
func keyThumbprint(raw json.RawMessage, pub crypto.PublicKey) (string, error) {
	want, err := canonicalMembers(pub)
	if err != nil {
		return "", err
	}
	m, err := members(raw)
	if err != nil {
		return "", err
	}
	for name, v := range want {
		var got string
		if decodeString(m[name], &got) != nil || got != v {
			return "", fmt.Errorf("the jwk's %q is not its key's one encoding", name)
		}
	}
	return Thumbprint(raw)
}

// canonicalMembers returns the members of pub's JWK that its thumbprint
// hashes, in the one encoding RFC 7518 allows.
func canonicalMembers(pub crypto.PublicKey) (map[string]string, error) {
	enc := base64.RawURLEncoding
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		crv := map[elliptic.Curve]string{elliptic.P256(): "P-256", elliptic.P384(): "P-384", elliptic.P521(): "P-521"}[pub.Curve]
		point, err := pub.Bytes()
		if err != nil || crv == "" {
			return nil, errors.New("an EC key of an unknown curve")
		}
		size := (len(point) - 1) / 2
		return map[string]string{"kty": "EC", "crv": crv, "x": enc.EncodeToString(point[1 : 1+size]), "y": enc.EncodeToString(point[1+size:])}, nil
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "n": enc.EncodeToString(pub.N.Bytes()), "e": enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}, nil
	case ed25519.PublicKey:
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "x": enc.EncodeToString(pub)}, nil
	}
	return nil, errors.New("a key of an unknown type")
}
