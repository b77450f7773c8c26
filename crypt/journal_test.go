package crypt

import (
	"bytes"
	"testing"
)

// TestJournalKey: a journal file's key is the same for the same export and
// salt (a journal written before a restart opens after it), and different
// for another salt, another export (another data key), and from the object
// key of the same salt.
func TestJournalKey(t *testing.T) {
	keys := testKeys(t)
	s := newSealer(t, keys)
	salt := payload(JournalSaltLen, 1)
	nonce := make([]byte, nonceLen)
	ad := []byte("associated data")
	plain := []byte("a journal record")
	key, err := s.JournalKey(salt)
	if err != nil {
		t.Fatal(err)
	}
	sealed := key.Seal(nil, nonce, plain, ad)
	if bytes.Contains(sealed, plain) {
		t.Fatal("the sealed record holds its plaintext")
	}

	again, err := newSealer(t, keys).JournalKey(bytes.Clone(salt))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open(nil, nonce, sealed, ad); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("the same export and salt do not open the record: %q, %v", got, err)
	}

	otherSalt, _ := s.JournalKey(payload(JournalSaltLen, 2))
	otherExport, _ := newSealer(t, testKeys(t)).JournalKey(salt)
	objectKey, err := deriveKey(keys, salt, objectInfo)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]interface {
		Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
	}{"another salt": otherSalt, "another export": otherExport, "the object key of the salt": objectKey} {
		if _, err := k.Open(nil, nonce, sealed, ad); err == nil {
			t.Errorf("%s opens the record", name)
		}
	}
	for _, n := range []int{0, JournalSaltLen - 1, JournalSaltLen + 1} {
		if _, err := s.JournalKey(make([]byte, n)); err == nil {
			t.Errorf("a salt of %d bytes accepted", n)
		}
	}
}
