package auth

import (
	"strings"

	"github.com/coffeemesh/orders/auth/jwe"
)

// Reason is why a request was refused, in one word of this package's
// vocabulary. The table below gives each its kind (and so its status and
// challenge), its code (the metrics label and the log field) and its
// description (the problem's detail and the challenge's error_description).
// Descriptions are fixed text: they never quote the token.
type Reason uint8

// The reasons, in the order a request meets the checks.
const (
	ReasonMissing Reason = iota + 1
	ReasonNotBearer
	ReasonAmbiguous
	ReasonEmpty
	ReasonTooLong
	ReasonNotJWS
	ReasonJWENoKey
	ReasonJWEMalformed
	ReasonJWEAlgorithm
	ReasonJWECompressed
	ReasonJWENotNested
	ReasonJWEUnknownKey
	ReasonJWEDecrypt
	ReasonMalformed
	ReasonMalformedHeader
	ReasonMalformedClaims
	ReasonNoIssuer
	ReasonWrongIssuer
	ReasonNoExpiry
	ReasonExpired
	ReasonNotYetValid
	ReasonIssuedInFuture
	ReasonAlgorithm
	ReasonCritical
	ReasonType
	ReasonKIDType
	ReasonUnknownKey
	ReasonAlgMismatch
	ReasonBadSignature
	ReasonKeysUnavailable
	ReasonIntrospectionDown
	ReasonInactive
	ReasonNoAudience
	ReasonWrongAudience
	ReasonAudienceOther
	ReasonNotAccessToken
	ReasonBadSubject
	ReasonDPoPOff
	ReasonDPoPRequired
	ReasonBoundAsBearer
	ReasonDPoPNoProof
	ReasonDPoPProofs
	ReasonDPoPMalformed
	ReasonDPoPType
	ReasonDPoPAlgorithm
	ReasonDPoPKey
	ReasonDPoPSignature
	ReasonDPoPMethod
	ReasonDPoPURL
	ReasonDPoPIssuedAt
	ReasonDPoPID
	ReasonDPoPTokenHash
	ReasonDPoPNonce
	ReasonDPoPUnbound
	ReasonDPoPKeyMismatch
	ReasonDPoPReplay
	ReasonDPoPStoreUnavailable
	ReasonCertMissing
	ReasonCertMismatch
	ReasonCertHeader
	ReasonAuthRequired
	ReasonInsufficientScope
)

