package auth

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/jwks"
)

// verifySignature runs token through every step of Verify up to and
// including the signature, with keys read from the JWKS document set:
// its shape, its header, the accepted algorithms, the key source's parsing
// and choice of keys, and golang-jwt's verification with each candidate, as
// its parser makes it. Wycheproof's payloads are not claim sets, which
// Verify would refuse before it reached the signature.
func verifySignature(set []byte, token string) error {
	encrypted, err := checkShape(token)
	switch {
	case err != nil:
		return err
	case encrypted:
		return fail(ReasonNotJWS, nil)
	}
	if !strictHeader(token) {
		return fail(ReasonMalformedHeader, nil)
	}
	parts := strings.Split(token, ".")
	p := jwt.NewParser(jwt.WithStrictDecoding())
	hb, err := p.DecodeSegment(parts[0])
	if err != nil {
		return fail(ReasonMalformed, err)
	}
	var h map[string]any
	if err := json.Unmarshal(hb, &h); err != nil {
		return fail(ReasonMalformed, err)
	}
	alg, _ := h["alg"].(string)
	if !slices.Contains(Algorithms(), alg) {
		return fail(ReasonAlgorithm, nil)
	}
	keys, _, err := jwks.ParseSet("https://wycheproof.test", set)
	if err != nil {
		return fail(ReasonKeysUnavailable, err)
	}
	kid, hasKID := h["kid"].(string)
	candidates, _ := jwks.Query{KID: kid, HasKID: hasKID, Alg: alg}.Candidates(keys)
	sig, err := p.DecodeSegment(parts[2])
	if err != nil {
		return fail(ReasonMalformed, err)
	}
	if len(candidates) == 0 {
		return fail(ReasonAlgMismatch, nil)
	}
	for _, k := range candidates {
		if signingMethod(alg).Verify(parts[0]+"."+parts[1], sig, k.Public) == nil {
			return nil
		}
	}
	return fail(ReasonBadSignature, nil)
}

// wycheproof reads a vector file of testdata/wycheproof.
func wycheproof(tb testing.TB, name string, v any) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "wycheproof", name))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatal(err)
	}
}

