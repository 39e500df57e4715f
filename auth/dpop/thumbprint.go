package dpop

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
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
