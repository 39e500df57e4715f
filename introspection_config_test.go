package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth"
)

// TestIntrospectionSettings: the introspection settings reach the issuer,
// from the environment or the file, with the secret or key read from its
// file; contradictory ones are refused, each error naming its settings.
func TestIntrospectionSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.pem")
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(dir, "orders.yaml")
	yaml := "auth:\n  introspection_cache_ttl: 10s\n  issuers:\n    - issuer: https://hydra.example.com/\n      audience: [orders]\n" +
		"      introspection_client_id: orders-api\n      introspection_client_secret_file: " + secretFile + "\n      introspect_jwts: true\n"
	if err := os.WriteFile(configFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	hosted := map[string]string{"ORDERS_AUTH_ISSUER": "https://hydra.example.com/", "ORDERS_AUTH_AUDIENCE": "orders"}
	withID := merge(hosted, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_ID": "orders-api"})
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c config)
		wantErr string
	}{
		{"off by default", hosted, func(t *testing.T, c config) {
			if in := c.auth.Issuers[0].Introspection; in != (auth.Introspection{}) || c.auth.IntrospectionCacheTTL != 30*time.Second || c.auth.IntrospectionTimeout != 5*time.Second {
				t.Errorf("introspection = %+v, cache TTL %v, timeout %v; want off, 30s, 5s", in, c.auth.IntrospectionCacheTTL, c.auth.IntrospectionTimeout)
			}
		}, ""},
		{"client_secret_basic", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET": "s", "ORDERS_AUTH_INTROSPECTION_URL": "https://hydra.example.com/oauth2/introspect", "ORDERS_AUTH_INTROSPECTION_CACHE_TTL": "0"}), func(t *testing.T, c config) {
			in := c.auth.Issuers[0].Introspection
			if in.ClientID != "orders-api" || in.ClientSecret != "s" || in.URL != "https://hydra.example.com/oauth2/introspect" || in.ClientKey != nil || c.auth.IntrospectionCacheTTL != 0 {
				t.Errorf("introspection = %+v, cache TTL %v", in, c.auth.IntrospectionCacheTTL)
			}
		}, ""},
		{"secret file", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET_FILE": secretFile}), func(t *testing.T, c config) {
			if got := c.auth.Issuers[0].Introspection.ClientSecret; got != "from a file" {
				t.Errorf("secret = %q; want the file's line", got)
			}
		}, ""},
		{"private_key_jwt", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE": keyFile, "ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_ID": "k1"}), func(t *testing.T, c config) {
			if key := c.auth.Issuers[0].Introspection.ClientKey; key == nil || key.Alg != "ES256" || key.ID != "k1" {
				t.Errorf("client key = %+v; want ES256 named k1", key)
			}
		}, ""},
		{"from the file", map[string]string{"ORDERS_CONFIG": configFile}, func(t *testing.T, c config) {
			in := c.auth.Issuers[0].Introspection
			if in.ClientID != "orders-api" || in.ClientSecret != "from a file" || !in.JWTs || c.auth.IntrospectionCacheTTL != 10*time.Second {
				t.Errorf("introspection = %+v, cache TTL %v", in, c.auth.IntrospectionCacheTTL)
			}
		}, ""},
		{"introspection secret and secret file", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET": "s", "ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET_FILE": secretFile}), nil,
			"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET and ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET_FILE exclude each other"},
		{"introspection secret and key", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET": "s", "ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE": keyFile}), nil,
			"ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE and a client secret exclude each other"},
		{"introspection secret file and key", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET_FILE": secretFile, "ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE": secretFile}), nil,
			"ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE and a client secret exclude each other"},
		{"introspection client id alone", withID, nil, "ORDERS_AUTH_INTROSPECTION_CLIENT_ID needs ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET, ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET_FILE or ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE"},
		{"introspection secret without client id", merge(hosted, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET": "s"}), nil, "ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET needs ORDERS_AUTH_INTROSPECTION_CLIENT_ID"},
		{"introspection URL without client id", merge(hosted, map[string]string{"ORDERS_AUTH_INTROSPECTION_URL": "https://hydra.example.com/oauth2/introspect"}), nil, "ORDERS_AUTH_INTROSPECTION_URL needs ORDERS_AUTH_INTROSPECTION_CLIENT_ID"},
		{"introspect JWTs without introspection", merge(hosted, map[string]string{"ORDERS_AUTH_INTROSPECT_JWTS": "true"}), nil, "ORDERS_AUTH_INTROSPECT_JWTS needs ORDERS_AUTH_INTROSPECTION_CLIENT_ID"},
		{"introspection key id without key", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET": "s", "ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_ID": "k1"}), nil, "ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_ID needs ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE"},
		{"introspection assertion audience without key", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET": "s", "ORDERS_AUTH_INTROSPECTION_CLIENT_ASSERTION_AUDIENCE": "https://a.example.com"}), nil, "ORDERS_AUTH_INTROSPECTION_CLIENT_ASSERTION_AUDIENCE needs ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE"},
		{"introspection empty secret file", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET_FILE": emptyFile}), nil, "ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET_FILE: the file is empty"},
		{"introspection missing secret file", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET_FILE": filepath.Join(dir, "none")}), nil, "ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET_FILE: open"},
		{"introspection key file not a key", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE": secretFile}), nil, "ORDERS_AUTH_INTROSPECTION_CLIENT_KEY_FILE: no PEM block"},
		{"introspection URL over http", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET": "s", "ORDERS_AUTH_INTROSPECTION_URL": "http://hydra.example.com/introspect"}), nil, "introspection url"},
		{"introspection cache TTL over 5m", merge(hosted, map[string]string{"ORDERS_AUTH_INTROSPECTION_CACHE_TTL": "10m"}), nil, `ORDERS_AUTH_INTROSPECTION_CACHE_TTL: "10m" is out of range: allowed is 0s to 5m0s`},
		{"introspection timeout 0", merge(hosted, map[string]string{"ORDERS_AUTH_INTROSPECTION_TIMEOUT": "0s"}), nil, `ORDERS_AUTH_INTROSPECTION_TIMEOUT: "0s" is out of range`},
		{"introspect JWTs only without JWTs", merge(withID, map[string]string{"ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET": "s", "ORDERS_AUTH_INTROSPECT_JWTS_ONLY": "true"}), nil, "ORDERS_AUTH_INTROSPECT_JWTS_ONLY needs ORDERS_AUTH_INTROSPECT_JWTS"},
		{"introspect JWTs not a boolean", merge(hosted, map[string]string{"ORDERS_AUTH_INTROSPECT_JWTS": "yes"}), nil, `ORDERS_AUTH_INTROSPECT_JWTS: "yes" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(nil, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadConfig = %v; want an error about %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), `"s"`) {
					t.Errorf("the error quotes the secret: %v", err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("more than the one error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			tt.check(t, c)
		})
	}
}

// TestTwoIssuersWithIntrospectionRefused: opaque tokens name no issuer, so
// only one issuer of the file may receive them; another may introspect its
// JWTs alone.
func TestTwoIssuersWithIntrospectionRefused(t *testing.T) {
	t.Parallel()
	configFile := filepath.Join(t.TempDir(), "orders.yaml")
	issuer := func(url string) string {
		return "    - issuer: " + url + "\n      audience: [orders]\n      introspection_client_id: orders-api\n      introspection_client_secret: s\n"
	}
	if err := os.WriteFile(configFile, []byte("auth:\n  issuers:\n"+issuer("https://a.example.com/")+issuer("https://b.example.com/")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(nil, env(map[string]string{"ORDERS_CONFIG": configFile}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "give only one issuer introspection of opaque tokens") {
		t.Errorf("loadConfig = %v; want two introspecting issuers refused", err)
	}
	jwtsOnly := issuer("https://b.example.com/") + "      introspect_jwts: true\n      introspect_jwts_only: true\n"
	if err := os.WriteFile(configFile, []byte("auth:\n  issuers:\n"+issuer("https://a.example.com/")+jwtsOnly), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(nil, env(map[string]string{"ORDERS_CONFIG": configFile}), io.Discard)
	if err != nil {
		t.Fatalf("loadConfig with the second issuer introspecting JWTs only: %v", err)
	}
	if in := c.auth.Issuers[1].Introspection; !in.JWTs || !in.JWTsOnly {
		t.Errorf("second issuer's introspection = %+v; want JWTs only", in)
	}
}

// TestIntrospectionURLLoggedRedacted: a credential in the introspection
// URL's query never reaches the log of the configuration.
func TestIntrospectionURLLoggedRedacted(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(nil, env(map[string]string{
		"ORDERS_AUTH_ISSUER": "https://hydra.example.com/", "ORDERS_AUTH_AUDIENCE": "orders",
		"ORDERS_AUTH_INTROSPECTION_CLIENT_ID": "orders-api", "ORDERS_AUTH_INTROSPECTION_CLIENT_SECRET": "client-secret",
		"ORDERS_AUTH_INTROSPECTION_URL": "https://hydra.example.com/oauth2/introspect?api_key=query-secret",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logConfig(t.Context(), slog.New(slog.NewJSONHandler(&logs, nil)), c)
	out := logs.String()
	for _, secret := range []string{"query-secret", "client-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q: %s", secret, out)
		}
	}
	if !strings.Contains(out, `"introspection_url":"https://hydra.example.com/oauth2/introspect?redacted"`) {
		t.Errorf("log = %s; want the introspection URL with its query redacted", out)
	}
}
