package crypt

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// fastKDF keeps tests quick; production uses DefaultKDFParams.
var fastKDF = KeyringOptions{KDF: KDFParams{Time: 1, MemoryKiB: 256, Threads: 1}}

func mustPassphrase(t *testing.T, p string) Credential {
	t.Helper()
	return passphraseFrom(t, p, "TEST_VAR")
}

func writeKeyFile(t *testing.T, contents []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, contents, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustKeyFile(t *testing.T, key []byte) Credential {
	t.Helper()
	c, err := ReadKeyFile(writeKeyFile(t, key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func keyringNames(t *testing.T, store objstore.Store) []string {
	t.Helper()
	ids, err := listKeyrings(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, id := range ids {
		names = append(names, keyringName(id))
	}
	return names
}

// sameKeys checks that two unlocks gave the same export: an object sealed
// with one opens with the other.
func sameKeys(t *testing.T, a, b *Keys) {
	t.Helper()
	sealed, err := newSealer(t, a).Seal("x", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := newSealer(t, b).Open("x", sealed)
	if err != nil || string(got) != "hello" {
		t.Fatalf("keys differ: %v", err)
	}
}

func TestOpenCreatesThenUnlocks(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		right, wrong func(t *testing.T) Credential
	}{
		{"passphrase",
			func(t *testing.T) Credential { return mustPassphrase(t, "correct horse battery") },
			func(t *testing.T) Credential { return mustPassphrase(t, "correct horse battery!") }},
		{"key file",
			func(t *testing.T) Credential { return mustKeyFile(t, bytes.Repeat([]byte{7}, KeyLen)) },
			func(t *testing.T) Credential { return mustKeyFile(t, bytes.Repeat([]byte{8}, KeyLen)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := objstore.NewCounting(objstore.NewMemory())
			created, err := Open(ctx, store, tc.right(t), fastKDF)
			if err != nil {
				t.Fatal(err)
			}
			if names := keyringNames(t, store); len(names) != 1 || names[0] != "keyring/00000000000000000001.key" {
				t.Fatalf("keyrings after creation: %v", names)
			}
			again, err := Open(ctx, store, tc.right(t), fastKDF)
			if err != nil {
				t.Fatal(err)
			}
			sameKeys(t, created, again)

			writes := store.Stats()[objstore.OpPut].Requests + store.Stats()[objstore.OpPutIfAbsent].Requests
			_, err = Open(ctx, store, tc.wrong(t), fastKDF)
			if !errors.Is(err, ErrWrongKey) {
				t.Fatalf("wrong key: %v, want ErrWrongKey", err)
			}
			if !strings.Contains(err.Error(), "keyring/00000000000000000001.key") {
				t.Errorf("wrong-key error does not name the keyring: %v", err)
			}
			if w := store.Stats()[objstore.OpPut].Requests + store.Stats()[objstore.OpPutIfAbsent].Requests; w != writes {
				t.Errorf("a wrong key wrote to the store (%d writes)", w-writes)
			}
		})
	}
}

func TestWrongKindOfCredential(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	if _, err := Open(ctx, store, mustPassphrase(t, "a long enough passphrase"), fastKDF); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, store, mustKeyFile(t, bytes.Repeat([]byte{1}, KeyLen)), fastKDF)
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "locked by a passphrase") {
		t.Fatalf("key file on a passphrase keyring: %v", err)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	const pass = "my very secret passphrase"
	c := mustPassphrase(t, pass)
	k := testKeys(t)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%v %+v %#v", k, k, k)} {
		if strings.Contains(s, pass) || strings.Contains(s, hex.EncodeToString(k.dataKey[:])) || strings.Contains(s, string(k.dataKey[:8])) {
			t.Fatalf("a secret was printed: %s", s)
		}
	}
	if _, err := Passphrase("short", "ZEROFS_KEY_A"); err == nil || strings.Contains(err.Error(), "short") {
		t.Fatalf("short passphrase: %v (must be refused without repeating it)", err)
	}
}

// TestCredentialEqual: credentials are equal when their kind and secret
// are, whatever their source.
func TestCredentialEqual(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, KeyLen)
	hexFile := mustKeyFile(t, []byte(hex.EncodeToString(key)+"\n"))
	passOfKeyBytes, err := Passphrase(string(bytes.Repeat([]byte("a"), KeyLen)), "OTHER_VAR")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		a, b Credential
		want bool
	}{
		{"one key in two files and forms", mustKeyFile(t, key), hexFile, true},
		{"two keys", mustKeyFile(t, key), mustKeyFile(t, bytes.Repeat([]byte{0xac}, KeyLen)), false},
		{"one passphrase from two variables", mustPassphrase(t, "a passphrase long enough"), passphraseFrom(t, "a passphrase long enough", "OTHER_VAR"), true},
		{"two passphrases", mustPassphrase(t, "a passphrase long enough"), mustPassphrase(t, "a passphrase long enougH"), false},
		{"a key file and a passphrase", mustKeyFile(t, bytes.Repeat([]byte("a"), KeyLen)), passOfKeyBytes, false},
		{"a credential and none", hexFile, Credential{}, false},
	} {
		if got := tc.a.Equal(tc.b); got != tc.want || tc.b.Equal(tc.a) != tc.want {
			t.Errorf("%s: Equal = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func passphraseFrom(t *testing.T, p, source string) Credential {
	t.Helper()
	c, err := Passphrase(p, source)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKeyFileForms(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, KeyLen)
	hexKey := hex.EncodeToString(raw)
	for _, tc := range []struct {
		name     string
		contents []byte
		ok       bool
	}{
		{"raw", raw, true},
		{"hex", []byte(hexKey), true},
		{"hex and newline", []byte(hexKey + "\n"), true},
		{"hex and CRLF", []byte(hexKey + "\r\n"), true},
		{"upper-case hex", []byte(strings.ToUpper(hexKey)), true},
		{"too short", raw[:31], false},
		{"too long", append(bytes.Clone(raw), 0), false},
		{"not hex", []byte(strings.Repeat("zz", KeyLen)), false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ReadKeyFile(writeKeyFile(t, tc.contents))
			if !tc.ok {
				if err == nil {
					t.Fatal("accepted")
				}
				if len(tc.contents) > 0 && strings.Contains(err.Error(), string(tc.contents)) {
					t.Fatalf("error repeats the file's contents: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.secret, raw) {
				t.Fatalf("key %x, want %x", c.secret, raw)
			}
		})
	}
	_, err := ReadKeyFile(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing key file: %v", err)
	}
}

func TestOpenRefusesExistingData(t *testing.T) {
	ctx := context.Background()
	plain := objstore.NewMemory()
	_ = plain.Put(ctx, "manifest/00000000000000000001.manifest", []byte("plain manifest"))
	if _, err := Open(ctx, plain, mustPassphrase(t, "a long enough passphrase"), fastKDF); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("Open on an unencrypted export: %v, want ErrNotEncrypted", err)
	}
	if names := keyringNames(t, plain); len(names) != 0 {
		t.Fatalf("a keyring was written into an unencrypted export: %v", names)
	}

	sealed := objstore.NewMemory()
	if err := newSealer(t, testKeys(t)).Wrap(sealed).Put(ctx, "manifest/00000000000000000001.manifest", []byte("m")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, sealed, mustPassphrase(t, "a long enough passphrase"), fastKDF); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("Open on sealed objects without a keyring: %v, want ErrNoKeyring", err)
	}

	empty := objstore.NewMemory()
	ro := fastKDF
	ro.ReadOnly = true
	if _, err := Open(ctx, empty, mustPassphrase(t, "a long enough passphrase"), ro); !errors.Is(err, ErrNoKeyring) {
		t.Fatalf("read-only Open on an empty store: %v, want ErrNoKeyring", err)
	}
	if names := keyringNames(t, empty); len(names) != 0 {
		t.Fatalf("a read-only Open wrote a keyring: %v", names)
	}

	if err := CheckUnencrypted(ctx, plain); err != nil {
		t.Fatalf("CheckUnencrypted on a plain export: %v", err)
	}
	enc := objstore.NewMemory()
	if _, err := Open(ctx, enc, mustPassphrase(t, "a long enough passphrase"), fastKDF); err != nil {
		t.Fatal(err)
	}
	if err := CheckUnencrypted(ctx, enc); !errors.Is(err, ErrEncrypted) {
		t.Fatalf("CheckUnencrypted on an encrypted export: %v, want ErrEncrypted", err)
	}
}

func TestConcurrentCreation(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	cred := mustKeyFile(t, bytes.Repeat([]byte{3}, KeyLen))
	keys := make([]*Keys, 8)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = Open(ctx, store, cred, fastKDF)
		}()
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		sameKeys(t, keys[0], keys[i])
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	oldCred := mustPassphrase(t, "the old passphrase")
	newCred := mustKeyFile(t, bytes.Repeat([]byte{9}, KeyLen))
	orig, err := Open(ctx, store, oldCred, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Rotate(ctx, store, mustPassphrase(t, "not the passphrase"), newCred, fastKDF); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("rotate with a wrong old key: %v", err)
	}
	name, err := Rotate(ctx, store, oldCred, newCred, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if names := keyringNames(t, store); len(names) != 1 || names[0] != name || name != keyringName(2) {
		t.Fatalf("keyrings after rotation: %v (new %s)", names, name)
	}
	rotated, err := Open(ctx, store, newCred, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	sameKeys(t, orig, rotated)
	if _, err := Open(ctx, store, oldCred, fastKDF); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old key after rotation: %v, want ErrWrongKey", err)
	}
}

// TestRotateInterrupted crashes a rotation between writing the new keyring
// and removing the old one: the export must open with either credential,
// and a second rotation finishes the job.
func TestRotateInterrupted(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	oldCred := mustPassphrase(t, "the old passphrase")
	newCred := mustPassphrase(t, "the new passphrase")
	orig, err := Open(ctx, mem, oldCred, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	faulty := faultstore.New(mem, faultstore.Options{})
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpDelete}, Action: faultstore.CrashBefore})
	if _, err := Rotate(ctx, faulty, oldCred, newCred, fastKDF); !errors.Is(err, faultstore.ErrCrashed) {
		t.Fatalf("rotation: %v, want the injected crash", err)
	}
	if names := keyringNames(t, mem); len(names) != 2 {
		t.Fatalf("keyrings after the interrupted rotation: %v, want the old and the new", names)
	}
	for _, c := range []Credential{oldCred, newCred} {
		k, err := Open(ctx, mem, c, fastKDF)
		if err != nil {
			t.Fatalf("open with %s after an interrupted rotation: %v", c, err)
		}
		sameKeys(t, orig, k)
	}
	// Finishing with the old credential as "old" still works.
	if _, err := Rotate(ctx, mem, oldCred, newCred, fastKDF); err != nil {
		t.Fatal(err)
	}
	if names := keyringNames(t, mem); len(names) != 1 {
		t.Fatalf("keyrings after the second rotation: %v", names)
	}
	if _, err := Open(ctx, mem, newCred, fastKDF); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, mem, oldCred, fastKDF); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old key after the finished rotation: %v", err)
	}
}

