package crypt

import (
	"crypto/cipher"
	"fmt"
)

// JournalSaltLen is the length of the random salt a local journal file's
// key is derived from.
const JournalSaltLen = saltLen

// journalInfo starts the HKDF info string of a journal file's key: a domain
// of its own, so that no journal key is ever an object key.
const journalInfo = "zerofsd crypt v1 journal key"

// JournalKey returns the AEAD (AES-256-GCM) that seals one file of the
// export's local journal (package lsm/journal): its key is HKDF-SHA256 of
// the data key with the file's salt (JournalSaltLen random bytes the
// journal draws for each file and keeps in the file's header), bound to
// the export id. It is the lsm/journal.Cipher of an encrypted export.
//
// The journal chooses the nonces: it must never seal two different
// plaintexts under one salt with the same nonce.
func (s *Sealer) JournalKey(salt []byte) (cipher.AEAD, error) {
	if len(salt) != JournalSaltLen {
		return nil, fmt.Errorf("crypt: a journal salt of %d bytes, want %d", len(salt), JournalSaltLen)
	}
	aead, err := deriveKey(s.keys, salt, journalInfo)
	if err != nil {
		return nil, fmt.Errorf("crypt: deriving a journal key: %w", err)
	}
	return aead, nil
}
