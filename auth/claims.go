package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/internal/jsonobject"
)

// maxNumericDate is 9999-12-31T23:59:59Z. Later dates, like 1e19, would
// overflow time.Unix and wrap into the past.
const maxNumericDate = 253402300799

// maxSubjectLength bounds the sub claim, which becomes the owner of orders.
const maxSubjectLength = 255

// claims are the claims of an access token. They are decoded strictly: a
// claim name matches only exactly (golang-jwt's default struct decoding
// would let "SUB" stand for "sub"), a claim may appear only once, and a claim
// of the wrong JSON type makes the token malformed rather than being ignored.
type claims struct {
	issuer    string
	subject   string
	audience  jwt.ClaimStrings
	expiresAt *jwt.NumericDate
	notBefore *jwt.NumericDate
	issuedAt  *jwt.NumericDate
	// members are all the claims, by exact name, for those that depend on
	// the issuer's configuration (scopes, client_id, token_use).
	members map[string]json.RawMessage
}

var _ jwt.Claims = (*claims)(nil)

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.expiresAt, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.notBefore, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.issuedAt, nil }
func (c *claims) GetIssuer() (string, error)                   { return c.issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return c.subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return c.audience, nil }

// errClaims marks a claim set that is not well formed.
var errClaims = errors.New("malformed claims")

// UnmarshalJSON decodes the claim set b. The claims keep a copy of b, as
// json.Unmarshaler asks; sharing golang-jwt's buffer instead saved one
// allocation per cold token, which the load test cannot see behind the
// verified-token cache (docs/performance.md).
func (c *claims) UnmarshalJSON(b []byte) error {
	members, err := uniqueMembers(bytes.Clone(b))
	if err != nil {
		return err
	}
	c.members = members
	for name, v := range members {
		if err := c.set(name, v); err != nil {
			return fmt.Errorf("%w: claim %q: %w", errClaims, name, err)
		}
	}
	return nil
}

// set decodes the registered claims; others stay in members.
func (c *claims) set(name string, v json.RawMessage) error {
	var err error
	switch name {
	case "iss":
		err = decodeString(v, &c.issuer)
	case "sub":
		err = decodeString(v, &c.subject)
	case "aud":
		c.audience, err = decodeStrings(v)
	case "exp":
		c.expiresAt, err = decodeNumericDate(v)
	case "nbf":
		c.notBefore, err = decodeNumericDate(v)
	case "iat":
		c.issuedAt, err = decodeNumericDate(v)
	}
	return err
}

// stringClaim returns the string claim name, "" when absent.
func (c *claims) stringClaim(name string) (string, error) {
	v, ok := c.members[name]
	if !ok {
		return "", nil
	}
	var s string
	if err := decodeString(v, &s); err != nil {
		return "", fmt.Errorf("%w: claim %q: %w", errClaims, name, err)
	}
	return s, nil
}

// confirmation returns the token's cnf.jkt, the thumbprint of the key it
// is bound to (RFC 9449, section 6.1), and its cnf["x5t#S256"], the
// thumbprint of the client certificate it is bound to (RFC 8705, section
// 3.1); each is "" when the token has none. A cnf that is not an object, or
// a member of either name that is not a non-empty string, makes the claims
// malformed.
func (c *claims) confirmation() (jkt, x5t string, err error) {
	v, ok := c.members["cnf"]
	if !ok {
		return "", "", nil
	}
	cnf, err := uniqueMembers(v)
	if err != nil {
		return "", "", fmt.Errorf("%w: claim \"cnf\": %w", errClaims, err)
	}
	if jkt, err = confirmationMember(cnf, "jkt"); err != nil {
		return "", "", err
	}
	if x5t, err = confirmationMember(cnf, "x5t#S256"); err != nil {
		return "", "", err
	}
	return jkt, x5t, nil
}

// confirmationMember returns the member name of cnf, "" when absent.
func confirmationMember(cnf map[string]json.RawMessage, name string) (string, error) {
	raw, ok := cnf[name]
	if !ok {
		return "", nil
	}
	var s string
	if err := decodeString(raw, &s); err != nil || s == "" {
		return "", fmt.Errorf("%w: claim \"cnf.%s\" must be a non-empty string", errClaims, name)
	}
	return s, nil
}

// audienceIn returns the values of the audience claim name: aud as a string
// or an array, client_id as a string.
func (c *claims) audienceIn(name string) ([]string, error) {
	if name == AudienceClaimAud {
		return c.audience, nil
	}
	s, err := c.stringClaim(name)
	if s == "" {
		return nil, err
	}
	return []string{s}, err
}

// scopeNames returns the names held by the claim at path: a string of
// space-separated names, or an array of strings. An absent claim holds none.
// A claim whose whole name is path is read first, so a namespaced claim such
// as https://orders.example.com/permissions is found; otherwise each of
// parts, path as splitPath splits it, reaches into an object.
func (c *claims) scopeNames(path string, parts []string) ([]string, error) {
	if v, ok := c.members[path]; ok {
		return namesIn(path, v)
	}
	members := c.members
	for i, part := range parts {
		v, ok := members[part]
		if !ok {
			return nil, nil
		}
		if i == len(parts)-1 {
			return namesIn(path, v)
		}
		var err error
		if members, err = uniqueMembers(v); err != nil {
			return nil, fmt.Errorf("%w: claim %q: %w", errClaims, path, err)
		}
	}
	return nil, nil
}

