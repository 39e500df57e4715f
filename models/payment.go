package models

import "errors"

// Errors of paying an order through the payments service. In every case
// the order keeps its status, so the same pay may be asked for again: the
// payments service sees the same idempotency key and charges at most once.
// The issuer's errors come before anything is sent to the payments
// service, so the order was not paid; after the payments service's, it may
// have been, when the answer was lost.
var (
	// ErrExchangeRefused means the issuer would not exchange the caller's
	// token for a token for the payments service (RFC 8693), or would not
	// give the API its own token for it.
	ErrExchangeRefused = errors.New("issuer refused the token for the payments service")
	// ErrIssuerUnavailable means the issuer could not be reached, or said
	// it is unavailable or overloaded, when asked for the token for the
	// payments service.
	ErrIssuerUnavailable = errors.New("issuer unavailable")
	// ErrIssuerTimeout means the issuer did not answer within the time
	// limit of the payment.
	ErrIssuerTimeout = errors.New("issuer timed out")
	// ErrPaymentOrphaned means the payments service took the payment, but
	// the order changed meanwhile (a cancel came first) and cannot be
	// marked paid: the payment is to be refunded.
	ErrPaymentOrphaned = errors.New("payment taken for an order that changed meanwhile")
	// ErrPaymentFailed means the payments service answered with an error,
	// refused the API's token, or answered something that is not HTTP.
	ErrPaymentFailed = errors.New("payments service failed")
	// ErrPaymentUnavailable means the payments service could not be
	// reached, dropped the connection, or said it is unavailable.
	ErrPaymentUnavailable = errors.New("payments service unavailable")
	// ErrPaymentTimeout means the payments service did not answer within
	// the time limit of the payment.
	ErrPaymentTimeout = errors.New("payments service timed out")
)