type jwsVectors struct {
	TestGroups []struct {
		Comment string          `json:"comment"`
		Public  json.RawMessage `json:"public"`
		Private json.RawMessage `json:"private"`
		Tests   []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			JWS     string   `json:"jws"`
			Result  string   `json:"result"`
			Flags   []string `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestWycheproofJOSE runs every JWK and JWS vector of Project Wycheproof
// through the verifier's steps. Nothing invalid is accepted; every valid
// vector is accepted unless it is one we refuse on purpose: symmetric
// algorithms (HS256 and kin, which no API may trust for a third-party
// issuer), algorithms outside Algorithms(), and weak keys.
func TestWycheproofJOSE(t *testing.T) {
	t.Parallel()
	var refused []string
	for _, file := range []string{"json_web_key_test.json", "json_web_signature_test.json"} {
		var v jwsVectors
		wycheproof(t, file, &v)
		accepted, onPurpose := 0, 0
		for _, g := range v.TestGroups {
			set := keySetOf(t, g.Public, g.Private)
			for _, tc := range g.Tests {
				err := verifySignature(set, tc.JWS)
				switch {
				case err == nil && tc.Result != "valid":
					t.Errorf("%s #%d (%s, %s): %s vector accepted", file, tc.TcID, g.Comment, tc.Comment, tc.Result)
				case err == nil:
					accepted++
				case tc.Result == "valid" && refusedOnPurpose(err):
					onPurpose++
					refused = append(refused, fmt.Sprintf("%s#%d", file, tc.TcID))
				case tc.Result == "valid":
					t.Errorf("%s #%d (%s, %s): valid vector refused: %v", file, tc.TcID, g.Comment, tc.Comment, err)
				}
			}
		}
		t.Logf("%s: %d valid vectors accepted, %d refused on purpose, every invalid one refused", file, accepted, onPurpose)
		if accepted == 0 {
			t.Errorf("%s: no vector accepted; the harness is broken", file)
		}
	}
	if !slices.Equal(refused, refusedByDesign) {
		t.Errorf("valid vectors refused on purpose changed:\n got %q\nwant %q", refused, refusedByDesign)
	}
}

// refusedByDesign are the vectors Wycheproof calls valid that the verifier
// refuses on purpose, pinned so that a change to the key source or the
// checks that refuses a good vector fails the test: HS256/384/512 (no
// symmetric algorithm is ever accepted), RFC 7520's PS384 and ES512 under
// keys whose JWK names PS256 and the nonexistent ES521 (a JWK's alg is the
// one it is used with), and base64 vectors with bytes outside base64url.
var refusedByDesign = []string{
	"json_web_key_test.json#2", "json_web_key_test.json#13", "json_web_key_test.json#14", "json_web_key_test.json#15",
	"json_web_signature_test.json#1", "json_web_signature_test.json#346", "json_web_signature_test.json#347",
	"json_web_signature_test.json#348", "json_web_signature_test.json#350", "json_web_signature_test.json#351",
	"json_web_signature_test.json#352", "json_web_signature_test.json#357", "json_web_signature_test.json#358",
	"json_web_signature_test.json#359", "json_web_signature_test.json#372", "json_web_signature_test.json#373",
	"json_web_signature_test.json#376", "json_web_signature_test.json#377",
}

// refusedOnPurpose reports whether err is a refusal by design of a vector
// Wycheproof calls valid: a symmetric or unlisted algorithm, a key set with
// no key we trust, a key whose JWK names another alg than the token's
// (RFC 7517, section 4.4: the alg the key is meant for), or characters
// outside base64url in a compact JWS (RFC 7515, section 7.1).
func refusedOnPurpose(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Reason {
	case ReasonAlgorithm, ReasonKeysUnavailable, ReasonAlgMismatch, ReasonNotJWS:
		return true
	}
	return false
}

// keySetOf returns the JWKS a vector's issuer would publish: its public
// key or key set, else (for symmetric keys, which have no public part) its
// private one.
func keySetOf(tb testing.TB, public, private json.RawMessage) []byte {
	tb.Helper()
	k := public
	if len(k) == 0 {
		k = private
	}
	var probe struct {
		Keys json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(k, &probe); err != nil {
		tb.Fatal(err)
	}
	if probe.Keys != nil {
		return k
	}
	return []byte(`{"keys":[` + string(k) + `]}`)
}

// TestWycheproofEd25519 checks every Ed25519 vector with the key read as a
// JWK by the key source and the signature verified by golang-jwt's EdDSA,
// as for a token; the vectors sign raw messages, not JWS signing inputs.
func TestWycheproofEd25519(t *testing.T) {
	t.Parallel()
	var v struct {
		TestGroups []struct {
			PublicKeyJWK json.RawMessage `json:"publicKeyJwk"`
			Tests        []struct {
				TcID   int    `json:"tcId"`
				Msg    string `json:"msg"`
				Sig    string `json:"sig"`
				Result string `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	wycheproof(t, "ed25519_test.json", &v)
	n := 0
	for _, g := range v.TestGroups {
		key, err := jwks.ParseKey(g.PublicKeyJWK)
		for _, tc := range g.Tests {
			n++
			msg, errMsg := hex.DecodeString(tc.Msg)
			sig, errSig := hex.DecodeString(tc.Sig)
			if errMsg != nil || errSig != nil {
				t.Fatalf("#%d: bad hex", tc.TcID)
			}
			ok := err == nil && signingMethod("EdDSA").Verify(string(msg), sig, key.Public) == nil
			if ok != (tc.Result == "valid") {
				t.Errorf("#%d: verified = %v (key: %v); want the %s result", tc.TcID, ok, err, tc.Result)
			}
		}
	}
	t.Logf("%d Ed25519 vectors", n)
}

// TestWycheproofVectorsAreCopiedWhole guards against a truncated copy.
func TestWycheproofVectorsAreCopiedWhole(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]int{"json_web_key_test.json": 26, "json_web_signature_test.json": 401, "ed25519_test.json": 151} {
		var v struct {
			NumberOfTests int `json:"numberOfTests"`
		}
		wycheproof(t, file, &v)
		if v.NumberOfTests != want {
			t.Errorf("%s has %d tests; want %d", file, v.NumberOfTests, want)
		}
	}
}
