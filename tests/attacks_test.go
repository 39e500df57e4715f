package tests

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/internal/devissuer"
	"github.com/coffeemesh/orders/repository/repotest"
)

// attack is one hostile request against alice's order.
type attack struct {
	name string
	// auth is the Authorization header values; nil sends none.
	auth []string
	// query is appended to the path; body and contentType make a body.
	query, body, contentType string
	// status and code are the answer: code is the WWW-Authenticate error
	// ("" for a bare challenge).
	status int
	code   string
	// dpop is the DPoP header values; scheme is that of the challenge,
	// "" for Bearer.
	dpop   []string
	scheme string
	// cert is the values of the client-certificate header a proxy sends.
	cert []string
	// via is the server the request goes to; nil for the suite's own.
	via *env
}

func bearer(tok string) []string { return []string{"Bearer " + tok} }

func refused(name, tok string) attack {
	return attack{name: name, auth: bearer(tok), status: http.StatusUnauthorized, code: "invalid_token"}
}

// TestAttacks is the adversarial suite: each token or request below claims
// to be alice with every scope, tries to cancel her order, and must be
// refused with the RFC 6750 answer, leaving the order as it was. The
// suite's server reads client certificates from a proxy on 127.0.0.1; a
// replica on the same database trusts no proxy there and, where there is a
// Redis (always under CI=true), shares the server's store of used DPoP
// proofs in it.
func TestAttacks(t *testing.T) {
	t.Parallel()
	redisURL, noRedis := reachableRedis(t)
	if noRedis != nil && os.Getenv("CI") == "true" {
		t.Fatalf("%v (CI=true: Redis tests must run)", noRedis)
	}
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		shared := func(c *envConfig) {
			c.db = db
			if noRedis == nil {
				c.auth.DPoP.Replay = redisReplay(t, redisURL)
			}
		}
		e := newEnvFor(t, nil, func(c *envConfig) {
			shared(c)
			c.auth.ClientCerts = auth.ClientCertConfig{Header: certHeader, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		})
		replica := newEnvFor(t, e.idp, func(c *envConfig) {
			shared(c)
			c.auth.DPoP.PublicURL = e.url
			c.auth.ClientCerts = auth.ClientCertConfig{Header: certHeader, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
		})
		untrusting := replica
		if noRedis != nil {
			t.Logf("%v: no replica shares the store of used proofs, and the case of a proof replayed on one is left out", noRedis)
			replica = nil
		}
		idp := e.idp
		rs := idp.Keys()[0]
		ec := authtest.NewKey(t, "ec-p256", "ES256")
		ed := authtest.NewKey(t, "ed", "EdDSA")
		idp.SetKeys(rs, ec, ed)
		attacker := authtest.NewKey(t, "attacker", "RS256")
		attackerEC := authtest.NewKey(t, "attacker-ec", "ES256")

		var fetched atomic.Int64
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fetched.Add(1)
			jwks, _ := attacker.JWK()
			fmt.Fprintf(w, `{"keys":[%s],"issuer":"x","jwks_uri":"x"}`, jwks)
		}))
		t.Cleanup(evil.Close)

		alice := e.token(t, "alice", rw)
		hers := e.create(t, alice, item{"flat white", "medium", 1})
		now := time.Now()

		claims := func(extra map[string]any) jwt.MapClaims {
			return idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: rw, Extra: extra})
		}
		sign := func(key devissuer.Key, header map[string]any, c jwt.MapClaims) string {
			return idp.Sign(t, key, header, c)
		}
		withClaims := func(extra map[string]any) string { return sign(rs, nil, claims(extra)) }
		compact := func(header map[string]any, sig []byte) string {
			return authtest.Compact(t, header, claims(nil), sig)
		}
		good := withClaims(nil)
		parts := strings.Split(good, ".")
		enc := base64.RawURLEncoding

		// HMAC keyed with the public key, in every encoding an attacker tries.
		rsaPub := rs.Signer.Public().(*rsa.PublicKey)
		spki, err := x509.MarshalPKIXPublicKey(rsaPub)
		if err != nil {
			t.Fatal(err)
		}
		pkcs1 := x509.MarshalPKCS1PublicKey(rsaPub)
		pemPKIX := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
		pemPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1})
		jwkJSON, err := rs.JWK()
		if err != nil {
			t.Fatal(err)
		}
		hmac := func(alg string, secret []byte) string {
			tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims(nil))
			tok.Header["kid"] = rs.ID
			s, err := tok.SignedString(secret)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}

		// ECDSA signatures that are no signatures: r = s = 0 and r = s = n
		// (CVE-2022-21449), and a DER-encoded signature instead of r || s.
		ecHeader := map[string]any{"alg": "ES256", "kid": ec.ID, "typ": "at+jwt"}
		n := ec.Signer.Public().(*ecdsa.PublicKey).Curve.Params().N.FillBytes(make([]byte, 32))
		ecSigning := enc.EncodeToString(mustJSON(t, ecHeader)) + "." + enc.EncodeToString(mustJSON(t, claims(nil)))
		digest := sha256.Sum256([]byte(ecSigning))
		der, err := ecdsa.SignASN1(rand.Reader, ec.Signer.(*ecdsa.PrivateKey), digest[:])
		if err != nil {
			t.Fatal(err)
		}

		// A self-signed certificate for the attacker's key, offered in x5c.
		cert, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix0("issuer"),
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix0("issuer")},
			attacker.Signer.Public(), attacker.Signer)
		if err != nil {
			t.Fatal(err)
		}
		attackerJWK := map[string]any{}
		if raw, err := attacker.JWK(); err == nil {
			mustUnmarshal(t, raw, &attackerJWK)
		}
		deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
		flip := func(s string, i int) string {
			b := []byte(s)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return string(b)
		}
		forged := strings.Split(withClaims(map[string]any{"scope": "orders:read orders:write admin"}), ".")[1]

		attacks := []attack{
			// alg none, in every spelling, and missing or odd algs.
			refused("alg none unsigned", compact(map[string]any{"alg": "none", "typ": "JWT"}, nil)),
			refused("alg none with a signature", compact(map[string]any{"alg": "none"}, []byte("sig"))),
			refused("alg None", compact(map[string]any{"alg": "None"}, nil)),
			refused("alg NONE", compact(map[string]any{"alg": "NONE"}, nil)),
			refused("alg nOnE", compact(map[string]any{"alg": "nOnE"}, nil)),
			refused("alg none with a real kid", compact(map[string]any{"alg": "none", "kid": rs.ID}, nil)),
			refused("alg missing", sign(rs, map[string]any{"alg": authtest.Omit}, claims(nil))),
			refused("alg empty", sign(rs, map[string]any{"alg": ""}, claims(nil))),
			refused("alg null", sign(rs, map[string]any{"alg": nil}, claims(nil))),
			refused("alg a number", compact(map[string]any{"alg": 256, "kid": rs.ID}, []byte("sig"))),
			refused("alg an array", compact(map[string]any{"alg": []string{"RS256"}, "kid": rs.ID}, []byte("sig"))),
			refused("alg unknown", compact(map[string]any{"alg": "RS1", "kid": rs.ID}, []byte("sig"))),
			// Algorithm confusion: HMAC keyed with the public key.
			refused("HS256 with PEM PKIX key", hmac("HS256", pemPKIX)),
			refused("HS256 with PEM PKIX key without trailing newline", hmac("HS256", []byte(strings.TrimSuffix(string(pemPKIX), "\n")))),
			refused("HS256 with PEM PKCS1 key", hmac("HS256", pemPKCS1)),
			refused("HS256 with PEM PKCS1 key without trailing newline", hmac("HS256", []byte(strings.TrimSuffix(string(pemPKCS1), "\n")))),
			refused("HS256 with DER PKIX key", hmac("HS256", spki)),
			refused("HS256 with DER PKCS1 key", hmac("HS256", pkcs1)),
			refused("HS256 with JWK JSON", hmac("HS256", jwkJSON)),
			refused("HS256 with raw modulus", hmac("HS256", rsaPub.N.Bytes())),
			refused("HS384 with PEM PKIX key", hmac("HS384", pemPKIX)),
			refused("HS512 with PEM PKIX key", hmac("HS512", pemPKIX)),
			refused("RSA key with PS256 though its JWK names RS256", sign(devissuer.Key{ID: rs.ID, Alg: "PS256", Signer: rs.Signer}, nil, claims(nil))),
			refused("RSA signature under the EC kid", sign(devissuer.Key{ID: ec.ID, Alg: "RS256", Signer: rs.Signer}, nil, claims(nil))),
			refused("ES256 signature under the RSA kid", sign(devissuer.Key{ID: rs.ID, Alg: "ES256", Signer: attackerEC.Signer}, nil, claims(nil))),
			refused("EdDSA alg under the RSA kid", sign(devissuer.Key{ID: rs.ID, Alg: "EdDSA", Signer: ed.Signer}, nil, claims(nil))),
			refused("ES384 alg with a P-256 key", compact(map[string]any{"alg": "ES384", "kid": ec.ID}, make([]byte, 96))),
			// Signatures.
			refused("tampered payload", parts[0]+"."+forged+"."+parts[2]),
			refused("flipped bit in the signature", parts[0]+"."+parts[1]+"."+flip(parts[2], 10)),
			refused("flipped bit in the payload", parts[0]+"."+flip(parts[1], 20)+"."+parts[2]),
			refused("stripped signature", parts[0]+"."+parts[1]+"."),
			refused("no signature segment", parts[0]+"."+parts[1]),
			refused("truncated signature", parts[0]+"."+parts[1]+"."+parts[2][:len(parts[2])/2]),
			refused("signature with extra bytes", parts[0]+"."+parts[1]+"."+parts[2]+"AAAA"),
			refused("another key's signature under a real kid", sign(devissuer.Key{ID: rs.ID, Alg: "RS256", Signer: attacker.Signer}, nil, claims(nil))),
			refused("another token's signature", parts[0]+"."+parts[1]+"."+strings.Split(withClaims(map[string]any{"jti": "x"}), ".")[2]),
			refused("ECDSA r = s = 0", ecSigning+"."+enc.EncodeToString(make([]byte, 64))),
			refused("ECDSA r = s = n", ecSigning+"."+enc.EncodeToString(append(append([]byte{}, n...), n...))),
			refused("DER-encoded ECDSA signature", ecSigning+"."+enc.EncodeToString(der)),
			// Keys offered by the token, and kid tricks.
			refused("embedded jwk with the attacker's kid", sign(attacker, map[string]any{"jwk": attackerJWK}, claims(nil))),
			refused("embedded jwk under a real kid", sign(devissuer.Key{ID: rs.ID, Alg: "RS256", Signer: attacker.Signer}, map[string]any{"jwk": attackerJWK}, claims(nil))),
			refused("jku to the attacker's JWKS", sign(attacker, map[string]any{"jku": evil.URL + "/jwks.json"}, claims(nil))),
			refused("x5u to the attacker's certificate", sign(attacker, map[string]any{"x5u": evil.URL + "/cert.pem"}, claims(nil))),
			refused("x5c with the attacker's certificate", sign(attacker, map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(cert)}}, claims(nil))),
			refused("iss naming the attacker's server", sign(attacker, nil, claims(map[string]any{"iss": evil.URL}))),
			refused("kid path traversal", sign(attacker, map[string]any{"kid": "../../../../../../dev/null"}, claims(nil))),
			refused("kid SQL injection", sign(attacker, map[string]any{"kid": "x' UNION SELECT 'secret' --"}, claims(nil))),
			refused("kid shell metacharacters", sign(attacker, map[string]any{"kid": "$(touch /tmp/pwned); `id` | nc"}, claims(nil))),
			refused("kid of 5 KB", sign(attacker, map[string]any{"kid": strings.Repeat("k", 5<<10)}, claims(nil))),
			refused("kid a number", sign(rs, map[string]any{"kid": 1}, claims(nil))),
			refused("kid an object", sign(rs, map[string]any{"kid": map[string]any{"$ne": ""}}, claims(nil))),
			refused("kid empty", sign(rs, map[string]any{"kid": ""}, claims(nil))),
			refused("crit naming an unknown extension", sign(rs, map[string]any{"crit": []string{"urn:example:ext"}, "urn:example:ext": true}, claims(nil))),
			refused("crit b64 false", sign(rs, map[string]any{"crit": []string{"b64"}, "b64": false}, claims(nil))),
			// Claims.
			refused("expired", withClaims(map[string]any{"exp": now.Add(-time.Hour).Unix()})),
			refused("expired just beyond the leeway", withClaims(map[string]any{"exp": now.Add(-31 * time.Second).Unix()})),
			refused("exp zero", withClaims(map[string]any{"exp": 0})),
			refused("exp missing", withClaims(map[string]any{"exp": authtest.Omit})),
			refused("exp a string", withClaims(map[string]any{"exp": fmt.Sprint(now.Add(time.Hour).Unix())})),
			refused("exp negative", withClaims(map[string]any{"exp": -1})),
			refused("exp beyond year 9999", withClaims(map[string]any{"exp": 1e19})),
			refused("exp null", withClaims(map[string]any{"exp": nil})),
			refused("nbf in the future", withClaims(map[string]any{"nbf": now.Add(time.Hour).Unix()})),
			refused("nbf 1e19 does not wrap into the past", withClaims(map[string]any{"nbf": 1e19})),
			refused("nbf a string", withClaims(map[string]any{"nbf": "0"})),
			refused("iat in the future", withClaims(map[string]any{"iat": now.Add(time.Hour).Unix()})),
			refused("iat negative", withClaims(map[string]any{"iat": -5})),
			refused("iss with a trailing slash", withClaims(map[string]any{"iss": idp.URL() + "/"})),
			refused("iss in upper case", withClaims(map[string]any{"iss": strings.ToUpper(idp.URL())})),
			refused("iss missing", withClaims(map[string]any{"iss": authtest.Omit})),
			refused("iss an array", withClaims(map[string]any{"iss": []string{idp.URL()}})),
			refused("aud missing", withClaims(map[string]any{"aud": authtest.Omit})),
			refused("aud wrong", withClaims(map[string]any{"aud": "https://billing.example.com"})),
			refused("aud a prefix of ours", withClaims(map[string]any{"aud": authtest.Audience[:len(authtest.Audience)-3]})),
			refused("aud with ours as a prefix", withClaims(map[string]any{"aud": authtest.Audience + "/admin"})),
			refused("aud array without ours", withClaims(map[string]any{"aud": []string{"a", "b"}})),
			refused("aud empty array", withClaims(map[string]any{"aud": []string{}})),
			refused("aud a number", withClaims(map[string]any{"aud": 1})),
			refused("sub missing", withClaims(map[string]any{"sub": authtest.Omit})),
			refused("sub empty", withClaims(map[string]any{"sub": ""})),
			refused("sub a number", withClaims(map[string]any{"sub": 7})),
			refused("sub null", withClaims(map[string]any{"sub": nil})),
			refused("sub an array", withClaims(map[string]any{"sub": []string{"alice"}})),
			refused("two sub claims", authtest.SignBytes(t, rs, mustJSON(t, map[string]any{"alg": "RS256", "kid": rs.ID}),
				[]byte(fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d,"sub":"bob","scope":%q,"sub":"alice"}`, idp.URL(), authtest.Audience, now.Add(time.Hour).Unix(), rw)))),
			refused("two scope claims", authtest.SignBytes(t, rs, mustJSON(t, map[string]any{"alg": "RS256", "kid": rs.ID}),
				[]byte(fmt.Sprintf(`{"iss":%q,"aud":%q,"exp":%d,"sub":"alice","scope":"orders:read","scope":%q}`, idp.URL(), authtest.Audience, now.Add(time.Hour).Unix(), rw)))),
			refused("ID token by token_use", withClaims(map[string]any{"token_use": "id"})),
			refused("ID token for a client", withClaims(map[string]any{"aud": "spa-client-id", "nonce": "n-0S6_WzA2Mj", "azp": "spa-client-id"})),
			refused("typ dpop+jwt", sign(rs, map[string]any{"typ": "dpop+jwt"}, claims(nil))),
			refused("typ secevent+jwt", sign(rs, map[string]any{"typ": "secevent+jwt"}, claims(nil))),
			refused("typ a number", sign(rs, map[string]any{"typ": 1}, claims(nil))),
			// Parsing and size.
			refused("thousands of dots", strings.Repeat(".", 5000)),
			refused("too long", good+strings.Repeat("A", 20<<10)),
			refused("deeply nested header", enc.EncodeToString([]byte(deep))+"."+parts[1]+"."+parts[2]),
			refused("header not JSON", enc.EncodeToString([]byte("alg=RS256"))+"."+parts[1]+"."+parts[2]),
			refused("two alg members, none first", authtest.SignBytes(t, rs, []byte(`{"alg":"none","alg":"RS256","kid":"`+rs.ID+`"}`), mustJSON(t, claims(nil)))),
			refused("two typ members", authtest.SignBytes(t, rs, []byte(`{"alg":"RS256","kid":"`+rs.ID+`","typ":"dpop+jwt","typ":"at+jwt"}`), mustJSON(t, claims(nil)))),
			refused("two kid members", authtest.SignBytes(t, rs, []byte(`{"alg":"RS256","kid":"x","kid":"`+rs.ID+`"}`), mustJSON(t, claims(nil)))),
			refused("header not UTF-8", authtest.SignBytes(t, rs, []byte("{\"alg\":\"RS256\",\"kid\":\""+rs.ID+"\",\"x\":\"\xff\"}"), mustJSON(t, claims(nil)))),
			refused("payload a JSON array", parts[0]+"."+enc.EncodeToString([]byte(`["alice"]`))+"."+parts[2]),
			refused("payload null", parts[0]+"."+enc.EncodeToString([]byte(`null`))+"."+parts[2]),
			refused("standard base64 characters", strings.ReplaceAll(strings.ReplaceAll(good, "-", "+"), "_", "/")+"+/"),
			refused("padding", good+"=="),
			refused("five segments (JWE)", good+".AAAA.BBBB"),
			refused("empty segments", ".."),
			refused("non-ASCII", good+"é"),
			// Transport.
			{name: "two Authorization headers", auth: []string{"Bearer " + good, "Bearer " + alice}, status: 400, code: "invalid_request"},
			{name: "header and access_token query", auth: bearer(good), query: "?access_token=" + alice, status: 400, code: "invalid_request"},
			{name: "header and access_token body", auth: bearer(good), body: "access_token=" + alice, contentType: "application/x-www-form-urlencoded", status: 400, code: "invalid_request"},
			{name: "two tokens in one header", auth: []string{"Bearer " + good + " " + alice}, status: 400, code: "invalid_request"},
			{name: "Token scheme", auth: []string{"Token " + good}, status: 401},
			{name: "JWT scheme", auth: []string{"JWT " + good}, status: 401},
			{name: "bare token", auth: []string{good}, status: 401},
			{name: "Basic scheme", auth: []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:secret"))}, status: 401},
			{name: "token in the query only", query: "?access_token=" + alice, status: 401},
			{name: "token in a form body only", body: "access_token=" + alice, contentType: "application/x-www-form-urlencoded", status: 401},
			{name: "Bearer without a token", auth: []string{"Bearer"}, status: 401, code: "invalid_token"},
		}
		attacks = append(attacks, dpopAttacks(t, e, replica, hers.ID)...)
		attacks = append(attacks, certAttacks(t, e, untrusting)...)
		if len(attacks) < 80 {
			t.Fatalf("%d attacks; the suite promises at least 80", len(attacks))
		}
		for _, a := range attacks {
			t.Run(a.name, func(t *testing.T) {
				start := time.Now()
				to := e
				if a.via != nil {
					to = a.via
				}
				header := http.Header{"Authorization": a.auth}
				if a.dpop != nil {
					header = to.dpopHeader(strings.TrimPrefix(a.auth[0], "DPoP "), a.dpop...)
					header["Authorization"] = a.auth
				}
				if a.cert != nil {
					header[certHeader] = a.cert
				}
				r := to.do(t, request{method: http.MethodPost, path: "/orders/" + hers.ID + "/cancel" + a.query,
					body: a.body, contentType: a.contentType, header: header})
				r.wantProblem(t, a.status)
				want := `Bearer realm="orders"`
				if a.scheme == "DPoP" {
					want = dpopChallenge
				}
				if a.code != "" {
					want += `, error="` + a.code + `"`
				}
				got := r.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(got, want) || (a.code == "" && got != want) {
					t.Errorf("WWW-Authenticate = %q; want %q", got, want)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("answered in %v; a refusal must be fast", d)
				}
			})
		}

		var now2 order
		e.do(t, request{method: http.MethodGet, path: "/orders/" + hers.ID, token: alice}).decode(t, &now2)
		if now2.Status != "created" {
			t.Errorf("alice's order is %q after the attacks; want created", now2.Status)
		}
		if n := fetched.Load(); n != 0 {
			t.Errorf("the attacker's server was fetched %d times; want never", n)
		}
	})
}

// certAttacks are the suite's attacks with a token bound to a client
// certificate (RFC 8705) whose certificate does not come with it.
func certAttacks(t *testing.T, e, untrusting *env) []attack {
	t.Helper()
	ca := authtest.NewCA(t)
	mine, other := ca.Client(t, "mine"), ca.Client(t, "other")
	bound := e.idp.Token(t, authtest.Claims{Subject: "alice", Scope: rw, Extra: map[string]any{
		"cnf": map[string]any{"x5t#S256": auth.CertificateThumbprint(mine.Leaf)}}})
	refusedWith := func(name string, via *env, cert ...string) attack {
		a := refused(name, bound)
		a.cert, a.via = cert, via
		return a
	}
	nginx := escapeCert(mine.PEM(), "")
	return []attack{
		refusedWith("certificate-bound token without a certificate", nil),
		refusedWith("certificate-bound token with another certificate", nil, escapeCert(other.PEM(), "")),
		refusedWith("certificate-bound token with its certificate from an untrusted peer", untrusting, nginx),
		refusedWith("certificate-bound token with two certificate headers", nil, nginx, nginx),
		refusedWith("certificate-bound token with a certificate header not PEM", nil, "hello"),
	}
}

// TestClaimNameTricksDoNotChangeTheCaller sends valid tokens with
// case-variant claim names beside the real ones: the caller and the scopes
// stay those of the exact names.
func TestClaimNameTricksDoNotChangeTheCaller(t *testing.T) {
	t.Parallel()
	repotest.ForEach(t, func(t *testing.T, db repotest.Database) {
		t.Parallel()
		e := newEnvOn(t, db)
		tok := e.idp.Token(t, authtest.Claims{Subject: "alice", Scope: "orders:read orders:write",
			Extra: map[string]any{"SUB": "bob", "Sub": "bob", "sUb": "bob"}})
		o := e.create(t, tok, item{"latte", "big", 1})
		e.do(t, request{method: http.MethodGet, path: "/orders/" + o.ID, token: e.token(t, "alice", rw)}).wantStatus(t, http.StatusOK)
		e.do(t, request{method: http.MethodGet, path: "/orders/" + o.ID, token: e.token(t, "bob", rw)}).wantProblem(t, http.StatusNotFound)

		reader := e.idp.Token(t, authtest.Claims{Subject: "alice", Scope: "orders:read",
			Extra: map[string]any{"Scope": "orders:write", "SCOPE": "orders:write", "Permissions": []string{"orders:write"}, "SCP": "orders:write"}})
		e.do(t, request{method: http.MethodPost, path: "/orders/" + o.ID + "/pay", token: reader}).wantProblem(t, http.StatusForbidden)
	})
}

// TestRequireATJWT turns on RFC 9068's typ check: a token typed JWT, or not
// typed, is then refused; at+jwt is accepted.
func TestRequireATJWT(t *testing.T) {
	t.Parallel()
	e := newEnvFor(t, authtest.NewIdP(t), func(c *envConfig) { c.auth.Issuers[0].Types = []string{"at+jwt"} })
	key := e.idp.Keys()[0]
	claims := e.idp.ClaimsMap(authtest.Claims{Subject: "alice", Scope: rw})
	for _, typ := range []any{"at+jwt", "application/at+jwt", "AT+JWT"} {
		e.do(t, request{method: http.MethodGet, path: "/orders", token: e.idp.Sign(t, key, map[string]any{"typ": typ}, claims)}).wantStatus(t, http.StatusOK)
	}
	for _, typ := range []any{"JWT", authtest.Omit, "application/jwt"} {
		r := e.do(t, request{method: http.MethodGet, path: "/orders", token: e.idp.Sign(t, key, map[string]any{"typ": typ}, claims)})
		r.wantProblem(t, http.StatusUnauthorized)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func pkix0(cn string) pkix.Name { return pkix.Name{CommonName: cn} }
