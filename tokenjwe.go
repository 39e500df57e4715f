package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"
)

// readRecipient reads the public key that token mint --encrypt-to names:
// a PEM public key or certificate, or a public JWK (whose kid the tokens
// then name). RSA keys are encrypted to with RSA-OAEP-256, EC keys with
// ECDH-ES, both with A256GCM.
func readRecipient(path string) (jose.Recipient, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return jose.Recipient{}, err
	}
	var (
		key any
		kid string
	)
	b = bytes.TrimSpace(b)
	if bytes.HasPrefix(b, []byte("{")) {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(b); err != nil {
			return jose.Recipient{}, fmt.Errorf("is not a JWK: %w", err)
		}
		key, kid = jwk.Public().Key, jwk.KeyID
	} else {
		block, _ := pem.Decode(b)
		switch {
		case block == nil:
			return jose.Recipient{}, errors.New("holds neither a PEM public key nor a JWK")
		case block.Type == "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return jose.Recipient{}, err
			}
			key = cert.PublicKey
		default:
			if key, err = x509.ParsePKIXPublicKey(block.Bytes); err != nil {
				return jose.Recipient{}, fmt.Errorf("PEM %s: %w", block.Type, err)
			}
		}
	}
	switch key.(type) {
	case *rsa.PublicKey:
		return jose.Recipient{Algorithm: jose.RSA_OAEP_256, Key: key, KeyID: kid}, nil
	case *ecdsa.PublicKey:
		return jose.Recipient{Algorithm: jose.ECDH_ES, Key: key, KeyID: kid}, nil
	}
	return jose.Recipient{}, fmt.Errorf("holds a %T; encrypt to an RSA or EC public key", key)
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
