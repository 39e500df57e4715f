package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/dpop"
)

// prover is the DPoP client of the load test: one key, ES256 or EdDSA,
// for every user.
type prover struct {
	method jwt.SigningMethod
	key    crypto.Signer
	jwk    map[string]any
}

// newProver generates a key for alg, ES256 (the commonest proof algorithm)
// or EdDSA (the cheapest to verify).
func newProver(alg string) (*prover, error) {
	enc := base64.RawURLEncoding
	if alg == "EdDSA" {
		pub, k, err := ed25519.GenerateKey(rand.Reader)
		jwk := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": enc.EncodeToString(pub)}
		return &prover{method: jwt.SigningMethodEdDSA, key: k, jwk: jwk}, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	point, err := k.PublicKey.Bytes() // 04 || x || y
	if err != nil {
		return nil, err
	}
	jwk := map[string]any{"kty": "EC", "crv": "P-256", "x": enc.EncodeToString(point[1:33]), "y": enc.EncodeToString(point[33:])}
	return &prover{method: jwt.SigningMethodES256, key: k, jwk: jwk}, nil
}

// proof signs a fresh proof, a new jti issued now, for a request of method
// to u carrying token ("" for a token request: no ath).
func (p *prover) proof(method, u, token string) (string, error) {
	claims := jwt.MapClaims{"jti": rand.Text(), "htm": method, "htu": u, "iat": time.Now().Unix()}
	if token != "" {
		claims["ath"] = dpop.TokenHash(token)
	}
	t := jwt.NewWithClaims(p.method, claims)
	t.Header["typ"] = "dpop+jwt"
	t.Header["jwk"] = p.jwk
	return t.SignedString(p.key)
}

// mintBound gets a token bound to p's key from the dev issuer for n users,
// user-0 to user-(n-1), with a proof on each token request.
func (p *prover) mintBound(issuer string, n int) ([]string, error) {
	tokens := make([]string, n)
	for u := range tokens {
		proof, err := p.proof("POST", issuer+"/token", "")
		if err != nil {
			return nil, err
		}
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {fmt.Sprintf("user-%d", u)}, "ttl": {"2h"}}
		req, _ := http.NewRequest("POST", issuer+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var body struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if body.TokenType != "DPoP" {
			return nil, fmt.Errorf("the dev issuer gave user-%d a %q token, not a DPoP-bound one", u, body.TokenType)
		}
		tokens[u] = body.AccessToken
	}
	return tokens, nil
}

// proofsFor signs n fresh proofs for s's calls, in turn from the first,
// each to be sent once to the server at base.
func (p *prover) proofsFor(s scenario, base string, n int) ([]string, error) {
	proofs := make([]string, n)
	for i := range proofs {
		c := s.calls[i%len(s.calls)]
		var err error
		if proofs[i], err = p.proof(c.method, base+c.path, c.token); err != nil {
			return nil, err
		}
	}
	return proofs, nil
}

// dpopScript signs, before a slice of secs seconds of DPoP scenario s
// starts, 1.5 times the proofs its last slice's rate would send (before
// its first slice, the rate of /healthz, the ceiling), writes them to a
// file, and returns the start of a Lua script that reads them in init and
// sends each once: when they run out, the thread stops rather than replay
// one, and says so.
func (d driver) dpopScript(s scenario, secs int) (string, error) {
	rate := d.rates[s.name]
	if rate == 0 {
		rate = max(d.rates[healthzName], 1000)
	}
	proofs, err := s.prover.proofsFor(s, d.base, int(rate*1.5*float64(secs))+d.conns)
	if err != nil {
		return "", err
	}
	index := map[string]int{}
	var lua, lines strings.Builder
	lua.WriteString("local tokens = {}\n")
	for i, p := range proofs {
		c := s.calls[i%len(s.calls)]
		k, ok := index[c.token]
		if !ok {
			k = len(index) + 1
			index[c.token] = k
			fmt.Fprintf(&lua, "tokens[%d] = %q\n", k, "DPoP "+c.token)
		}
		fmt.Fprintf(&lines, "%d %s %s %s\n", k, c.method, c.path, p)
	}
	file := filepath.Join(d.dir, "proofs.txt")
	if err := os.WriteFile(file, []byte(lines.String()), 0o600); err != nil {
		return "", err
	}
	fmt.Fprintf(&lua, `local entries = {}
init = function(args)
  for line in io.lines(%q) do
    local k, method, path, proof = line:match("^(%%d+) (%%S+) (%%S+) (%%S+)$")
    entries[#entries+1] = {tonumber(k), method, path, proof}
  end
end
local i = 0
request = function()
  i = i + 1
  local e = entries[i]
  if e == nil then
    exhausted = true
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  return wrk.format(e[2], e[3], {["Authorization"] = tokens[e[1]], ["DPoP"] = e[4]})
end
`, file)
	return lua.String(), nil
}

// dpopScenario is the point read of newScenarios with DPoP: tokens bound
// to p's key, and a fresh proof on every request.
func dpopScenario(p *prover, ids [][]string, bound []string, users, each int) scenario {
	get := scenario{name: "GET /orders/{id} (DPoP " + p.method.Alg() + ")", want: 200, prover: p}
	for j := range each {
		for u := range users {
			get.calls = append(get.calls, call{method: "GET", path: "/orders/" + ids[u][j], token: bound[u]})
		}
	}
	return get
}
