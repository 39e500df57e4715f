package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/authtest"
	"github.com/coffeemesh/orders/internal/devissuer"
	"github.com/coffeemesh/orders/payments"
)

func TestPaymentSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(dir, "orders.yaml")
	yaml := "payments:\n  url: https://payments.example.com\n  audience: payments\n  scope: payments:charge\n  timeout: 3s\n  token: client_credentials\n" +
		"client:\n  id: orders-api\n  secret_file: " + secretFile + "\n"
	if err := os.WriteFile(configFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	hosted := map[string]string{"ORDERS_AUTH_ISSUER": "https://tenant.eu.auth0.com/", "ORDERS_AUTH_AUDIENCE": "orders"}
	pay := merge(hosted, map[string]string{"ORDERS_PAYMENTS_URL": "https://payments.example.com", "ORDERS_PAYMENTS_AUDIENCE": "payments",
		"ORDERS_CLIENT_ID": "orders-api", "ORDERS_CLIENT_SECRET": "s3cret"})
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		check   func(t *testing.T, p *payments.Config)
		wantErr string
	}{
		{"off by default", hosted, nil, func(t *testing.T, p *payments.Config) {
			if p != nil {
				t.Errorf("payments = %+v; want none", p)
			}
		}, ""},
		{"exchange with a secret", pay, nil, func(t *testing.T, p *payments.Config) {
			if p.Mode != payments.Exchange || p.Timeout != 5*time.Second || p.Client.Secret != "s3cret" || p.Audience != "payments" {
				t.Errorf("payments = %+v; want exchange, 5s, the secret", p)
			}
		}, ""},
		{"secret from a file", merge(pay, map[string]string{"ORDERS_CLIENT_SECRET": "", "ORDERS_CLIENT_SECRET_FILE": secretFile}), nil, func(t *testing.T, p *payments.Config) {
			if p.Client.Secret != "from-a-file" {
				t.Errorf("secret = %q; want the file's, trimmed", p.Client.Secret)
			}
		}, ""},
		{"private key", merge(pay, map[string]string{"ORDERS_CLIENT_SECRET": "", "ORDERS_CLIENT_KEY_FILE": keyFile, "ORDERS_PAYMENTS_TOKEN": "client_credentials"}), nil, func(t *testing.T, p *payments.Config) {
			if p.Client.Key == nil || p.Client.Secret != "" || p.Mode != payments.ClientCredentials {
				t.Errorf("client = %+v, mode %s; want a key, client_credentials", p.Client, p.Mode)
			}
		}, ""},
		{"dev stand-in", nil, []string{"--dev", "--dev-payments-addr", "127.0.0.1:8002"}, func(t *testing.T, p *payments.Config) {
			if p.URL != "http://127.0.0.1:8002" || p.Audience != devPaymentsAudience || p.Client.ID != devClientID || p.Client.Secret == "" {
				t.Errorf("payments = %+v; want the stand-in's", p)
			}
		}, ""},
		{"plain http", merge(pay, map[string]string{"ORDERS_PAYMENTS_URL": "http://payments.example.com"}), nil, nil, "ORDERS_PAYMENTS_URL"},
		{"no audience", merge(pay, map[string]string{"ORDERS_PAYMENTS_AUDIENCE": ""}), nil, nil, "ORDERS_PAYMENTS_AUDIENCE is required"},
		{"no client", merge(pay, map[string]string{"ORDERS_CLIENT_ID": ""}), nil, nil, "ORDERS_CLIENT_ID is required"},
		{"no secret", merge(pay, map[string]string{"ORDERS_CLIENT_SECRET": ""}), nil, nil, "exactly one of ORDERS_CLIENT_SECRET"},
		{"secret and key", merge(pay, map[string]string{"ORDERS_CLIENT_KEY_FILE": keyFile}), nil, nil, "exactly one of ORDERS_CLIENT_SECRET"},
		{"unreadable key", merge(pay, map[string]string{"ORDERS_CLIENT_SECRET": "", "ORDERS_CLIENT_KEY_FILE": secretFile}), nil, nil, "ORDERS_CLIENT_KEY_FILE"},
		{"unknown mode", merge(pay, map[string]string{"ORDERS_PAYMENTS_TOKEN": "forward"}), nil, nil, `ORDERS_PAYMENTS_TOKEN: "forward" is not exchange or client_credentials`},
		{"timeout too long", merge(pay, map[string]string{"ORDERS_PAYMENTS_TIMEOUT": "1m"}), nil, nil, "ORDERS_PAYMENTS_TIMEOUT"},
		{"client without payments", merge(hosted, map[string]string{"ORDERS_CLIENT_ID": "orders-api"}), nil, nil, "need ORDERS_PAYMENTS_URL"},
		{"secret without payments", merge(hosted, map[string]string{"ORDERS_CLIENT_SECRET": "s3cret"}), nil, nil, "need ORDERS_PAYMENTS_URL"},
		{"key file without payments", merge(hosted, map[string]string{"ORDERS_CLIENT_KEY_FILE": keyFile}), nil, nil, "need ORDERS_PAYMENTS_URL"},
		{"client_credentials without payments", merge(hosted, map[string]string{"ORDERS_PAYMENTS_TOKEN": "client_credentials"}), nil, nil, "need ORDERS_PAYMENTS_URL"},
		{"from the configuration file", merge(hosted, map[string]string{"ORDERS_CONFIG": configFile}), nil, func(t *testing.T, p *payments.Config) {
			if p == nil || p.URL != "https://payments.example.com" || p.Audience != "payments" || p.Scope != "payments:charge" || p.Timeout != 3*time.Second ||
				p.Mode != payments.ClientCredentials || p.Client.ID != "orders-api" || p.Client.Secret != "from-a-file" {
				t.Errorf("payments = %+v; want the file's", p)
			}
		}, ""},
		{"dev stand-in without dev", merge(hosted, map[string]string{"ORDERS_DEV_PAYMENTS_ADDR": "127.0.0.1:8002"}), nil, nil, "ORDERS_DEV_PAYMENTS_ADDR needs --dev"},
		{"dev stand-in off loopback", nil, []string{"--dev", "--dev-payments-addr", "0.0.0.0:8002"}, nil, "ORDERS_DEV_PAYMENTS_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := loadConfig(tt.args, env(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("loadConfig = %v; want an error about %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("the error %q quotes the client secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			tt.check(t, c.payments.config)
		})
	}
}

// TestTokenEndpointIsTheCallersIssuers: the token endpoint pay exchanges
// at is that of the issuer of the caller's token, from its discovery, and
// none for an issuer not trusted.
func TestTokenEndpointIsTheCallersIssuers(t *testing.T) {
	t.Parallel()
	a, b := authtest.NewIdP(t), authtest.NewIdP(t)
	v, err := auth.NewVerifier(auth.Config{Issuers: []auth.Issuer{{URL: a.URL(), Audiences: []string{authtest.Audience}}, {URL: b.URL(), Audiences: []string{authtest.Audience}}}}, authtest.Discard())
	if err != nil {
		t.Fatal(err)
	}
	endpoint := tokenEndpoint(v)
	for _, idp := range []*authtest.IdP{a, b} {
		got, err := endpoint(t.Context(), idp.URL())
		if want := idp.URL() + devissuer.TokenPath; err != nil || got != want {
			t.Errorf("token endpoint of %s = %q, %v; want %q", idp.URL(), got, err, want)
		}
	}
	if got, err := endpoint(t.Context(), "https://untrusted.example.com"); err == nil {
		t.Errorf("token endpoint of an untrusted issuer = %q; want an error", got)
	}
}