// TestForgedKDFParameters checks that a keyring demanding absurd Argon2id
// work is refused before any derivation.
func TestForgedKDFParameters(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	cred := mustPassphrase(t, "a long enough passphrase")
	if _, err := Open(ctx, store, cred, fastKDF); err != nil {
		t.Fatal(err)
	}
	name := keyringName(1)
	raw, _ := store.Get(ctx, name)
	raw[krOffMemory] = 0xff // about 4 TiB
	_ = store.Put(ctx, name, raw)
	_, err := Open(ctx, store, cred, fastKDF)
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("forged parameters: %v", err)
	}
}

// interruptedRotation rotates store from oldCred to newCred but stops
// before removing the old keyring (a crash), so both are left.
func interruptedRotation(t *testing.T, store objstore.Store, oldCred, newCred Credential) {
	t.Helper()
	faulty := faultstore.New(store, faultstore.Options{})
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpDelete}, Action: faultstore.CrashBefore})
	if _, err := Rotate(context.Background(), faulty, oldCred, newCred, fastKDF); !errors.Is(err, faultstore.ErrCrashed) {
		t.Fatalf("rotation: %v, want the injected crash", err)
	}
}

// TestRotateRefusesAfterAnotherRotation: with a rotation from A to C
// written but its old keyring not yet removed, a rotation from A to B must
// not replace C's keyring: it wrote B's, removed A's and C's, and the
// operator of the first rotation, told that C now opens the export, was
// locked out. Finishing the first rotation (A to C again) still works.
func TestRotateRefusesAfterAnotherRotation(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	a, b, c := mustPassphrase(t, "the passphrase a"), mustPassphrase(t, "the passphrase b"), mustPassphrase(t, "the passphrase c")
	if _, err := Open(ctx, mem, a, fastKDF); err != nil {
		t.Fatal(err)
	}
	interruptedRotation(t, mem, a, c)
	if _, err := Rotate(ctx, mem, a, b, fastKDF); !errors.Is(err, errRotatedMeanwhile) {
		t.Fatalf("rotating from A to B while A to C is under way: %v, want a refusal", err)
	}
	if _, err := Open(ctx, mem, c, fastKDF); err != nil {
		t.Fatalf("C after the refused rotation: %v", err)
	}
	if _, err := Open(ctx, mem, b, fastKDF); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("B after the refused rotation: %v, want ErrWrongKey", err)
	}
	if _, err := Rotate(ctx, mem, a, c, fastKDF); err != nil {
		t.Fatalf("finishing the rotation from A to C: %v", err)
	}
	if names := keyringNames(t, mem); len(names) != 1 {
		t.Fatalf("keyrings after finishing: %v, want one", names)
	}
	if _, err := Open(ctx, mem, a, fastKDF); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("A after the finished rotation: %v, want ErrWrongKey", err)
	}
}

