package auth

import "net/http"

// SubjectToken returns the access token of r, which Authenticate accepted,
// so that it can be exchanged at its issuer for a token for another
// service (RFC 8693): the only place, besides this API, it may be sent.
// It fails as Authenticate would on a request without one token.
func SubjectToken(r *http.Request) (string, error) {
	token, _, err := credentials(r)
	return token, err
}
