package dpop

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

// errClaims marks a claim set that is not well formed.
var errClaims = errors.New("malformed claims")

// claims are the claims of a proof, decoded strictly: by exact name, each
// once, each of its JSON type.
type claims struct {
	jti, htm, htu, ath, nonce string
	iat                       time.Time
}

// UnmarshalJSON decodes the claim set b; a claim of the wrong type is an
// error, an absent one stays zero.
func (c *claims) UnmarshalJSON(b []byte) error {
	m, err := members(b)
	if err != nil {
		return fmt.Errorf("%w: not a JSON object whose names appear once", errClaims)
	}
	for name, dst := range map[string]*string{"jti": &c.jti, "htm": &c.htm, "htu": &c.htu, "ath": &c.ath, "nonce": &c.nonce} {
		if v, ok := m[name]; ok && decodeString(v, dst) != nil {
			return fmt.Errorf("%w: claim %q must be a string", errClaims, name)
		}
	}
	if v, ok := m["iat"]; ok {
		var f float64
		if len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &f) != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
			return fmt.Errorf("%w: claim \"iat\" must be a date", errClaims)
		}
		sec, frac := math.Modf(f)
		c.iat = time.Unix(int64(sec), int64(frac*1e9))
	}
	return nil
}
