package crypt

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"os"
	"unicode/utf8"
)

// MinPassphraseLen is the shortest passphrase accepted, in characters.
// Anyone who can read the bucket can try passphrases against the keyring
// offline; Argon2id slows each try, but only length makes the search long.
const MinPassphraseLen = 12

// credential kinds, as stored in a keyring.
const (
	kindPassphrase = 1
	kindKeyFile    = 2
)

// Credential is what unlocks an export's keyring: a passphrase or a 32-byte
// key read from a key file. Printing it never shows the secret.
type Credential struct {
	kind   byte
	secret []byte
	source string // what to call it in messages: "the passphrase", "key file /x"
}

// Passphrase returns the credential of a passphrase of at least
// MinPassphraseLen characters; source names where it came from in messages
// (an environment variable's name, say), never the passphrase itself.
func Passphrase(p, source string) (Credential, error) {
	if n := utf8.RuneCountInString(p); n < MinPassphraseLen {
		return Credential{}, fmt.Errorf("crypt: the passphrase in %s has %d characters; use at least %d", source, n, MinPassphraseLen)
	}
	return Credential{kind: kindPassphrase, secret: []byte(p), source: "the passphrase in " + source}, nil
}

// ReadKeyFile returns the credential of the key in the file at path: either
// exactly 32 bytes, or 64 hexadecimal digits and an optional line end (as
// written by `openssl rand -hex 32`).
func ReadKeyFile(path string) (Credential, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Credential{}, fmt.Errorf("crypt: reading key file: %w", err)
	}
	key, err := parseKey(data)
	if err != nil {
		return Credential{}, fmt.Errorf("crypt: key file %s: %w", path, err)
	}
	return Credential{kind: kindKeyFile, secret: key, source: "key file " + path}, nil
}

// parseKey reads a key file's contents. Its errors never repeat them.
func parseKey(data []byte) ([]byte, error) {
	if len(data) == KeyLen {
		return bytes.Clone(data), nil
	}
	text := bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
	if len(text) == 2*KeyLen {
		key := make([]byte, KeyLen)
		if _, err := hex.Decode(key, text); err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("holds %d bytes: want exactly %d bytes, or %d hexadecimal digits (e.g. from `openssl rand -hex 32`)", len(data), KeyLen, 2*KeyLen)
}

// Equal reports whether c and o are the same secret of the same kind,
// wherever each came from.
func (c Credential) Equal(o Credential) bool {
	return c.kind == o.kind && subtle.ConstantTimeCompare(c.secret, o.secret) == 1
}

// String names the credential without its secret.
func (c Credential) String() string {
	if c.source == "" {
		return "no credential"
	}
	return c.source
}

// GoString keeps %#v from printing the secret.
func (c Credential) GoString() string { return "crypt.Credential(" + c.String() + ")" }

func kindName(kind byte) string {
	switch kind {
	case kindPassphrase:
		return "a passphrase"
	case kindKeyFile:
		return "a key file"
	}
	return fmt.Sprintf("an unknown kind of credential (%d)", kind)
}
