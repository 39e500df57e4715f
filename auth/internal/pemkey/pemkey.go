// Package pemkey parses one PEM block that holds a private key, for the
// auth packages that read the API's own keys (auth/jwe's decryption keys,
// auth/clientauth's signing key). What a file may hold besides one such
// block (several keys, parameters, certificates) is each caller's policy.
package pemkey

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrNotPrivateKey means a block is of a type that holds no private key.
var ErrNotPrivateKey = errors.New("not a private key")

// Parse returns the private key of block: PKCS #8 "PRIVATE KEY", PKCS #1
// "RSA PRIVATE KEY" or SEC 1 "EC PRIVATE KEY". Its errors complete a
// sentence that begins with the block's name, such as "PEM block 2 ", and
// never quote key material; an encrypted key is refused with the advice to
// store it unencrypted, and any other type with ErrNotPrivateKey.
func Parse(block *pem.Block) (any, error) {
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("is encrypted; store the key unencrypted (openssl pkey -in KEY -out PLAIN) and protect the file instead")
	default:
		return nil, fmt.Errorf("is a %s, %w", block.Type, ErrNotPrivateKey)
	}
	if err != nil {
		return nil, fmt.Errorf("(%s): %w", block.Type, err)
	}
	return key, nil
}
