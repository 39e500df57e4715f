package auth

import (
	"errors"

	"github.com/coffeemesh/orders/auth/jwe"
)

// decrypt returns the signed JWT that the encrypted token holds, which
// Verify then verifies as any other. The plaintext must be a nested JWT, a
// JWS in compact form: bare claims inside an encrypted token would be
// claims nobody signed. A cty, when present, must say JWT; a missing one is
// accepted although RFC 7519, section 5.2, asks for it, because issuers
// leave it out (Auth0's documented header has only alg, enc and kid), and
// the signature verified afterwards, not the cty, is what refuses bare
// claims.
func (v *Verifier) decrypt(token string) (string, error) {
	if v.cfg.DecryptionKeys == nil {
		return "", fail(ReasonJWENoKey, nil)
	}
	h, err := jwe.ParseHeader(token)
	if err != nil {
		return "", decryptFailure(err)
	}
	if h.ContentType != "" && normalizeType(h.ContentType) != "jwt" {
		return "", fail(ReasonJWENotNested, errors.New("cty is not JWT"))
	}
	plaintext, err := v.cfg.DecryptionKeys.Decrypt(token, h)
	if err != nil {
		return "", decryptFailure(err)
	}
	inner := string(plaintext)
	if encrypted, err := checkShape(inner); err != nil || encrypted {
		return "", fail(ReasonJWENotNested, errors.New("the plaintext is not a JWS in compact form"))
	}
	return inner, nil
}

// decryptFailure turns an error of package jwe into an *Error of its
// reason.
func decryptFailure(err error) *Error {
	switch {
	case errors.Is(err, jwe.ErrAlgorithm):
		return fail(ReasonJWEAlgorithm, err)
	case errors.Is(err, jwe.ErrCompressed):
		return fail(ReasonJWECompressed, err)
	case errors.Is(err, jwe.ErrCritical):
		return fail(ReasonCritical, err)
	case errors.Is(err, jwe.ErrUnknownKey):
		return fail(ReasonJWEUnknownKey, err)
	case errors.Is(err, jwe.ErrDecrypt):
		return fail(ReasonJWEDecrypt, err)
	}
	return fail(ReasonJWEMalformed, err)
}
