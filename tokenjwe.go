package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/coffeemesh/orders/auth/jwe"
)

// readRecipient reads the public key that token mint --encrypt-to names:
// a PEM public key or certificate, or a public JWK or JWK set (whose kid
// the tokens then name). RSA keys are encrypted to with RSA-OAEP-256, EC
// keys with ECDH-ES, unless the JWK pins another accepted alg; always with
// A256GCM.
func readRecipient(path string) (jose.Recipient, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return jose.Recipient{}, err
	}
	b = bytes.TrimSpace(b)
	if bytes.HasPrefix(b, []byte("{")) {
		jwk, err := readRecipientJWK(b)
		if err != nil {
			return jose.Recipient{}, err
		}
		return recipient(jwk.Public().Key, jwk.KeyID, jwk.Algorithm)
	}
	block, _ := pem.Decode(b)
	switch {
	case block == nil:
		return jose.Recipient{}, errors.New("holds neither a PEM public key nor a JWK")
	case block.Type == "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return jose.Recipient{}, err
		}
		return recipient(cert.PublicKey, "", "")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return jose.Recipient{}, fmt.Errorf("PEM %s: %w", block.Type, err)
	}
	return recipient(key, "", "")
}

// readRecipientJWK reads a JWK, or the key of a JWK set to encrypt to: its
// only key, or else its first key for encryption (use enc).
func readRecipientJWK(b []byte) (jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("is not a JWK or a JWK set: %w", err)
	}
	if set.Keys == nil {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(b); err != nil {
			return jose.JSONWebKey{}, fmt.Errorf("is not a JWK: %w", err)
		}
		return jwk, nil
	}
	for i, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			return jose.JSONWebKey{}, fmt.Errorf("key %d of the JWK set: %w", i+1, err)
		}
		if len(set.Keys) == 1 || jwk.Use == "enc" {
			return jwk, nil
		}
	}
	return jose.JSONWebKey{}, fmt.Errorf("the JWK set holds %d keys and none with use enc", len(set.Keys))
}

// recipient returns who to encrypt to: key, under kid, with alg, which is
// "" for the default of key's type, or one of jwe.KeyAlgorithms() that
// fits it.
func recipient(key any, kid, alg string) (jose.Recipient, error) {
	var fitting []string
	switch key.(type) {
	case *rsa.PublicKey:
		fitting = []string{"RSA-OAEP-256", "RSA-OAEP"}
	case *ecdsa.PublicKey:
		fitting = []string{"ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"}
	default:
		return jose.Recipient{}, fmt.Errorf("holds a %T; encrypt to an RSA or EC public key", key)
	}
	switch {
	case alg == "":
		alg = fitting[0]
	case !slices.Contains(jwe.KeyAlgorithms(), alg):
		return jose.Recipient{}, fmt.Errorf("pins alg %q, which the API does not accept (%s)", alg, strings.Join(jwe.KeyAlgorithms(), ", "))
	case !slices.Contains(fitting, alg):
		return jose.Recipient{}, fmt.Errorf("pins alg %q, which does not fit a %T", alg, key)
	}
	return jose.Recipient{Algorithm: jose.KeyAlgorithm(alg), Key: key, KeyID: kid}, nil
}

// encryptToken encrypts a signed token to to, as a nested JWT (cty JWT),
// as an issuer that encrypts its access tokens does.
func encryptToken(token string, to jose.Recipient) (string, error) {
	enc, err := jose.NewEncrypter(jose.A256GCM, to, (&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		return "", err
	}
	obj, err := enc.Encrypt([]byte(token))
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}
