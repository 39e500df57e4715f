package auth_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/auth/jwe"
	"github.com/coffeemesh/orders/internal/devissuer"
)

// BenchmarkVerify measures the verification of a valid token seen for the
// first time (a cold token: the cache is off), with the issuer's keys
// already fetched, for each kind of key.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"RS256", "PS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			idp := authtest.NewIdP(b)
			key := authtest.NewKey(b, "bench-"+alg, alg)
			idp.SetKeys(key)
			cfg := idp.Config()
			cfg.CacheSize = 0
			v, err := auth.NewVerifier(cfg, authtest.Discard())
			if err != nil {
				b.Fatal(err)
			}
			tok := idp.Sign(b, key, nil, idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: "orders:read orders:write"}))
			if _, err := v.Verify(b.Context(), tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRefuses measures how fast hostile tokens are refused: none
// may cost more than a valid one.
func BenchmarkVerifyRefuses(b *testing.B) {
	idp := authtest.NewIdP(b)
	v := idp.NewVerifier(b)
	good := idp.Token(b, authtest.Claims{Subject: "alice"})
	if _, err := v.Verify(b.Context(), good); err != nil {
		b.Fatal(err)
	}
	parts := strings.Split(good, ".")
	for name, tok := range map[string]string{
		"thousands of dots": strings.Repeat(".", 16<<10),
		"16 KB of letters":  strings.Repeat("A", 16<<10),
		"bad signature":     parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"huge payload":      parts[0] + "." + strings.Repeat("e", 15<<10) + "." + parts[2],
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), tok); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// FuzzVerify signs claims and headers the fuzzer writes with the IdP's
// keys, then may change one character of the token: a changed token is
// never accepted, and an accepted one holds exactly the claims it was
// signed with (iss this IdP, aud this API, exp to come, sub the
// principal's). The fuzzer's inputs are what gets signed, not tokens:
// each fuzzing worker is a process of its own with keys and an IdP URL of
// its own, so a token made in one would be refused by all others, and
// fuzzing would explore only refusals. "$ISS" in the claims stands for the
// IdP's URL. The seeds must each give a token this process accepts.
func FuzzVerify(f *testing.F) {
	idp := authtest.NewIdP(f)
	var keys []devissuer.Key
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		keys = append(keys, authtest.NewKey(f, "fuzz-"+alg, alg))
	}
	idp.SetKeys(keys...)
	cfg := idp.Config()
	cfg.CacheSize = 0
	v, err := auth.NewVerifier(cfg, authtest.Discard())
	if err != nil {
		f.Fatal(err)
	}
	build := func(tb testing.TB, choice uint8, header, claims []byte, at uint16, to uint8) (tok string, changed bool) {
		key := keys[int(choice)%len(keys)]
		tok = authtest.SignBytes(tb, key, header, bytes.ReplaceAll(claims, []byte("$ISS"), []byte(idp.URL())))
		return changeOne(tok, at, to)
	}
	for i, key := range keys {
		header := []byte(`{"alg":"` + key.Alg + `","kid":"` + key.ID + `","typ":"at+jwt"}`)
		claims := []byte(`{"iss":"$ISS","sub":"alice","aud":"` + authtest.Audience + `","exp":4102444800,"scope":"orders:read"}`)
		tok, _ := build(f, uint8(i), header, claims, 0, 0)
		if _, err := v.Verify(f.Context(), tok); err != nil {
			f.Fatalf("seed %d: Verify = %v; want it accepted", i, err)
		}
		f.Add(uint8(i), header, claims, uint16(0), uint8(0))
		f.Add(uint8(i), header, claims, uint16(40), uint8(1))
	}
	f.Fuzz(func(t *testing.T, choice uint8, header, claims []byte, at uint16, to uint8) {
		tok, changed := build(t, choice, header, claims, at, to)
		p, err := v.Verify(t.Context(), tok)
		if err != nil {
			return
		}
		if changed {
			t.Fatalf("accepted a token changed after signing: %q", tok)
		}
		signed := strings.Split(tok, ".")[1]
		payload, err := base64.RawURLEncoding.DecodeString(signed)
		if err != nil {
			t.Fatalf("accepted a token whose claims are not base64url: %q", tok)
		}
		checkClaims(t, payload, p, idp.URL())
	})
}

