package main

import (
	"fmt"
	"io"
	"os"

	"github.com/coffeemesh/orders/auth/jwe"
)

// maxKeyFile bounds the decryption key file: a JWK set of many RSA keys
// fits well below.
const maxKeyFile = 1 << 20

// loadDecryptionKeys reads the keys of ORDERS_AUTH_DECRYPTION_KEY_FILE, if
// set, into the verifier's configuration. A key the API must not decrypt
// with (weak, public, symmetric, of an unknown curve) is an error naming
// the setting; a file that every user may read is allowed, as in
// containers whose secrets are mounted so, but serve warns about it.
func (cfg *config) loadDecryptionKeys() error {
	path := cfg.decryptionKeyFile
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ORDERS_AUTH_DECRYPTION_KEY_FILE: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("ORDERS_AUTH_DECRYPTION_KEY_FILE: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	switch {
	case err != nil:
		return fmt.Errorf("ORDERS_AUTH_DECRYPTION_KEY_FILE: %w", err)
	case len(b) > maxKeyFile:
		return fmt.Errorf("ORDERS_AUTH_DECRYPTION_KEY_FILE %s: is larger than 1 MiB", path)
	}
	keys, err := jwe.ParseKeys(b)
	if err != nil {
		return fmt.Errorf("ORDERS_AUTH_DECRYPTION_KEY_FILE %s: %w", path, err)
	}
	cfg.auth.DecryptionKeys = keys
	cfg.decryptionKeyReadable = info.Mode().Perm()&0o004 != 0
	return nil
}

// decryptionKIDs lists the kids of keys for the log, "" for a key without
// one; nil when there are no keys.
func decryptionKIDs(keys *jwe.Keys) []string {
	if keys == nil {
		return nil
	}
	return keys.KIDs()
}
