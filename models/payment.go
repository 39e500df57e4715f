package models

import "errors"

// Errors of paying an order through the payments service. In every case
// the order was not paid and keeps its status, so the same pay may be
// asked for again: the payments service sees the same idempotency key and
// charges at most once.
var (
	// ErrExchangeRefused means the issuer would not exchange the caller's
	// token for a token for the payments service (RFC 8693), or would not
	// give the API its own token for it.
	ErrExchangeRefused = errors.New("issuer refused the token for the payments service")
	// ErrPaymentFailed means the payments service answered with an error,
	// refused the API's token, or answered something that is not HTTP.
	ErrPaymentFailed = errors.New("payments service failed")
	// ErrPaymentUnavailable means the payments service or the issuer could
	// not be reached, or the payments service said it is unavailable.
	ErrPaymentUnavailable = errors.New("payments service unavailable")
	// ErrPaymentTimeout means the payments service, with the token exchange
	// before it, did not answer within its time limit.
	ErrPaymentTimeout = errors.New("payments service timed out")
)
