package auth

import (
	"errors"

	"github.com/coffeemesh/orders/auth/jwe"
)

// decrypt returns the signed JWT that the encrypted token holds, which
// Verify then verifies as any other. The plaintext must be a nested JWT:
// cty says so, and it is a JWS in compact form; bare claims inside an
// encrypted token would be claims nobody signed.
func (v *Verifier) decrypt(token string) (string, error) {
	if v.cfg.DecryptionKeys == nil {
		return "", fail(ReasonJWENoKey, nil)
	}
	h, err := jwe.ParseHeader(token)
	if err != nil {
		return "", decryptFailure(err)
	}
	if normalizeType(h.ContentType) != "jwt" {
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

// decryptReasons maps each refusal of package jwe to its reason.
var decryptReasons = []struct {
	err    error
	reason Reason
}{
	{jwe.ErrMalformed, ReasonJWEMalformed},
	{jwe.ErrAlgorithm, ReasonJWEAlgorithm},
	{jwe.ErrCompressed, ReasonJWECompressed},
	{jwe.ErrCritical, ReasonCritical},
	{jwe.ErrUnknownKey, ReasonJWEUnknownKey},
	{jwe.ErrDecrypt, ReasonJWEDecrypt},
}

// decryptFailure turns an error of package jwe into an *Error.
func decryptFailure(err error) *Error {
	for _, dr := range decryptReasons {
		if errors.Is(err, dr.err) {
			return fail(dr.reason, err)
		}
	}
	return fail(ReasonJWEMalformed, err)
}