// changeOne returns tok with its character at (modulo its length) replaced
// by the base64url character to (modulo 64), unless to is 0, and whether
// that changed the token. Dots stay: a changed token keeps its shape.
func changeOne(tok string, at uint16, to uint8) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := int(at) % len(tok)
	if to == 0 || tok[i] == '.' {
		return tok, false
	}
	out := tok[:i] + string(alphabet[int(to)%64]) + tok[i+1:]
	return out, out != tok
}

// checkClaims fails t unless payload, the claims of a token Verify
// accepted as p, read by encoding/json (the verifier refuses a claim
// named twice, so both read the same), has iss the issuer, aud this API,
// exp to come and sub p's subject.
func checkClaims(t *testing.T, payload []byte, p auth.Principal, issuer string) {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatalf("accepted claims encoding/json does not read: %v: %q", err, payload)
	}
	exp, _ := c["exp"].(float64)
	aud := c["aud"]
	if list, ok := aud.([]any); ok && slices.Contains(list, any(authtest.Audience)) {
		aud = authtest.Audience
	}
	if c["iss"] != issuer || aud != authtest.Audience || exp < float64(time.Now().Add(-time.Minute).Unix()) || c["sub"] != p.Subject || p.Issuer != issuer {
		t.Fatalf("accepted claims %q as %+v; want iss %q, aud %q, exp to come and sub the principal's", payload, p, issuer, authtest.Audience)
	}
}

