// Package dpop verifies DPoP proofs (RFC 9449): the JWTs a client signs
// with its own key on every request, so that an access token bound to that
// key is worth nothing to whoever steals it. It checks a proof against the
// request it came with and remembers the proofs used, through a
// ReplayStore. It knows nothing of access tokens beyond their hash and the
// thumbprint they are bound to: package auth verifies tokens and imports
// this one, never the reverse.
package dpop

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/coffeemesh/orders/auth/internal/jsonobject"
	"github.com/coffeemesh/orders/auth/jwks"
)

// Algorithms lists the signature algorithms a proof may use: asymmetric
// ones only, as a proof's key is its client's public key. "Ed25519" is RFC
// 9864's fully-specified name of "EdDSA" with an Ed25519 key, the one
// clients such as panva's dpop now send.
func Algorithms() []string {
	return []string{"ES256", "ES384", "ES512", "EdDSA", "Ed25519", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}
}

// DefaultAlgorithms are the algorithms accepted unless configured
// otherwise, those clients commonly sign proofs with.
func DefaultAlgorithms() []string {
	return []string{"ES256", "EdDSA", "Ed25519", "PS256", "RS256"}
}

// Defaults and bounds of Options.
const (
	// DefaultMaxAge is how far a proof's iat may be from now, either way.
	DefaultMaxAge = 60 * time.Second
	// MaxMaxAge bounds MaxAge: a proof is a one-time credential.
	MaxMaxAge = 5 * time.Minute
	// MaxProofLength bounds a proof's size, so that no oversized proof is
	// decoded before it is refused.
	MaxProofLength = 8 << 10
	// MaxIDLength bounds a proof's jti, which the ReplayStore keeps.
	MaxIDLength = 256
	// keyCacheSize bounds the proof keys a Verifier remembers; a client
	// whose key has left parses it again.
	keyCacheSize = 4096
)

// Why a proof is refused. Every error of Check matches one of them with
// errors.Is.
var (
	ErrMalformed  = errors.New("the proof is not a well-formed JWT")
	ErrType       = errors.New("the proof's typ is not dpop+jwt")
	ErrAlgorithm  = errors.New("the proof's alg is not accepted")
	ErrKey        = errors.New("the proof's jwk is not an acceptable public key")
	ErrSignature  = errors.New("the proof's signature does not verify with its jwk")
	ErrMethod     = errors.New("the proof's htm is not the request's method")
	ErrURL        = errors.New("the proof's htu is not the request's URL")
	ErrIssuedAt   = errors.New("the proof's iat is missing or too far from now")
	ErrID         = errors.New("the proof's jti is missing or too long")
	ErrTokenHash  = errors.New("the proof's ath is missing or not the hash of the access token")
	ErrNonce      = errors.New("the proof's nonce is missing or not a current server nonce")
	ErrReplay     = errors.New("the proof has been used before")
	ErrStoreFault = errors.New("the store of used proofs is unavailable")
)

// Options configure a Verifier.
type Options struct {
	// Algorithms are accepted, a subset of Algorithms(); empty means
	// DefaultAlgorithms().
	Algorithms []string
	// MaxAge is how far iat may be from now, either way; 0 means
	// DefaultMaxAge.
	MaxAge time.Duration
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// Replay remembers used proofs. Required.
	Replay ReplayStore
	// Nonces, when set, are the server nonces a proof's nonce claim must
	// hold one of; nil means proofs need no nonce.
	Nonces *Nonces
}

// Verifier checks proofs. It is safe for concurrent use.
type Verifier struct {
	opts Options
	// keys are the keys of recent proofs by their jwk as sent, kept once a
	// proof signed by the key has verified, so that only a client holding
	// the key adds it: at most keyCacheSize jwks of at most MaxProofLength
	// bytes each.
	keys *lru.Cache[string, proofKey]
}

