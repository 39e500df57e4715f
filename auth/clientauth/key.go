package clientauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/coffeemesh/orders/auth/internal/pemkey"
)

// minRSABits is the smallest RSA key that signs client assertions.
const minRSABits = 2048

// Key is the API's private key for private_key_jwt.
type Key struct {
	// Signer signs client assertions.
	Signer crypto.Signer
	// Alg is the JWS algorithm of Signer, such as ES256.
	Alg string
	// ID is the kid the issuer knows the key by; "" sends no kid.
	ID string
}

// ParseKey reads the API's private key for private_key_jwt from the first
// PEM block of pemBytes (PKCS #8, PKCS #1 or SEC 1). The algorithm follows
// from the key: RS256 (2048 bits or more), ES256, ES384, ES512 or EdDSA.
// kid is the key's id at the issuer, "" for none. Its errors never quote
// key material.
func ParseKey(pemBytes []byte, kid string) (*Key, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	key, err := pemkey.Parse(block)
	if err != nil {
		return nil, fmt.Errorf("PEM block %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("the private key cannot sign")
	}
	alg, err := algorithmOf(signer)
	if err != nil {
		return nil, err
	}
	return &Key{Signer: signer, Alg: alg, ID: kid}, nil
}

// algorithmOf returns the JWS algorithm client assertions are signed with
// by s.
func algorithmOf(s crypto.Signer) (string, error) {
	switch k := s.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("the RSA key has %d bits; at least %d are required", k.N.BitLen(), minRSABits)
		}
		return "RS256", nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
		return "", errors.New("the EC key is not on P-256, P-384 or P-521")
	case ed25519.PrivateKey:
		return "EdDSA", nil
	}
	return "", fmt.Errorf("a %T cannot sign client assertions; use RSA, ECDSA (P-256, P-384, P-521) or Ed25519", s)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of pub,
// base64url-encoded, for a kid the issuer derives from the key. go-jose,
// which the JWE code uses already, computes it from the key itself; the
// DPoP package's, which hashes a JWK as its client spelled it, is for keys
// that arrive as JWKs.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	b, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
