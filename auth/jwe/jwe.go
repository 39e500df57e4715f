// Package jwe decrypts encrypted access tokens (JWE, RFC 7516, in compact
// form) with the API's own private keys. It checks a token's protected
// header itself, strictly and before any cryptography, so that only the
// algorithms listed here ever reach go-jose, which decrypts. It knows
// nothing of what the plaintext says: package auth requires it to be a
// signed JWT and verifies that as any other, and imports this package,
// never the reverse.
package jwe

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/coffeemesh/orders/auth/internal/jsonobject"
)

// KeyAlgorithms lists the key management algorithms accepted. RSA1_5 is
// not among them (its padding oracle, RFC 8725, section 3.2), nor PBES2
// (passwords, and p2c lets a sender choose how long we spend), nor dir or
// AES key wrap alone: their key is a secret shared with the issuer, so a
// leak on either side reads every token, and each issuer needs a secret of
// its own managed on both sides; to the API such a token is a reference
// token that only its issuer reads, which package auth sends to the
// issuer's introspection endpoint when it has one.
func KeyAlgorithms() []string {
	return []string{"RSA-OAEP-256", "RSA-OAEP", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"}
}

// ContentAlgorithms lists the content encryption algorithms accepted.
func ContentAlgorithms() []string {
	return []string{"A128GCM", "A256GCM", "A128CBC-HS256", "A256CBC-HS512"}
}

// Bounds of a token's parts, in base64url characters, so that no
// oversized part is decoded before it is refused.
const (
	// MaxLength bounds the whole token.
	MaxLength = 16 << 10
	// MaxHeaderLength bounds the protected header, which an ECDH-ES key
	// on P-521 fills to about 400.
	MaxHeaderLength = 2 << 10
	// maxEncryptedKey fits the 512 bytes of a MaxRSABits key.
	maxEncryptedKey = 683
)

// strictBase64 decodes base64url strictly: a part has one spelling only,
// so that one token cannot be sent as many, each a new entry in the
// verified-token cache and a new ath for DPoP.
func strictBase64() *base64.Encoding { return base64.RawURLEncoding.Strict() }

// ivAndTagLength returns the sizes, in bytes, that enc, one of
// ContentAlgorithms(), asks of the initialization vector and the
// authentication tag (RFC 7518, sections 5.2 and 5.3).
func ivAndTagLength(enc string) (iv, tag int) {
	switch enc {
	case "A128GCM", "A256GCM":
		return 12, 16
	case "A128CBC-HS256":
		return 16, 16
	}
	return 16, 32
}

// Why a token is refused. Every error of ParseHeader and Decrypt matches
// one of them with errors.Is.
var (
	ErrMalformed  = errors.New("the token is not a well-formed JWE in compact form")
	ErrAlgorithm  = errors.New("the token's alg or enc is not accepted")
	ErrCompressed = errors.New("the token is compressed (zip)")
	ErrCritical   = errors.New("the token names critical header parameters (crit)")
	ErrUnknownKey = errors.New("no decryption key fits the token's kid and alg")
	ErrDecrypt    = errors.New("the token does not decrypt")
)

// Header is the checked protected header of a token.
type Header struct {
	// Alg is one of KeyAlgorithms(), Enc one of ContentAlgorithms().
	Alg, Enc string
	// KID names the key the token is encrypted to, "" when absent (an
	// empty kid names no key either).
	KID string
	// ContentType is cty, "" when absent: "JWT" for a nested JWT.
	ContentType string
}

// ParseHeader checks the shape and the protected header of token, and
// bounds each of its parts: five base64url segments; a header of UTF-8
// JSON with each member once, whose alg and enc are accepted, without zip
// or crit, whose kid and cty are strings when present; an encrypted key
// empty exactly for ECDH-ES; an initialization vector and tag of the sizes
// enc asks for.
func ParseHeader(token string) (Header, error) {
	if len(token) > MaxLength {
		return Header{}, fmt.Errorf("%w: %d characters", ErrMalformed, len(token))
	}
	parts := strings.Split(token, ".")
	if len(parts) != 5 {
		return Header{}, fmt.Errorf("%w: %d parts", ErrMalformed, len(parts))
	}
	if len(parts[0]) > MaxHeaderLength {
		return Header{}, fmt.Errorf("%w: header of %d characters", ErrMalformed, len(parts[0]))
	}
	raw, err := strictBase64().DecodeString(parts[0])
	if err != nil {
		return Header{}, fmt.Errorf("%w: header is not canonical base64url", ErrMalformed)
	}
	members, err := jsonobject.Members(raw)
	if err != nil {
		return Header{}, fmt.Errorf("%w: header is not a UTF-8 JSON object with each member once", ErrMalformed)
	}
	h, err := readHeader(members)
	if err != nil {
		return Header{}, err
	}
	if err := checkParts(h, parts); err != nil {
		return Header{}, err
	}
	return h, nil
}

// readHeader reads and checks the members of a protected header.
func readHeader(members map[string]json.RawMessage) (Header, error) {
	var h Header
	str := func(name string, dst *string) (bool, error) {
		v, ok := members[name]
		if ok && (v[0] != '"' || json.Unmarshal(v, dst) != nil) {
			return ok, fmt.Errorf("%w: %s is not a string", ErrMalformed, name)
		}
		return ok, nil
	}
	if _, ok := members["zip"]; ok {
		return Header{}, ErrCompressed
	}
	if _, ok := members["crit"]; ok {
		return Header{}, ErrCritical
	}
	if _, err := str("alg", &h.Alg); err != nil {
		return Header{}, err
	}
	if _, err := str("enc", &h.Enc); err != nil {
		return Header{}, err
	}
	if !slices.Contains(KeyAlgorithms(), h.Alg) || !slices.Contains(ContentAlgorithms(), h.Enc) {
		return Header{}, ErrAlgorithm
	}
	if _, err := str("kid", &h.KID); err != nil {
		return Header{}, err
	}
	if _, err := str("cty", &h.ContentType); err != nil {
		return Header{}, err
	}
	return h, nil
}

// checkParts bounds the encrypted key, initialization vector and tag of a
// token with header h, and checks that every part is base64url.
func checkParts(h Header, parts []string) error {
	encKey, iv, tag := parts[1], parts[2], parts[4]
	ivLength, tagLength := ivAndTagLength(h.Enc)
	b64 := strictBase64()
	switch {
	case h.Alg == "ECDH-ES" && encKey != "":
		return fmt.Errorf("%w: ECDH-ES with an encrypted key", ErrMalformed)
	case h.Alg != "ECDH-ES" && encKey == "":
		return fmt.Errorf("%w: no encrypted key", ErrMalformed)
	case len(encKey) > maxEncryptedKey:
		return fmt.Errorf("%w: encrypted key of %d characters", ErrMalformed, len(encKey))
	case b64.EncodedLen(ivLength) != len(iv):
		return fmt.Errorf("%w: initialization vector of %d characters", ErrMalformed, len(iv))
	case b64.EncodedLen(tagLength) != len(tag):
		return fmt.Errorf("%w: tag of %d characters", ErrMalformed, len(tag))
	case parts[3] == "":
		return fmt.Errorf("%w: no ciphertext", ErrMalformed)
	}
	for i, p := range parts[1:] {
		if _, err := b64.DecodeString(p); err != nil {
			return fmt.Errorf("%w: part %d is not canonical base64url", ErrMalformed, i+2)
		}
	}
	return nil
}

// Decrypt returns the plaintext of token, whose header ParseHeader
// returned as h. A token with a kid is decrypted only by the key with that
// kid; one without only by the keys without a kid (as PEM keys are), in
// the file's order. So a token costs at most one private-key operation per
// key the operator left without a kid, never one per key of the file, and
// leaving the kid out cannot make the API try keys that have one. A key is
// tried only for an alg that fits its type and that its JWK, if it names
// one, names. Errors: ErrUnknownKey when no key fits, ErrDecrypt when none
// of those that fit decrypts the token (wrong key, or a tampered part).
func (k *Keys) Decrypt(token string, h Header) ([]byte, error) {
	var candidates []key
	for _, ky := range k.keys {
		if ky.kid != h.KID || !fits(ky.private, h.Alg) || (ky.alg != "" && ky.alg != h.Alg) {
			continue
		}
		candidates = append(candidates, ky)
	}
	if len(candidates) == 0 {
		return nil, ErrUnknownKey
	}
	obj, err := jose.ParseEncryptedCompact(token, []jose.KeyAlgorithm{jose.KeyAlgorithm(h.Alg)}, []jose.ContentEncryption{jose.ContentEncryption(h.Enc)})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	errs := make([]error, 0, len(candidates))
	for _, ky := range candidates {
		plaintext, err := obj.Decrypt(ky.private)
		if err == nil {
			return plaintext, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrDecrypt, errors.Join(errs...))
}
