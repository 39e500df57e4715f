package tests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// dpopTransport adds a DPoP proof (RFC 9449) signed with key to every
// request: to the token endpoint, so that the token is bound to key, and
// to the API, with the hash of the token that oauth2.Transport put in the
// Authorization header.
type dpopTransport struct {
	key  *ecdsa.PrivateKey
	base http.RoundTripper
}

// RoundTrip signs a proof for r and sends r with it, leaving r unchanged.
func (t dpopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	enc := base64.RawURLEncoding
	pub, _ := t.key.PublicKey.Bytes() // 0x04 || x || y for P-256
	claims := jwt.MapClaims{"jti": rand.Text(), "htm": r.Method, "htu": r.URL.Scheme + "://" + r.URL.Host + r.URL.EscapedPath(), "iat": time.Now().Unix()}
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "DPoP "); ok {
		sum := sha256.Sum256([]byte(token))
		claims["ath"] = enc.EncodeToString(sum[:])
	}
	proof := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	proof.Header["typ"] = "dpop+jwt"
	proof.Header["jwk"] = map[string]string{"kty": "EC", "crv": "P-256", "x": enc.EncodeToString(pub[1:33]), "y": enc.EncodeToString(pub[33:])}
	signed, err := proof.SignedString(t.key)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Header.Set("DPoP", signed)
	return t.base.RoundTrip(r)
}

// Example_dpopClient is a service calling the API with a DPoP-bound token:
// golang.org/x/oauth2 gets the token with the client credentials grant and
// sends it with its type, DPoP, while a transport signs a fresh proof for
// every request with the service's own key. A thief who copies the token
// has no key: the token alone is refused.
func Example_dpopClient() {
	apiURL, tokenURL, stop := startDevServer()
	defer stop()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		fmt.Println(err)
		return
	}
	proofs := &http.Client{Transport: dpopTransport{key: key, base: http.DefaultTransport}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, proofs)
	cfg := clientcredentials.Config{ClientID: "alice", TokenURL: tokenURL, Scopes: []string{"orders:read"}}
	source := cfg.TokenSource(ctx)
	client := &http.Client{Transport: &oauth2.Transport{Source: source, Base: proofs.Transport}}

	for range 2 {
		resp, err := client.Get(apiURL + "/orders")
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Println("with proof:", resp.Status)
	}
	token, err := source.Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	req, _ := http.NewRequest(http.MethodGet, apiURL+"/orders", nil)
	req.Header.Set("Authorization", "DPoP "+token.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("token type:", token.Type())
	fmt.Println("stolen token, no proof:", resp.Status)
	// Output:
	// with proof: 200 OK
	// with proof: 200 OK
	// token type: DPoP
	// stolen token, no proof: 401 Unauthorized
}