// reasons is the one table of refusals, indexed by Reason. A hint, where
// there is one, says what to look at: for people, such as `orders token
// inspect`'s readers, not for the client's response.
var reasons = [...]struct {
	kind        error
	code        string
	description string
	hint        string
}{
	ReasonMissing:              {ErrNoToken, "missing", "an Authorization header with a Bearer token is required", ""},
	ReasonNotBearer:            {ErrNoToken, "not_bearer", "the Authorization header must use the Bearer scheme", ""},
	ReasonAmbiguous:            {ErrInvalidRequest, "ambiguous", "the request must carry exactly one token, in one Authorization header and nowhere else", ""},
	ReasonEmpty:                {ErrInvalidToken, "empty", "the bearer token is empty", ""},
	ReasonTooLong:              {ErrInvalidToken, "too_long", "the token is too long", ""},
	ReasonNotJWS:               {ErrInvalidToken, "not_jws", "the token is not a JWS in compact form", "an opaque token is sent to its issuer only with introspection (ORDERS_AUTH_INTROSPECTION_CLIENT_ID), and only if it is at most 4 KiB of RFC 6750 b64token characters; else ask the issuer for a JWT access token"},
	ReasonJWENoKey:             {ErrInvalidToken, "jwe_no_key", "the token is encrypted (JWE), and this API holds no key to decrypt it", "ORDERS_AUTH_DECRYPTION_KEY_FILE names the API's private keys that the issuer encrypts to"},
	ReasonJWEMalformed:         {ErrInvalidToken, "jwe_malformed", "the encrypted token (JWE) is malformed, or a part of it is too long", ""},
	ReasonJWEAlgorithm:         {ErrInvalidToken, "jwe_algorithm", "the encrypted token's alg or enc is not one this API accepts", "accepted are alg " + strings.Join(jwe.KeyAlgorithms(), ", ") + " and enc " + strings.Join(jwe.ContentAlgorithms(), ", ")},
	ReasonJWECompressed:        {ErrInvalidToken, "jwe_compressed", "compressed encrypted tokens (zip) are not accepted", "ask the issuer not to compress access tokens"},
	ReasonJWENotNested:         {ErrInvalidToken, "jwe_not_nested", "the encrypted token must hold a signed JWT, not bare claims, and a cty, if any, must be JWT", "the issuer must sign the token, then encrypt it (a nested JWT, RFC 7519, section 5.2)"},
	ReasonJWEUnknownKey:        {ErrInvalidToken, "jwe_unknown_key", "no decryption key of this API has the encrypted token's kid and fits its alg", "was it encrypted to another key, or to one the API no longer holds? A token without kid fits only keys without one (PEM keys)"},
	ReasonJWEDecrypt:           {ErrInvalidToken, "jwe_decrypt", "the encrypted token does not decrypt with this API's keys", "was it changed, or encrypted to another key under the same kid?"},
	ReasonMalformed:            {ErrInvalidToken, "malformed", "the token is malformed", ""},
	ReasonMalformedHeader:      {ErrInvalidToken, "malformed_header", "the token's header is malformed: not UTF-8 JSON, or a member appears twice", ""},
	ReasonMalformedClaims:      {ErrInvalidToken, "malformed_claims", "the token's claims are malformed", ""},
	ReasonNoIssuer:             {ErrInvalidToken, "no_issuer", "the token lacks its issuer (iss)", ""},
	ReasonWrongIssuer:          {ErrInvalidToken, "wrong_issuer", "the token's issuer is not one this API trusts", ""},
	ReasonNoExpiry:             {ErrInvalidToken, "no_expiry", "the token lacks its expiry (exp)", ""},
	ReasonExpired:              {ErrInvalidToken, "expired", "the token has expired", ""},
	ReasonNotYetValid:          {ErrInvalidToken, "not_yet_valid", "the token is not valid yet", ""},
	ReasonIssuedInFuture:       {ErrInvalidToken, "issued_in_future", "the token was issued in the future", ""},
	ReasonAlgorithm:            {ErrInvalidToken, "algorithm", "the token's algorithm is not accepted for its issuer", "ORDERS_AUTH_ALGORITHMS lists the algorithms accepted"},
	ReasonCritical:             {ErrInvalidToken, "critical_header", "the token names critical header parameters this API does not implement", ""},
	ReasonType:                 {ErrInvalidToken, "type", "the token's typ is not that of an access token", "ID tokens and other JWTs are not access tokens; ask the issuer for an access token"},
	ReasonKIDType:              {ErrInvalidToken, "kid_type", "the token's kid must be a string", ""},
	ReasonUnknownKey:           {ErrInvalidToken, "unknown_key", "no signing key of the issuer has the token's kid", "was it signed by another issuer, or by a key the issuer no longer publishes?"},
	ReasonAlgMismatch:          {ErrInvalidToken, "alg_mismatch", "the token's alg does not match its signing key", "the issuer's key for this kid names another alg, or is of another type"},
	ReasonBadSignature:         {ErrInvalidToken, "bad_signature", "the token's signature does not verify", "was the token changed, or signed by another key under the same kid?"},
	ReasonKeysUnavailable:      {ErrUnavailable, "keys_unavailable", "the issuer's signing keys could not be fetched; retry later", "is the issuer's JWKS reachable from here?"},
	ReasonIntrospectionDown:    {ErrUnavailable, "introspection_unavailable", "the token's issuer could not be asked about it; retry later", "is the introspection endpoint reachable, and does it accept the API's client credentials (ORDERS_AUTH_INTROSPECTION_CLIENT_*)?"},
	ReasonInactive:             {ErrInvalidToken, "inactive", "the token's issuer says it is not active: revoked, expired or unknown", ""},
	ReasonNoAudience:           {ErrInvalidToken, "no_audience", "the token lacks its audience", ""},
	ReasonWrongAudience:        {ErrInvalidToken, "wrong_audience", "the token's audience is not this API", ""},
	ReasonAudienceOther:        {ErrInvalidToken, "audience_other", "the token's aud names another recipient than this API", ""},
	ReasonNotAccessToken:       {ErrInvalidToken, "not_access_token", "the token is not an access token", "ID tokens are not access tokens; ask the issuer for an access token"},
	ReasonBadSubject:           {ErrInvalidToken, "bad_subject", "the token's sub must be a non-empty string of at most 255 bytes without control characters", ""},
	ReasonDPoPOff:              {ErrNoToken, "dpop_off", "this API does not accept DPoP; send a Bearer token", ""},
	ReasonDPoPRequired:         {ErrInvalidToken, "dpop_required", "this API accepts only DPoP-bound tokens, each request with a DPoP proof", "ORDERS_AUTH_DPOP is required"},
	ReasonBoundAsBearer:        {ErrInvalidToken, "bound_as_bearer", "the token is bound to a key (cnf.jkt); send it with the DPoP scheme and a DPoP proof", ""},
	ReasonDPoPNoProof:          {ErrInvalidProof, "dpop_no_proof", "a DPoP header with a proof is required with the DPoP scheme", ""},
	ReasonDPoPProofs:           {ErrInvalidProof, "dpop_proofs", "the request must carry exactly one DPoP header", ""},
	ReasonDPoPMalformed:        {ErrInvalidProof, "dpop_malformed", "the DPoP proof is not a well-formed JWT", ""},
	ReasonDPoPType:             {ErrInvalidProof, "dpop_type", "the DPoP proof's typ must be dpop+jwt", ""},
	ReasonDPoPAlgorithm:        {ErrInvalidProof, "dpop_algorithm", "the DPoP proof's alg is not one this API accepts", "ORDERS_AUTH_DPOP_ALGORITHMS lists the algorithms accepted"},
	ReasonDPoPKey:              {ErrInvalidProof, "dpop_key", "the DPoP proof's jwk must be a strong public key of its alg's type, without private members", ""},
	ReasonDPoPSignature:        {ErrInvalidProof, "dpop_signature", "the DPoP proof's signature does not verify with its jwk", ""},
	ReasonDPoPMethod:           {ErrInvalidProof, "dpop_method", "the DPoP proof's htm is not the request's method", ""},
	ReasonDPoPURL:              {ErrInvalidProof, "dpop_url", "the DPoP proof's htu is not the request's URL", "behind a proxy, ORDERS_PUBLIC_URL must be the URL clients call"},
	ReasonDPoPIssuedAt:         {ErrInvalidProof, "dpop_issued_at", "the DPoP proof's iat is missing or too far from now", "ORDERS_AUTH_DPOP_MAX_AGE bounds it either way; are the clocks right?"},
	ReasonDPoPID:               {ErrInvalidProof, "dpop_id", "the DPoP proof's jti is missing or too long", ""},
	ReasonDPoPTokenHash:        {ErrInvalidProof, "dpop_token_hash", "the DPoP proof's ath is missing or not the hash of the access token", ""},
	ReasonDPoPNonce:            {ErrInvalidProof, "dpop_nonce", "the DPoP proof must carry the server nonce of the DPoP-Nonce header", ""},
	ReasonDPoPUnbound:          {ErrInvalidToken, "dpop_unbound", "the token is not bound to a key (no cnf.jkt); it cannot be sent with the DPoP scheme", ""},
	ReasonDPoPKeyMismatch:      {ErrInvalidProof, "dpop_key_mismatch", "the DPoP proof is signed by another key than the one the token is bound to", ""},
	ReasonDPoPReplay:           {ErrInvalidProof, "dpop_replay", "the DPoP proof has been used before; sign a new one for every request", ""},
	ReasonDPoPStoreUnavailable: {ErrUnavailable, "dpop_store_unavailable", "used DPoP proofs cannot be checked now; retry later", "the replay store is full of live proofs or down"},
	ReasonCertMissing:          {ErrInvalidToken, "cert_missing", "the token is bound to a client certificate (cnf x5t#S256); send it over a TLS connection with that certificate", "the API must verify client certificates (ORDERS_TLS_CLIENT_AUTH), or trust the proxy that does (ORDERS_TLS_CLIENT_CERT_HEADER, ORDERS_TRUSTED_PROXIES)"},
	ReasonCertMismatch:         {ErrInvalidToken, "cert_mismatch", "the connection's client certificate is not the one the token is bound to", ""},
	ReasonCertHeader:           {ErrInvalidToken, "cert_header", "the client certificate the proxy forwarded is not one URL-encoded PEM certificate", "the proxy must send its verified client certificate URL-encoded, as nginx's $ssl_client_escaped_cert"},
	ReasonAuthRequired:         {ErrNoToken, "auth_required", "authentication is required", ""},
	ReasonInsufficientScope:    {ErrInsufficientScope, "insufficient_scope", "the token lacks the scope", ""},
}

// Reasons lists every reason, for tests and documentation.
func Reasons() []Reason {
	out := make([]Reason, 0, len(reasons)-1)
	for r := ReasonMissing; int(r) < len(reasons); r++ {
		out = append(out, r)
	}
	return out
}

// Kind is the kind of failure r is: ErrNoToken, ErrInvalidToken,
// ErrInvalidProof, ErrInvalidRequest, ErrInsufficientScope or
// ErrUnavailable.
func (r Reason) Kind() error {
	return reasons[r].kind
}

// String is r's code, such as "expired": the metrics label and the log field.
func (r Reason) String() string {
	return reasons[r].code
}

// Description says what r means, for the client's developer.
func (r Reason) Description() string {
	return reasons[r].description
}

// Hint says what to look at when a token is refused for r, or "" when the
// description says it all.
func (r Reason) Hint() string {
	return reasons[r].hint
}
