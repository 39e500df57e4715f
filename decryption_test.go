package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffeemesh/orders/auth/authtest"
)

// TestDecryptionKeySetting: ORDERS_AUTH_DECRYPTION_KEY_FILE, from the
// environment or the configuration file, gives the verifier its keys;
// a file it cannot use stops the start with an error naming the setting;
// a file every user may read is used, and flagged for serve's warning.
func TestDecryptionKeySetting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	set := authtest.WriteKeySet(t, authtest.NewDecryptionKey(t, "2026", "EC"), authtest.NewDecryptionKey(t, "2025", "RSA"))
	setBytes, err := os.ReadFile(set)
	if err != nil {
		t.Fatal(err)
	}
	readable := write("readable.jwks", setBytes, 0o644)
	weakKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak := write("weak.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(weakKey)}), 0o600)
	public := write("public.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), 0o600)
	file := write("orders.yaml", []byte("auth:\n  decryption_key_file: "+set+"\n"), 0o600)
	hosted := []string{"ORDERS_AUTH_ISSUER=https://issuer.example.com/", "ORDERS_AUTH_AUDIENCE=orders"}
	tests := []struct {
		name         string
		environ      []string
		wantKIDs     string
		wantReadable bool
		wantErr      string
	}{
		{"none", nil, "", false, ""},
		{"JWK set", []string{"ORDERS_AUTH_DECRYPTION_KEY_FILE=" + set}, "2026,2025", false, ""},
		{"from the configuration file", []string{"ORDERS_CONFIG=" + file}, "2026,2025", false, ""},
		{"readable by everyone", []string{"ORDERS_AUTH_DECRYPTION_KEY_FILE=" + readable}, "2026,2025", true, ""},
		{"missing file", []string{"ORDERS_AUTH_DECRYPTION_KEY_FILE=" + filepath.Join(dir, "nothing")}, "", false, "ORDERS_AUTH_DECRYPTION_KEY_FILE: open"},
		{"weak key", []string{"ORDERS_AUTH_DECRYPTION_KEY_FILE=" + weak}, "", false, "ORDERS_AUTH_DECRYPTION_KEY_FILE " + weak + ": PEM block 1: is an RSA key of 1024 bits"},
		{"public key", []string{"ORDERS_AUTH_DECRYPTION_KEY_FILE=" + public}, "", false, "ORDERS_AUTH_DECRYPTION_KEY_FILE " + public + ": PEM block 1 is a PUBLIC KEY, not a private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := loadConfig(nil, environFunc(append(append([]string{}, hosted...), tt.environ...)), io.Discard)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("loadConfig = %v; want an error saying %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("loadConfig: %v", err)
			}
			if got := strings.Join(decryptionKIDs(cfg.auth.DecryptionKeys), ","); got != tt.wantKIDs {
				t.Errorf("kids = %q; want %q", got, tt.wantKIDs)
			}
			if cfg.decryptionKeyReadable != tt.wantReadable {
				t.Errorf("readable = %v; want %v", cfg.decryptionKeyReadable, tt.wantReadable)
			}
		})
	}
}
