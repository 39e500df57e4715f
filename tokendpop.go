package main

import (
	"crypto"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/coffeemesh/orders/auth/dpop"
	"github.com/coffeemesh/orders/internal/devissuer"
)

// dpopKey is a DPoP client's key, read from its private JWK.
type dpopKey struct {
	alg    string
	signer crypto.Signer
	// public is the JWK a proof's header carries: public members only.
	public map[string]any
}

// dpopKeyAlgorithms are the algorithms token dpop-key makes keys for; an
// Ed25519 key signs as EdDSA, the name every DPoP server knows.
func dpopKeyAlgorithms() []string { return []string{"ES256", "EdDSA", "PS256", "RS256"} }

// newDPoPKey prints a new private JWK for alg, to sign DPoP proofs with.
func newDPoPKey(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token dpop-key", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	alg := fs.String("alg", "ES256", "the key's algorithm, one of "+fmt.Sprint(dpopKeyAlgorithms()))
	if err := parseFlags(fs, args, commandUsage["token dpop-key"], stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 || !slices.Contains(dpopKeyAlgorithms(), *alg) {
		return fmt.Errorf("token dpop-key takes only --alg, one of %v", dpopKeyAlgorithms())
	}
	key, err := devissuer.NewKey("", *alg)
	if err != nil {
		return err
	}
	jwk, err := jwkset.NewJWKFromKey(key.Signer, jwkset.JWKOptions{
		Marshal:  jwkset.JWKMarshalOptions{Private: true},
		Metadata: jwkset.JWKMetadataOptions{ALG: jwkset.ALG(*alg)},
	})
	if err != nil {
		return err
	}
	b, err := json.Marshal(jwk.Marshal())
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(b))
	return nil
}

// readDPoPKey reads the private JWK at path, which names its alg.
func readDPoPKey(path string) (dpopKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return dpopKey{}, err
	}
	jwk, err := jwkset.NewJWKFromRawJSON(raw, jwkset.JWKMarshalOptions{Private: true}, jwkset.JWKValidateOptions{})
	if err != nil {
		return dpopKey{}, fmt.Errorf("%s: not a JWK: %w", path, err)
	}
	signer, ok := jwk.Key().(crypto.Signer)
	alg := string(jwk.Marshal().ALG)
	if !ok || !slices.Contains(dpop.Algorithms(), alg) {
		return dpopKey{}, fmt.Errorf("%s: not a private key with its alg (make one with orders token dpop-key)", path)
	}
	pub, err := jwkset.NewJWKFromKey(signer.Public(), jwkset.JWKOptions{})
	if err != nil {
		return dpopKey{}, err
	}
	b, err := json.Marshal(pub.Marshal())
	if err != nil {
		return dpopKey{}, err
	}
	var public map[string]any
	if err := json.Unmarshal(b, &public); err != nil {
		return dpopKey{}, err
	}
	return dpopKey{alg: alg, signer: signer, public: public}, nil
}

// proof signs a DPoP proof with k for a request of method to url carrying
// token ("" for a token request: no ath) and nonce ("" for none).
func (k dpopKey) proof(method, url, token, nonce string) (string, error) {
	claims := jwt.MapClaims{"jti": rand.Text(), "htm": method, "htu": url, "iat": time.Now().Unix()}
	if token != "" {
		claims["ath"] = dpop.TokenHash(token)
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	t := jwt.NewWithClaims(dpop.SigningMethod(k.alg), claims)
	t.Header["typ"] = "dpop+jwt"
	t.Header["jwk"] = k.public
	return t.SignedString(k.signer)
}

// printDPoPProof prints a DPoP proof for one request.
func printDPoPProof(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token dpop", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keyFile := fs.String("key", "", "the private JWK to sign with, from orders token dpop-key (required)")
	method := fs.String("method", "GET", "the request's method")
	url := fs.String("url", "", "the request's URL, as the client calls it (required)")
	token := fs.String("token", "", "the access token the request carries; none for a token request")
	nonce := fs.String("nonce", "", "the server nonce, from the DPoP-Nonce header, if the server asks for one")
	if err := parseFlags(fs, args, commandUsage["token dpop"], stdout); err != nil {
		return err
	}
	if *keyFile == "" || *url == "" || fs.NArg() > 0 {
		return errors.New("token dpop needs --key and --url and takes no arguments")
	}
	k, err := readDPoPKey(*keyFile)
	if err != nil {
		return err
	}
	p, err := k.proof(*method, *url, *token, *nonce)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, p)
	return nil
}
