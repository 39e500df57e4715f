package dpop

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

// claims are the claims of a proof, decoded strictly: by exact name, each
// once, each of its JSON type.
type claims struct {
	jti, htm, htu, ath, nonce string
	iat                       time.Time
}

// parseClaims decodes the members of a proof's claim set; a claim of the
// wrong type is ErrMalformed, an absent one stays zero.
func parseClaims(m map[string]json.RawMessage) (claims, error) {
	var c claims
	for name, dst := range map[string]*string{"jti": &c.jti, "htm": &c.htm, "htu": &c.htu, "ath": &c.ath, "nonce": &c.nonce} {
		if v, ok := m[name]; ok && decodeString(v, dst) != nil {
			return claims{}, fmt.Errorf("%w: claim %q must be a string", ErrMalformed, name)
		}
	}
	if v, ok := m["iat"]; ok {
		var f float64
		if len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &f) != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
			return claims{}, fmt.Errorf("%w: claim \"iat\" must be a date", ErrMalformed)
		}
		sec, frac := math.Modf(f)
		c.iat = time.Unix(int64(sec), int64(frac*1e9))
	}
	return c, nil
}