func namesIn(path string, v json.RawMessage) ([]string, error) {
	ss, err := decodeStrings(v)
	if err != nil {
		return nil, fmt.Errorf("%w: claim %q: %w", errClaims, path, err)
	}
	if v[0] == '"' {
		ss = strings.Split(ss[0], " ")
	}
	return slices.DeleteFunc(ss, func(s string) bool { return s == "" }), nil
}

// splitPath splits a scope claim path on dots, except inside brackets, so
// resource_access[orders.api].roles names the roles of client orders.api. A
// name holding "://" is a URL, a claim of its own.
func splitPath(path string) []string {
	if strings.Contains(path, "://") {
		return []string{path}
	}
	var (
		parts   []string
		part    strings.Builder
		bracket bool
		closed  bool // a bracketed part just ended; its dot is not a new part
	)
	for _, r := range path {
		switch {
		case r == '[' && !bracket:
			if part.Len() > 0 {
				parts = append(parts, part.String())
				part.Reset()
			}
			bracket = true
		case r == ']' && bracket:
			parts = append(parts, part.String())
			part.Reset()
			bracket, closed = false, true
			continue
		case r == '.' && !bracket && closed:
		case r == '.' && !bracket:
			parts = append(parts, part.String())
			part.Reset()
		default:
			part.WriteRune(r)
		}
		closed = false
	}
	if closed {
		return parts
	}
	return append(parts, part.String())
}

// validSubject reports whether sub can name an owner: not empty, not too
// long, and free of control characters.
func validSubject(sub string) bool {
	return sub != "" && len(sub) <= maxSubjectLength && strings.IndexFunc(sub, unicode.IsControl) < 0
}

// uniqueMembers splits a JSON object into its members (see
// jsonobject.Members), and fails if a name appears twice, here or in any
// object within, so that a second "sub" cannot replace the first. The
// members' values share b's memory; each is a valid JSON value, which the
// decoders below rely on.
func uniqueMembers(b []byte) (map[string]json.RawMessage, error) {
	members, err := jsonobject.Members(b)
	switch {
	case errors.Is(err, jsonobject.ErrNotObject):
		return nil, fmt.Errorf("%w: not a JSON object", errClaims)
	case errors.Is(err, jsonobject.ErrTrailing):
		return nil, fmt.Errorf("%w: data after the object", errClaims)
	case err != nil:
		return nil, claimsError(err)
	}
	return members, nil
}

// claimsError describes a failure to tokenize claims by where it happened,
// never by their names or jsontext's own text, which quotes the token's
// bytes: the description goes to the debug log.
func claimsError(err error) error {
	var syntax *jsontext.SyntacticError
	switch {
	case errors.As(err, &syntax) && errors.Is(err, jsontext.ErrDuplicateName):
		return fmt.Errorf("%w: a name appears twice in one object (byte %d)", errClaims, syntax.ByteOffset)
	case errors.As(err, &syntax):
		return fmt.Errorf("%w: invalid JSON at byte %d", errClaims, syntax.ByteOffset)
	}
	return fmt.Errorf("%w: invalid JSON", errClaims)
}

// The decoders of claim values read values uniqueMembers returned, valid
// JSON: with jsontext and strconv, in much less time than encoding/json's
// reflection took on a cold token.

func decodeString(v json.RawMessage, dst *string) error {
	if len(v) == 0 || v[0] != '"' {
		return errors.New("must be a string")
	}
	s, err := jsontext.AppendUnquote(nil, v)
	if err != nil {
		return errors.New("must be a string")
	}
	*dst = string(s)
	return nil
}

var errNotStrings = errors.New("must be a string or an array of strings")

// decodeStrings accepts a string or an array of strings, as aud and scp come.
func decodeStrings(v json.RawMessage) ([]string, error) {
	if len(v) > 0 && v[0] == '"' {
		var s string
		err := decodeString(v, &s)
		return []string{s}, err
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(v))
	if t, err := dec.ReadToken(); err != nil || t.Kind() != '[' {
		return nil, errNotStrings
	}
	ss := []string{}
	for dec.PeekKind() == '"' {
		t, err := dec.ReadToken()
		if err != nil {
			return nil, errNotStrings
		}
		ss = append(ss, t.String())
	}
	if t, err := dec.ReadToken(); err != nil || t.Kind() != ']' {
		return nil, errNotStrings
	}
	return ss, nil
}

// decodeNumericDate accepts a JSON number of seconds since the epoch
// (RFC 7519, section 2) between 0 and year 9999. Strings, negative numbers
// and numbers that would overflow are refused.
func decodeNumericDate(v json.RawMessage) (*jwt.NumericDate, error) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return nil, errors.New("must be a number")
	}
	f, err := strconv.ParseFloat(string(v), 64) // a JSON number, which strconv reads as encoding/json does
	if err != nil {
		return nil, errors.New("must be a number")
	}
	if math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return nil, errors.New("must be a date between 1970 and 9999")
	}
	sec, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))), nil
}