// New returns a Verifier for o, with its defaults filled in, or says why o
// is unusable.
func New(o Options) (*Verifier, error) {
	o.Algorithms = slices.Clone(o.Algorithms)
	if len(o.Algorithms) == 0 {
		o.Algorithms = DefaultAlgorithms()
	}
	for _, a := range o.Algorithms {
		if !slices.Contains(Algorithms(), a) {
			return nil, fmt.Errorf("dpop algorithm %q is not allowed; choose from %s", a, strings.Join(Algorithms(), ", "))
		}
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxAge < 0 || o.MaxAge > MaxMaxAge {
		return nil, fmt.Errorf("dpop max age must be more than 0s, up to %s", MaxMaxAge)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Replay == nil {
		return nil, errors.New("dpop needs a replay store")
	}
	keys, err := lru.New[string, proofKey](keyCacheSize)
	if err != nil {
		return nil, err
	}
	return &Verifier{opts: o, keys: keys}, nil
}

// Algorithms are the algorithms v accepts, for challenges.
func (v *Verifier) Algorithms() []string {
	return slices.Clone(v.opts.Algorithms)
}

// Request is what a proof must match.
type Request struct {
	// Method is the HTTP method.
	Method string
	// URL is the request's absolute URL as the client addressed it; its
	// query and fragment are ignored.
	URL string
	// AccessToken is the token that came with the proof; "" for a request
	// to a token endpoint, whose proof must then carry no ath.
	AccessToken string
}

// Proof is a proof that passed Check.
type Proof struct {
	// Thumbprint is the RFC 7638 SHA-256 thumbprint of the proof's key,
	// which a bound token's cnf.jkt must equal.
	Thumbprint string
	// ID is the proof's jti.
	ID string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
}

// Check verifies proof against r by the checks of RFC 9449, section 4.3:
// one well-formed JWT (three base64url segments, a header and claims that
// are JSON objects); typ dpop+jwt; an accepted asymmetric alg; a jwk that
// is a strong public key and nothing more; the signature by that key; htm
// and htu those of r; iat within MaxAge of now; a jti; ath the hash of r's
// token; with Nonces, a current server nonce. It does not record the
// proof: Use does, once the caller has checked the token it came with.
func (v *Verifier) Check(proof string, r Request) (Proof, error) {
	if len(proof) > MaxProofLength || strings.Count(proof, ".") != 2 {
		return Proof{}, ErrMalformed
	}
	head, rest, _ := strings.Cut(proof, ".")
	body, sig, _ := strings.Cut(rest, ".")
	header, err := segment(head)
	if err != nil {
		return Proof{}, err
	}
	payload, err := segment(body)
	if err != nil {
		return Proof{}, err
	}
	signature, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return Proof{}, fmt.Errorf("%w: the signature is not base64url", ErrMalformed)
	}
	c, err := parseClaims(payload)
	if err != nil {
		return Proof{}, err
	}
	key, alg, err := v.checkHeader(header)
	if err != nil {
		return Proof{}, err
	}
	// golang-jwt's method verifies the signature; its parser is not used,
	// as it would decode the header once more, by other rules.
	// Not nil: alg is one of v.opts.Algorithms, a subset of Algorithms().
	method := SigningMethod(alg)
	if err := method.Verify(proof[:len(head)+1+len(body)], signature, key.Public); err != nil {
		return Proof{}, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if !key.cached {
		v.keys.Add(string(header["jwk"]), key)
	}
	if err := v.checkClaims(&c, r); err != nil {
		return Proof{}, err
	}
	return Proof{Thumbprint: key.thumbprint, ID: c.jti, IssuedAt: c.iat}, nil
}

// Use records p as used, and fails with ErrReplay if it was used before
// within the window in which its iat is accepted, or ErrStoreFault if the
// store cannot tell.
func (v *Verifier) Use(ctx context.Context, p Proof) error {
	return v.opts.Replay.Use(ctx, p.Thumbprint+" "+p.ID, p.IssuedAt.Add(v.opts.MaxAge))
}

// proofKey is the public key of a proof's jwk and its thumbprint.
type proofKey struct {
	jwks.Key
	thumbprint string
	// cached tells a key from Verifier.keys.
	cached bool
}

// checkHeader checks the proof's header up to its key, and returns the key
// and the alg.
func (v *Verifier) checkHeader(h map[string]json.RawMessage) (proofKey, string, error) {
	var typ, alg string
	if decodeString(h["typ"], &typ) != nil || !strings.EqualFold(typ, "dpop+jwt") {
		return proofKey{}, "", ErrType
	}
	if decodeString(h["alg"], &alg) != nil || !slices.Contains(v.opts.Algorithms, alg) {
		return proofKey{}, "", ErrAlgorithm
	}
	if _, ok := h["crit"]; ok {
		return proofKey{}, "", fmt.Errorf("%w: crit names extensions this API does not implement", ErrMalformed)
	}
	raw, ok := h["jwk"]
	if !ok {
		return proofKey{}, "", fmt.Errorf("%w: no jwk", ErrKey)
	}
	key, err := v.proofKey(raw)
	if err != nil {
		return proofKey{}, "", err
	}
	if !key.Fits(alg) {
		return proofKey{}, "", fmt.Errorf("%w: the key does not fit the alg", ErrKey)
	}
	return key, alg, nil
}

// proofKey parses a proof's jwk, checks it is a strong public key and
// nothing more, and computes its thumbprint; or returns what it found for
// the same jwk before. A client signs every proof with one key, so only its
// first proof pays for this.
func (v *Verifier) proofKey(raw json.RawMessage) (proofKey, error) {
	if k, ok := v.keys.Get(string(raw)); ok {
		k.cached = true
		return k, nil
	}
	key, err := jwks.ParseKey(raw)
	if err != nil {
		return proofKey{}, fmt.Errorf("%w: %w", ErrKey, err)
	}
	tp, err := keyThumbprint(raw, key.Public)
	if err != nil {
		return proofKey{}, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return proofKey{Key: key, thumbprint: tp}, nil
}

// checkClaims checks the claims of a proof whose signature verified.
func (v *Verifier) checkClaims(c *claims, r Request) error {
	if c.htm != r.Method {
		return ErrMethod
	}
	want, err := NormalizeURL(r.URL)
	if err != nil {
		return fmt.Errorf("%w: the request's URL: %w", ErrURL, err)
	}
	if got, err := NormalizeURL(c.htu); err != nil || got != want {
		return ErrURL
	}
	now := v.opts.Now()
	if c.iat.IsZero() || c.iat.Before(now.Add(-v.opts.MaxAge)) || c.iat.After(now.Add(v.opts.MaxAge)) {
		return ErrIssuedAt
	}
	if c.jti == "" || len(c.jti) > MaxIDLength {
		return ErrID
	}
	var ath string // none for a token request
	if r.AccessToken != "" {
		ath = TokenHash(r.AccessToken)
	}
	if c.ath != ath {
		return ErrTokenHash
	}
	if v.opts.Nonces != nil && !v.opts.Nonces.Valid(c.nonce) {
		return ErrNonce
	}
	return nil
}

// Nonce is the server nonce clients must put in their next proofs, or ""
// when proofs need none.
func (v *Verifier) Nonce() string {
	if v.opts.Nonces == nil {
		return ""
	}
	return v.opts.Nonces.Current()
}

// TokenHash is the ath of a proof for token: the base64url SHA-256 of its
// ASCII bytes.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// segment decodes a base64url segment holding a JSON object into its
// members (see members).
func segment(seg string) (map[string]json.RawMessage, error) {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return nil, ErrMalformed
	}
	return members(b)
}

// members decodes a JSON object whose member names appear once each
// (RFC 7493) into its members by exact name.
func members(b []byte) (map[string]json.RawMessage, error) {
	m, err := jsonobject.Members(b)
	if err != nil {
		return nil, ErrMalformed
	}
	return m, nil
}

// decodeString decodes a JSON string; anything else, absence included, is
// an error.
func decodeString(v json.RawMessage, dst *string) error {
	if len(v) == 0 || v[0] != '"' {
		return errors.New("must be a string")
	}
	return json.Unmarshal(v, dst)
}

// SigningMethod returns the golang-jwt method that signs and verifies
// proofs of alg, one of Algorithms(), or nil for any other: RSASSA-PSS with
// the salt as long as the hash (RFC 7518, section 3.5), and "Ed25519" by
// golang-jwt's EdDSA, which takes Ed25519 keys only. The methods are made
// here rather than registered in golang-jwt's global registry, which every
// token parser in the process would then consult.
func SigningMethod(alg string) jwt.SigningMethod {
	if !slices.Contains(Algorithms(), alg) {
		return nil
	}
	if alg == "Ed25519" {
		return ed25519Method{jwt.SigningMethodEdDSA}
	}
	m := jwt.GetSigningMethod(alg)
	if pss, ok := m.(*jwt.SigningMethodRSAPSS); ok {
		return &jwt.SigningMethodRSAPSS{SigningMethodRSA: pss.SigningMethodRSA, Options: &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}}
	}
	return m
}

// ed25519Method is EdDSA under its RFC 9864 name.
type ed25519Method struct{ *jwt.SigningMethodEd25519 }

func (ed25519Method) Alg() string { return "Ed25519" }
