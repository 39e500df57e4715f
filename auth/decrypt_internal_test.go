package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/coffeemesh/orders/auth/jwe"
	"github.com/coffeemesh/orders/internal/devissuer"
)

// TestCachedEncryptedTokenIsNotDecryptedAgain: the cache keys on the
// token as sent, so an encrypted token seen before is accepted without
// its decryption key (taken away here to tell), while another encryption
// of the same signed token is decrypted anew.
func TestCachedEncryptedTokenIsNotDecryptedAgain(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(nil)
	iss, err := devissuer.New("http://"+srv.Listener.Addr().String(), "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = iss.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	signed, err := iss.Mint("alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	private, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, err := json.Marshal(jose.JSONWebKey{Key: private, KeyID: "k"})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := jwe.ParseKeys(set)
	if err != nil {
		t.Fatal(err)
	}
	encrypt := func() string {
		enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES, Key: private.Public(), KeyID: "k"}, (&jose.EncrypterOptions{}).WithContentType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		obj, err := enc.Encrypt([]byte(signed))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cfg := Config{Issuers: []Issuer{{URL: iss.URL(), Audiences: []string{"orders"}}}, CacheSize: 10, DecryptionKeys: keys}
	v, err := NewVerifier(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tok := encrypt()
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatalf("first use: %v", err)
	}
	v.cfg.DecryptionKeys = nil
	if p, err := v.Verify(t.Context(), tok); err != nil || p.Subject != "alice" {
		t.Errorf("cached use = %+v, %v; want alice from the cache, without decrypting", p, err)
	}
	var e *Error
	if _, err := v.Verify(t.Context(), encrypt()); !errors.As(err, &e) || e.Reason != ReasonJWENoKey {
		t.Errorf("another encryption = %v; want %s, as it is decrypted anew", err, ReasonJWENoKey)
	}
}
