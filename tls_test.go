package main

import (
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffeemesh/orders/auth/authtest"
)

// TestTLSSettings: serve speaks TLS 1.2 or later with a certificate and
// its key, asks for client certificates as ORDERS_TLS_CLIENT_AUTH says,
// and refuses settings that do not fit together or files it cannot use.
func TestTLSSettings(t *testing.T) {
	t.Parallel()
	ca := authtest.NewCA(t)
	certFile, keyFile := ca.Server(t).WriteFiles(t)
	_, otherKey := ca.Server(t).WriteFiles(t)
	caFile := ca.WriteFile(t)
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	hosted := []string{"ORDERS_AUTH_ISSUER=https://issuer.example.com/", "ORDERS_AUTH_AUDIENCE=orders"}
	tests := []struct {
		name     string
		environ  []string
		wantAuth tls.ClientAuthType // with wantErr "": -1 means no TLS
		wantErr  string
	}{
		{"no TLS", nil, -1, ""},
		{"TLS without client certificates", []string{"ORDERS_TLS_CERT_FILE=" + certFile, "ORDERS_TLS_KEY_FILE=" + keyFile}, tls.NoClientCert, ""},
		{"optional client certificates", []string{"ORDERS_TLS_CERT_FILE=" + certFile, "ORDERS_TLS_KEY_FILE=" + keyFile, "ORDERS_TLS_CLIENT_AUTH=optional", "ORDERS_TLS_CLIENT_CA_FILE=" + caFile}, tls.VerifyClientCertIfGiven, ""},
		{"required client certificates", []string{"ORDERS_TLS_CERT_FILE=" + certFile, "ORDERS_TLS_KEY_FILE=" + keyFile, "ORDERS_TLS_CLIENT_AUTH=required", "ORDERS_TLS_CLIENT_CA_FILE=" + caFile}, tls.RequireAndVerifyClientCert, ""},
		{"certificate without key", []string{"ORDERS_TLS_CERT_FILE=" + certFile}, 0, "ORDERS_TLS_CERT_FILE and ORDERS_TLS_KEY_FILE go together"},
		{"key without certificate", []string{"ORDERS_TLS_KEY_FILE=" + keyFile}, 0, "ORDERS_TLS_CERT_FILE and ORDERS_TLS_KEY_FILE go together"},
		{"another certificate's key", []string{"ORDERS_TLS_CERT_FILE=" + certFile, "ORDERS_TLS_KEY_FILE=" + otherKey}, 0, "private key does not match public key"},
		{"unreadable certificate", []string{"ORDERS_TLS_CERT_FILE=/nonexistent/cert.pem", "ORDERS_TLS_KEY_FILE=" + keyFile}, 0, "no such file"},
		{"client certificates without a CA", []string{"ORDERS_TLS_CERT_FILE=" + certFile, "ORDERS_TLS_KEY_FILE=" + keyFile, "ORDERS_TLS_CLIENT_AUTH=optional"}, 0, "ORDERS_TLS_CLIENT_AUTH optional needs ORDERS_TLS_CLIENT_CA_FILE"},
		{"a CA that is no PEM", []string{"ORDERS_TLS_CERT_FILE=" + certFile, "ORDERS_TLS_KEY_FILE=" + keyFile, "ORDERS_TLS_CLIENT_AUTH=required", "ORDERS_TLS_CLIENT_CA_FILE=" + notPEM}, 0, "holds no PEM certificate"},
		{"a CA without client certificates", []string{"ORDERS_TLS_CERT_FILE=" + certFile, "ORDERS_TLS_KEY_FILE=" + keyFile, "ORDERS_TLS_CLIENT_CA_FILE=" + caFile}, 0, "ORDERS_TLS_CLIENT_AUTH is none"},
		{"client certificates without TLS", []string{"ORDERS_TLS_CLIENT_AUTH=required", "ORDERS_TLS_CLIENT_CA_FILE=" + caFile}, 0, "need TLS"},
		{"unknown client auth", []string{"ORDERS_TLS_CLIENT_AUTH=request"}, 0, `"request" is not none, optional or required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			environ := append(append([]string{}, hosted...), tt.environ...)
			cfg, err := loadConfig(nil, environFunc(environ), io.Discard)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("loadConfig = %v; want an error saying %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("loadConfig: %v", err)
			case tt.wantAuth == -1 && cfg.tls.config != nil:
				t.Errorf("TLS config %+v; want none", cfg.tls.config)
			case tt.wantAuth != -1 && (cfg.tls.config == nil || cfg.tls.config.ClientAuth != tt.wantAuth || cfg.tls.config.MinVersion != tls.VersionTLS12):
				t.Errorf("TLS config %+v; want client auth %v, TLS 1.2 at least", cfg.tls.config, tt.wantAuth)
			}
		})
	}
}

// environFunc looks names up in environ, a list of NAME=value.
func environFunc(environ []string) func(string) string {
	return func(name string) string {
		for _, kv := range environ {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				return v
			}
		}
		return ""
	}
}

// TestClientCertHeaderSettings: the proxy's certificate header needs the
// networks of the proxies to trust, given as CIDRs.
func TestClientCertHeaderSettings(t *testing.T) {
	t.Parallel()
	hosted := []string{"ORDERS_AUTH_ISSUER=https://issuer.example.com/", "ORDERS_AUTH_AUDIENCE=orders"}
	tests := []struct {
		name    string
		environ []string
		want    []string // the trusted networks, with wantErr ""
		wantErr string
	}{
		{"none", nil, nil, ""},
		{"header and proxies", []string{"ORDERS_TLS_CLIENT_CERT_HEADER=X-Amzn-Mtls-Clientcert", "ORDERS_TRUSTED_PROXIES=10.0.0.0/8, 127.0.0.1/32,::1/128"}, []string{"10.0.0.0/8", "127.0.0.1/32", "::1/128"}, ""},
		{"host bits are masked", []string{"ORDERS_TLS_CLIENT_CERT_HEADER=X-Client-Cert", "ORDERS_TRUSTED_PROXIES=10.1.2.3/8"}, []string{"10.0.0.0/8"}, ""},
		{"header without proxies", []string{"ORDERS_TLS_CLIENT_CERT_HEADER=X-Client-Cert"}, nil, "needs the trusted proxies"},
		{"a bare address", []string{"ORDERS_TLS_CLIENT_CERT_HEADER=X-Client-Cert", "ORDERS_TRUSTED_PROXIES=10.0.0.1"}, nil, `"10.0.0.1", which is not a network`},
		{"an empty entry", []string{"ORDERS_TLS_CLIENT_CERT_HEADER=X-Client-Cert", "ORDERS_TRUSTED_PROXIES=10.0.0.0/8,"}, nil, `"", which is not a network`},
		{"a header name with a colon", []string{"ORDERS_TLS_CLIENT_CERT_HEADER=X-Client-Cert:", "ORDERS_TRUSTED_PROXIES=10.0.0.0/8"}, nil, "is not a header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfig(nil, environFunc(append(append([]string{}, hosted...), tt.environ...)), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("loadConfig = %v; want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			var got []string
			for _, p := range cfg.auth.ClientCerts.TrustedProxies {
				got = append(got, p.String())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("trusted proxies = %v; want %v", got, tt.want)
			}
		})
	}
}
