// Package auth decides who is calling and what they may do. It verifies
// OAuth 2.0 access tokens (JWTs) against the signing keys that the configured
// issuer publishes in its JWKS, turns a valid token into a Principal, and
// provides the gin middlewares that require one (Authenticate) and that
// require a scope of it (RequireScope).
//
// It knows nothing of orders or databases, and leaves the format of error
// responses to its caller: the middlewares take a function that writes them.
package auth

import (
	"context"
	"errors"
	"slices"
)

// Scope is an OAuth 2.0 scope, such as "orders:read". Scopes match exactly,
// case-sensitively.
type Scope string

// Principal is the verified caller: who they are and what the token lets
// them do.
type Principal struct {
	// Issuer is the trusted issuer of the token, its iss claim.
	Issuer string
	// Subject is the token's non-empty sub claim, unique within Issuer.
	Subject string
	// Scopes are the scopes the token grants, from its scope, scp and
	// permissions claims.
	Scopes []Scope
	// JKT is the RFC 7638 thumbprint of the key the token is bound to, its
	// cnf.jkt (RFC 9449), or "" for a bearer token. A principal with one
	// was authenticated with a DPoP proof signed by that key: a bound token
	// is never accepted as a bearer token.
	JKT string
	// X5T is the SHA-256 thumbprint of the client certificate the token is
	// bound to, its cnf["x5t#S256"] (RFC 8705), or "" for a token not bound
	// to one. A principal with one was authenticated over a connection
	// whose client certificate has that thumbprint (see Authenticate).
	X5T string
}

// Has reports whether p holds scope s.
func (p Principal) Has(s Scope) bool {
	return slices.Contains(p.Scopes, s)
}

type principalKey struct{}

// NewContext returns a copy of ctx that carries p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal that Authenticate stored in ctx, and
// whether there is one.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Kinds of failure. Every error this package returns matches exactly one of
// them with errors.Is, and is an *Error.
var (
	// ErrNoToken means the request carried no bearer token (401, no error code).
	ErrNoToken = errors.New("no bearer token")
	// ErrInvalidToken means a bearer token was sent and is not acceptable
	// (401, error="invalid_token").
	ErrInvalidToken = errors.New("invalid token")
	// ErrInvalidProof means a DPoP proof is missing or not acceptable
	// (401, error="invalid_dpop_proof").
	ErrInvalidProof = errors.New("invalid DPoP proof")
	// ErrInvalidRequest means the request's credentials are ambiguous or
	// malformed (400, error="invalid_request").
	ErrInvalidRequest = errors.New("invalid request")
	// ErrInsufficientScope means the token is valid but lacks a scope the
	// operation needs (403, error="insufficient_scope").
	ErrInsufficientScope = errors.New("insufficient scope")
	// ErrUnavailable means no signing key could be had from the issuer yet,
	// or the store of used DPoP proofs cannot tell whether a proof is new,
	// so the request cannot be verified (503, with Retry-After).
	ErrUnavailable = errors.New("verification unavailable")
)

// Error is an authentication or authorization failure: a Reason, and for
// logs only, the internal cause.
type Error struct {
	// Reason says why; its Kind, code and description come from one table.
	Reason Reason
	// Scope names the missing scope as the token's issuer spells it, with
	// ReasonInsufficientScope.
	Scope string
	// cause is what went wrong inside, for logs only; it may be nil.
	cause error
}

// Description says what is wrong, for the client's developer: fixed text
// that never holds token content.
func (e *Error) Description() string {
	if e.Reason == ReasonInsufficientScope {
		return e.Reason.Description() + " " + e.Scope
	}
	return e.Reason.Description()
}

// Error says what failed, with the internal cause, for logs; clients get
// Description only.
func (e *Error) Error() string {
	msg := e.Reason.Kind().Error() + ": " + e.Description()
	if e.cause == nil {
		return msg
	}
	return msg + ": " + e.cause.Error()
}

// Unwrap lets errors.Is see the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Reason.Kind()}
	}
	return []error{e.Reason.Kind(), e.cause}
}

// fail returns the failure of reason, caused by cause (which may be nil).
func fail(reason Reason, cause error) *Error {
	return &Error{Reason: reason, cause: cause}
}
