package jwe_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/coffeemesh/orders/auth/jwe"
)

// wycheproofJWE is the part of Wycheproof's json_web_crypto_test.json this
// package reads: its JWE groups.
type wycheproofJWE struct {
	TestGroups []struct {
		Comment string          `json:"comment"`
		Private json.RawMessage `json:"private"`
		Tests   []struct {
			TCID    int             `json:"tcId"`
			Comment string          `json:"comment"`
			JWE     json.RawMessage `json:"jwe"`
			Result  string          `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestWycheproofJWE runs every JWE vector through the decryption step:
// ParseHeader, then Decrypt with the group's key. The valid vector of the
// ECDH-ES+A128KW group decrypts; every invalid one (tampered tag,
// ciphertext, IV, encrypted key or header, missing parts, an epk off its
// curve, JSON serialization) is refused. The AES key wrap group's key is
// symmetric, which ParseKeys refuses, and its alg A256KW is refused by
// ParseHeader, valid vector included. The EC vectors name no kid while the
// group's key has one, so the key is given without it, as an operator
// whose issuer sends no kid must (Decrypt tries a kid-less token only with
// kid-less keys).
func TestWycheproofJWE(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../testdata/wycheproof/json_web_crypto_test.json")
	if err != nil {
		t.Fatal(err)
	}
	var file wycheproofJWE
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, g := range file.TestGroups {
		if !strings.HasPrefix(g.Comment, "jwe_") {
			continue
		}
		keys, keyErr := jwe.ParseKeys(withoutKID(t, g.Private))
		for _, tc := range g.Tests {
			ran++
			t.Run(fmt.Sprintf("%d %s %s", tc.TCID, g.Comment, tc.Comment), func(t *testing.T) {
				var token string
				if json.Unmarshal(tc.JWE, &token) != nil {
					token = string(tc.JWE) // JSON serialization: not compact
				}
				plaintext, err := decrypt(keys, keyErr, token)
				switch {
				case g.Comment == "jwe_aes" && !errors.Is(err, jwe.ErrAlgorithm) && !errors.Is(err, jwe.ErrMalformed):
					t.Errorf("decrypt = %v; want the header refused", err)
				case tc.Result == "valid" && keyErr == nil && err != nil:
					t.Errorf("decrypt = %v; want the plaintext", err)
				case tc.Result == "valid" && keyErr == nil && len(plaintext) == 0:
					t.Errorf("decrypt = empty plaintext; want some")
				case tc.Result != "valid" && err == nil:
					t.Errorf("decrypt = %q; want an error", plaintext)
				}
			})
		}
		if g.Comment == "jwe_aes" && keyErr == nil {
			t.Errorf("ParseKeys accepted the symmetric key of %s", g.Comment)
		}
	}
	if ran != 34 {
		t.Errorf("ran %d JWE vectors; want the file's 34", ran)
	}
}

// decrypt is the decryption step: the header check, then the keys.
func decrypt(keys *jwe.Keys, keyErr error, token string) ([]byte, error) {
	h, err := jwe.ParseHeader(token)
	if err != nil {
		return nil, err
	}
	if keyErr != nil {
		return nil, errors.New("no usable key")
	}
	return keys.Decrypt(token, h)
}

// withoutKID returns the JWK jwk without its kid.
func withoutKID(tb testing.TB, jwk json.RawMessage) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(jwk, &m); err != nil {
		tb.Fatal(err)
	}
	delete(m, "kid")
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