// hookedStore runs before once, before the first call it is armed for.
type hookedStore struct {
	objstore.Store
	onPut, onList bool
	once          sync.Once
	before        func()
}

func (h *hookedStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if h.onPut && strings.HasPrefix(key, KeyringPrefix) {
		h.once.Do(h.before)
	}
	return h.Store.PutIfAbsent(ctx, key, data)
}

func (h *hookedStore) List(ctx context.Context, prefix string, opts objstore.ListOptions) (objstore.ListPage, error) {
	page, err := h.Store.List(ctx, prefix, opts)
	if h.onList && prefix == KeyringPrefix {
		h.once.Do(h.before) // after listing: the listing is stale
	}
	return page, err
}

// TestRotateTakesBackAKeyringBelowANewerOne: a slow rotation (from A to
// D) that listed the keyrings before two others ran (A to B, B to C)
// writes its keyring into the name of one they removed, below C's. It
// succeeded, and D opened the export again beside C. Now it sees C's
// above its own, removes its own and fails.
func TestRotateTakesBackAKeyringBelowANewerOne(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	a, b, c, d := mustPassphrase(t, "the passphrase a"), mustPassphrase(t, "the passphrase b"), mustPassphrase(t, "the passphrase c"), mustPassphrase(t, "the passphrase d")
	if _, err := Open(ctx, mem, a, fastKDF); err != nil {
		t.Fatal(err)
	}
	slow := &hookedStore{Store: mem, onPut: true, before: func() {
		for _, step := range [][2]Credential{{a, b}, {b, c}} {
			if _, err := Rotate(ctx, mem, step[0], step[1], fastKDF); err != nil {
				t.Errorf("rotation %s to %s: %v", step[0], step[1], err)
			}
		}
	}}
	if _, err := Rotate(ctx, slow, a, d, fastKDF); !errors.Is(err, errRotatedMeanwhile) {
		t.Fatalf("the slow rotation: %v, want a failure naming the newer keyring", err)
	}
	if _, err := Open(ctx, mem, c, fastKDF); err != nil {
		t.Fatalf("C: %v", err)
	}
	if _, err := Open(ctx, mem, d, fastKDF); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("D after its rotation was taken back: %v, want ErrWrongKey", err)
	}
	if names := keyringNames(t, mem); len(names) != 1 {
		t.Fatalf("keyrings: %v, want only C's", names)
	}
}

// TestOpenDuringRotation: an open that listed the keyrings just before a
// rotation replaced them found none of them when it read them, and
// reported a store with encrypted objects but no keyring. It lists again.
func TestOpenDuringRotation(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	a, b := mustPassphrase(t, "the passphrase a"), mustPassphrase(t, "the passphrase b")
	orig, err := Open(ctx, mem, a, fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	racing := &hookedStore{Store: mem, onList: true, before: func() {
		if _, err := Rotate(ctx, mem, a, b, fastKDF); err != nil {
			t.Errorf("rotation: %v", err)
		}
	}}
	got, err := Open(ctx, racing, b, fastKDF)
	if err != nil {
		t.Fatalf("open with the new key during the rotation: %v", err)
	}
	sameKeys(t, orig, got)
}
