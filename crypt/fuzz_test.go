package crypt

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/zerofs-go/zerofsd/objstore"
)

// fuzzKeys are fixed keys, so that seeds sealed with them stay valid.
func fuzzKeys() *Keys {
	k := &Keys{}
	for i := range k.dataKey {
		k.dataKey[i] = byte(i)
	}
	k.exportID[0] = 1
	return k
}

// FuzzOpen feeds arbitrary stored objects to the decoder: whole (Open) and
// ranged (GetRange through the store). It must never panic, and whatever it
// accepts must be what the seal of that name and length would give back:
// only objects sealed with the keys verify.
func FuzzOpen(f *testing.F) {
	s := NewSealer(fuzzKeys(), Options{Logger: quietLogger()})
	for _, n := range []int{0, 1, 100, frameSize, frameSize + 1, 2*frameSize + 3} {
		sealed, err := s.Seal("obj", payload(n, uint64(n)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sealed, int64(0), int64(n))
		f.Add(sealed, int64(frameSize-3), int64(10))
	}
	f.Add([]byte("ZFSC"), int64(0), int64(1))
	f.Add(make([]byte, headerLen), int64(0), int64(1))
	f.Fuzz(func(t *testing.T, stored []byte, off, n int64) {
		plain, err := s.Open("obj", stored)
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("Open error %v does not wrap ErrTampered", err)
			}
		} else if int64(len(stored)) != sealedSize(int64(len(plain))) {
			t.Fatalf("Open accepted %d stored bytes for %d plaintext bytes", len(stored), len(plain))
		}
		mem := objstore.NewMemory()
		ctx := context.Background()
		if err := mem.Put(ctx, "obj", stored); err != nil {
			t.Fatal(err)
		}
		fresh := NewSealer(fuzzKeys(), Options{Logger: quietLogger()}).Wrap(mem)
		got, rerr := fresh.GetRange(ctx, "obj", off, n)
		if off < 0 || n < 0 {
			if !errors.Is(rerr, objstore.ErrInvalidRange) {
				t.Fatalf("GetRange(%d, %d): %v, want ErrInvalidRange", off, n, rerr)
			}
			return
		}
		if rerr != nil && !errors.Is(rerr, ErrTampered) {
			t.Fatalf("GetRange error %v does not wrap ErrTampered", rerr)
		}
		if err == nil && rerr == nil {
			lo := min(off, int64(len(plain)))
			hi := min(int64(len(plain)), lo+min(n, int64(len(plain))))
			if !bytes.Equal(got, plain[lo:hi]) {
				t.Fatalf("GetRange(%d, %d) = %d bytes, Open's plaintext has %d there", off, n, len(got), hi-lo)
			}
		}
	})
}

// FuzzKeyring feeds arbitrary keyring objects to the parser and unlocker:
// no panic, no unbounded work, and no keys from anything but a keyring
// written with this credential.
func FuzzKeyring(f *testing.F) {
	cred := Credential{kind: kindKeyFile, secret: bytes.Repeat([]byte{5}, KeyLen), source: "fuzz"}
	pass := Credential{kind: kindPassphrase, secret: []byte("fuzzing passphrase"), source: "fuzz"}
	for _, c := range []Credential{cred, pass} {
		kr, err := wrapKeys(fuzzKeys(), c, KDFParams{Time: 1, MemoryKiB: 64, Threads: 1})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(kr)
	}
	f.Add([]byte("ZFSK"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kr, err := parseKeyring(data)
		if err != nil {
			return
		}
		if kr.kind == kindPassphrase && kr.kdf.MemoryKiB > 1024 {
			return // valid but too slow to fuzz
		}
		for _, c := range []Credential{cred, pass} {
			if kr.kind != c.kind {
				continue
			}
			keys, ok, err := kr.unwrap(c)
			if err != nil {
				t.Fatal(err)
			}
			// Only the seeds were written with these credentials, and
			// only for fuzzKeys: anything else must not unlock.
			if ok && (keys.dataKey != fuzzKeys().dataKey || keys.exportID != fuzzKeys().exportID) {
				t.Fatalf("a forged keyring unlocked to other keys")
			}
		}
	})
}
