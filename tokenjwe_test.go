package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/auth/jwe"
)

// TestEncryptTo: token mint --encrypt-to reads a public JWK or JWK set,
// encrypts with the alg a JWK pins (else the default of its key type) and
// under its kid, so that the API holding the private key, pinned to that
// alg, decrypts the token; a JWK pinning an alg the API refuses, and a set
// of several keys none of which is for encryption, are refused.
func TestEncryptTo(t *testing.T) {
	t.Parallel()
	rsaKey := authtest.NewDecryptionKey(t, "rsa-2026", "RSA")
	ecKey := authtest.NewDecryptionKey(t, "ec-2026", "EC")
	signing := authtest.NewDecryptionKey(t, "sig", "EC")
	pinned := func(k authtest.DecryptionKey, alg string) jose.JSONWebKey {
		jwk := k.PublicJWK()
		jwk.Algorithm = alg
		return jwk
	}
	sig := signing.PublicJWK()
	sig.Use = "sig"
	tests := []struct {
		name    string
		file    any
		private authtest.DecryptionKey
		alg     string
		wantAlg string
		wantErr string
	}{
		{"RSA JWK", rsaKey.PublicJWK(), rsaKey, "", "RSA-OAEP-256", ""},
		{"RSA JWK pinning RSA-OAEP", pinned(rsaKey, "RSA-OAEP"), rsaKey, "RSA-OAEP", "RSA-OAEP", ""},
		{"EC JWK pinning ECDH-ES+A256KW", pinned(ecKey, "ECDH-ES+A256KW"), ecKey, "ECDH-ES+A256KW", "ECDH-ES+A256KW", ""},
		{"JWK set of one key", jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pinned(ecKey, "ECDH-ES+A128KW")}}, ecKey, "ECDH-ES+A128KW", "ECDH-ES+A128KW", ""},
		{"JWK set: the first key for encryption", jose.JSONWebKeySet{Keys: []jose.JSONWebKey{sig, rsaKey.PublicJWK(), ecKey.PublicJWK()}}, rsaKey, "", "RSA-OAEP-256", ""},
		{"JWK pinning RSA1_5", pinned(rsaKey, "RSA1_5"), rsaKey, "", "", `pins alg "RSA1_5"`},
		{"JWK pinning an alg of another key type", pinned(ecKey, "RSA-OAEP"), ecKey, "", "", `pins alg "RSA-OAEP", which does not fit`},
		{"JWK set without a key for encryption", jose.JSONWebKeySet{Keys: []jose.JSONWebKey{sig, sig}}, signing, "", "", "none with use enc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "api.jwk")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			to, err := readRecipient(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readRecipient = %v; want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readRecipient: %v", err)
			}
			tok, err := encryptToken("header.claims.signature", to)
			if err != nil {
				t.Fatal(err)
			}
			h, err := jwe.ParseHeader(tok)
			if err != nil {
				t.Fatal(err)
			}
			if h.Alg != tt.wantAlg || h.KID != tt.private.KID {
				t.Errorf("alg %q, kid %q; want %q, %q", h.Alg, h.KID, tt.wantAlg, tt.private.KID)
			}
			private := tt.private.JWK()
			private.Algorithm = tt.alg
			set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{private}})
			if err != nil {
				t.Fatal(err)
			}
			keys, err := jwe.ParseKeys(set)
			if err != nil {
				t.Fatal(err)
			}
			if plaintext, err := keys.Decrypt(tok, h); err != nil || string(plaintext) != "header.claims.signature" {
				t.Errorf("Decrypt = %q, %v; want the token back", plaintext, err)
			}
		})
	}
}