// BenchmarkVerifyEncrypted measures an encrypted token (a JWE holding an
// RS256 token) seen for the first time, for each kind of decryption, and
// seen again, when the cache answers before any decryption: "cached"
// should cost what a cached plain token ("JWS cached") does.
func BenchmarkVerifyEncrypted(b *testing.B) {
	idp := authtest.NewIdP(b)
	rsaKey := authtest.NewDecryptionKey(b, "rsa", "RSA")
	ecKey := authtest.NewDecryptionKey(b, "ec", "EC")
	signed := idp.Token(b, authtest.Claims{Subject: "alice", Scope: "orders:read orders:write"})
	verifier := func(cacheSize int) *auth.Verifier {
		cfg := idp.Config()
		cfg.CacheSize = cacheSize
		cfg.DecryptionKeys = authtest.KeySet(b, rsaKey, ecKey)
		v, err := auth.NewVerifier(cfg, authtest.Discard())
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	cold, warm := verifier(0), verifier(auth.DefaultCacheSize)
	cases := []struct {
		name string
		v    *auth.Verifier
		tok  string
	}{
		{"JWS first use", cold, signed},
		{"RSA-OAEP-256 A256GCM first use", cold, authtest.Encrypt(b, signed, rsaKey, authtest.Encryption{})},
		{"ECDH-ES A256GCM first use", cold, authtest.Encrypt(b, signed, ecKey, authtest.Encryption{})},
		{"ECDH-ES+A128KW A128CBC-HS256 first use", cold, authtest.Encrypt(b, signed, ecKey, authtest.Encryption{Alg: "ECDH-ES+A128KW", Enc: "A128CBC-HS256"})},
		{"JWS cached", warm, signed},
		{"RSA-OAEP-256 A256GCM cached", warm, authtest.Encrypt(b, signed, rsaKey, authtest.Encryption{})},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if _, err := c.v.Verify(b.Context(), c.tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.v.Verify(b.Context(), c.tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzVerifyEncrypted encrypts, with each accepted pair of algorithms,
// a plaintext the fuzzer writes or a token the IdP signs for a subject
// the fuzzer writes, under protected header members the fuzzer adds, then
// may change one character: a changed token is never accepted, and an
// accepted one holds a signed token that Verify accepts in the clear, as
// the same principal. A signed token encrypted with nothing changed and no
// member added but a cty of JWT, or none, is accepted whenever its clear
// form is. As in
// FuzzVerify, the inputs are what gets encrypted, not tokens, so that
// every fuzzing worker encrypts them to its own keys.
func FuzzVerifyEncrypted(f *testing.F) {
	idp := authtest.NewIdP(f)
	rsaKey := authtest.NewDecryptionKey(f, "rsa", "RSA")
	ecKey := authtest.NewDecryptionKey(f, "", "EC")
	cfg := idp.Config()
	cfg.CacheSize = 0
	cfg.DecryptionKeys = authtest.KeySet(f, rsaKey, ecKey)
	v, err := auth.NewVerifier(cfg, authtest.Discard())
	if err != nil {
		f.Fatal(err)
	}
	type encryption struct {
		to       authtest.DecryptionKey
		alg, enc string
	}
	var encryptions []encryption
	for _, alg := range jwe.KeyAlgorithms() {
		to := rsaKey
		if strings.HasPrefix(alg, "ECDH") {
			to = ecKey
		}
		for _, enc := range jwe.ContentAlgorithms() {
			encryptions = append(encryptions, encryption{to, alg, enc})
		}
	}
	for i := range encryptions {
		f.Add(uint8(i), []byte(`{"cty":"JWT"}`), "alice", true, uint16(0), uint8(0))
	}
	f.Add(uint8(0), []byte(`{}`), "alice", true, uint16(30), uint8(7))
	f.Add(uint8(2), []byte(`{"kid":"ec"}`), "alice", true, uint16(0), uint8(0))
	f.Add(uint8(4), []byte(`{"cty":"JWT"}`), `{"iss":"x","sub":"mallory"}`, false, uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, choice uint8, header []byte, inner string, sign bool, at uint16, to uint8) {
		e := encryptions[int(choice)%len(encryptions)]
		plaintext := inner
		if sign {
			plaintext = idp.Token(t, authtest.Claims{Subject: inner, Scope: "orders:read"})
		}
		var members map[string]any
		if json.Unmarshal(header, &members) != nil {
			members = nil
		}
		tok, err := encrypt(plaintext, e.to, e.alg, e.enc, members)
		if err != nil {
			return // go-jose would not encrypt so: nothing to verify
		}
		tok, changed := changeOne(tok, at, to)
		p, err := v.Verify(t.Context(), tok)
		clear, clearErr := v.Verify(t.Context(), plaintext)
		switch {
		case err != nil && sign && !changed && onlyCTY(members) && clearErr == nil:
			t.Fatalf("refused a signed token %s %s-encrypted that is accepted in the clear: %v", e.alg, e.enc, err)
		case err != nil:
		case changed:
			t.Fatalf("accepted an encrypted token changed after encryption: %q", tok)
		case clearErr != nil:
			t.Fatalf("accepted an encrypted token whose plaintext is refused in the clear (%v): %q", clearErr, plaintext)
		case p.Subject != clear.Subject || p.Issuer != clear.Issuer || !slices.Equal(p.Scopes, clear.Scopes):
			t.Fatalf("accepted an encrypted token as %+v, its plaintext as %+v", p, clear)
		}
	})
}

// onlyCTY reports whether members, protected header members to add, at
// most set cty to JWT or leave it out.
func onlyCTY(members map[string]any) bool {
	cty, ok := members["cty"]
	return len(members) == 0 || (len(members) == 1 && ok && (cty == nil || cty == "JWT"))
}

// encrypt encrypts plaintext to the public key of to under its kid, as a
// nested JWT (cty JWT) unless members, the protected header members
// added, say otherwise; a member whose value is null is left out.
func encrypt(plaintext string, to authtest.DecryptionKey, alg, enc string, members map[string]any) (string, error) {
	opts := (&jose.EncrypterOptions{}).WithContentType("JWT")
	for name, v := range members {
		if v == nil {
			delete(opts.ExtraHeaders, jose.HeaderKey(name))
			continue
		}
		opts = opts.WithHeader(jose.HeaderKey(name), v)
	}
	encrypter, err := jose.NewEncrypter(jose.ContentEncryption(enc), jose.Recipient{Algorithm: jose.KeyAlgorithm(alg), Key: to.Private.Public(), KeyID: to.KID}, opts)
	if err != nil {
		return "", err
	}
	obj, err := encrypter.Encrypt([]byte(plaintext))
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}
