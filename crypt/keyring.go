package crypt

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/zerofs-go/zerofsd/objstore"
)

// KeyringPrefix is where an export's keyring objects live in its store:
// keyring/<20-digit id>.key, the highest id the newest. No other object of
// an export has a name under it, and it is a "directory" of no other name.
const KeyringPrefix = "keyring/"

// The keyring object format (version 1); see the package comment.
const (
	keyringMagic   = "ZFSK"
	keyringVersion = 1
	keyringLen     = 128
	kdfSaltLen     = 32
	krOffExportID  = 8
	krOffSalt      = krOffExportID + exportIDLen // 24
	krOffTime      = krOffSalt + kdfSaltLen      // 56
	krOffMemory    = krOffTime + 4               // 60
	krOffThreads   = krOffMemory + 4             // 64
	krOffNonce     = krOffThreads + 4            // 68
	krOffWrapped   = krOffNonce + nonceLen       // 80
	keyfileInfo    = "zerofsd crypt v1 keyring key"
)

// Bounds on Argon2id parameters, checked when writing and when reading a
// keyring (a keyring is read before it is authenticated, and a forged one
// must not make the daemon allocate without bound).
const (
	maxKDFTime      = 64
	maxKDFMemoryKiB = 1 << 20 // 1 GiB
	maxKDFThreads   = 64
)

// Keys are an export's secrets once its keyring is unlocked: the data key,
// from which every object's key is derived, and the export's random id, to
// which every object is bound. Printing them shows only the export id.
type Keys struct {
	dataKey  [KeyLen]byte
	exportID [exportIDLen]byte
}

// ExportID returns the export's random id in hexadecimal (not a secret).
func (k *Keys) ExportID() string { return hex.EncodeToString(k.exportID[:]) }

// String shows the export id only.
func (k *Keys) String() string { return "crypt.Keys(export " + k.ExportID() + ")" }

// GoString keeps %#v from printing the data key.
func (k *Keys) GoString() string { return k.String() }

// newKeys draws a fresh data key and export id.
func newKeys() (*Keys, error) {
	k := &Keys{}
	if _, err := rand.Read(k.dataKey[:]); err != nil {
		return nil, fmt.Errorf("crypt: drawing a data key: %w", err)
	}
	if _, err := rand.Read(k.exportID[:]); err != nil {
		return nil, fmt.Errorf("crypt: drawing an export id: %w", err)
	}
	return k, nil
}

// KDFParams are the Argon2id parameters that turn a passphrase into the key
// that wraps the data key. They are stored in the keyring beside the salt.
type KDFParams struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// DefaultKDFParams are RFC 9106's second recommended option: 3 passes over
// 64 MiB with 4 lanes (about a quarter of a second on a server core).
func DefaultKDFParams() KDFParams { return KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4} }

func (p KDFParams) check() error {
	if p.Time < 1 || p.Time > maxKDFTime || p.Threads < 1 || p.Threads > maxKDFThreads ||
		p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxKDFMemoryKiB {
		return fmt.Errorf("Argon2id parameters out of range: time %d (1..%d), memory %d KiB (8*threads..%d), threads %d (1..%d)",
			p.Time, maxKDFTime, p.MemoryKiB, maxKDFMemoryKiB, p.Threads, maxKDFThreads)
	}
	return nil
}

// KeyringOptions configure Open and Rotate. Zero fields take the defaults.
type KeyringOptions struct {
	// KDF are the Argon2id parameters of a keyring written for a
	// passphrase. Default DefaultKDFParams().
	KDF KDFParams
	// ReadOnly makes Open never create a keyring: an empty store gives
	// ErrNoKeyring (for tools that must not write).
	ReadOnly bool
}

func (o KeyringOptions) kdf() KDFParams {
	if o.KDF == (KDFParams{}) {
		return DefaultKDFParams()
	}
	return o.KDF
}

// keyringName is the name of keyring object id.
func keyringName(id uint64) string { return fmt.Sprintf("%s%020d.key", KeyringPrefix, id) }

// keyringID parses a keyring object's name.
func keyringID(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, KeyringPrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".key")
	if !ok || len(s) != 20 {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 10, 64)
	return id, err == nil
}

// keyring is one parsed keyring object.
type keyring struct {
	raw  []byte
	kind byte
	kdf  KDFParams
}

func parseKeyring(b []byte) (*keyring, error) {
	if len(b) != keyringLen {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), keyringLen)
	}
	if string(b[:4]) != keyringMagic {
		return nil, fmt.Errorf("not a keyring (magic %q)", b[:4])
	}
	if b[4] != keyringVersion {
		return nil, fmt.Errorf("unknown keyring version %d", b[4])
	}
	kr := &keyring{raw: b, kind: b[5]}
	switch kr.kind {
	case kindPassphrase:
		kr.kdf = KDFParams{
			Time:      binary.BigEndian.Uint32(b[krOffTime:]),
			MemoryKiB: binary.BigEndian.Uint32(b[krOffMemory:]),
			Threads:   b[krOffThreads],
		}
		if err := kr.kdf.check(); err != nil {
			return nil, err
		}
	case kindKeyFile:
	default:
		return nil, fmt.Errorf("unknown credential kind %d", kr.kind)
	}
	return kr, nil
}

// kek derives the key-encryption key of cred with a keyring's salt and
// parameters.
func kek(cred Credential, salt []byte, p KDFParams) ([]byte, error) {
	if cred.kind == kindPassphrase {
		return argon2.IDKey(cred.secret, salt, p.Time, p.MemoryKiB, p.Threads, KeyLen), nil
	}
	return hkdf.Key(sha256.New, cred.secret, salt, keyfileInfo, KeyLen)
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// wrapKeys writes a keyring holding keys, locked by cred.
func wrapKeys(keys *Keys, cred Credential, p KDFParams) ([]byte, error) {
	if cred.kind != kindPassphrase && cred.kind != kindKeyFile {
		return nil, errors.New("crypt: no credential given")
	}
	b := make([]byte, krOffWrapped, keyringLen)
	copy(b, keyringMagic)
	b[4] = keyringVersion
	b[5] = cred.kind
	copy(b[krOffExportID:], keys.exportID[:])
	if _, err := rand.Read(b[krOffSalt:krOffTime]); err != nil {
		return nil, fmt.Errorf("crypt: drawing a salt: %w", err)
	}
	if cred.kind == kindPassphrase {
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("crypt: %w", err)
		}
		binary.BigEndian.PutUint32(b[krOffTime:], p.Time)
		binary.BigEndian.PutUint32(b[krOffMemory:], p.MemoryKiB)
		b[krOffThreads] = p.Threads
	} else {
		p = KDFParams{}
	}
	if _, err := rand.Read(b[krOffNonce:krOffWrapped]); err != nil {
		return nil, fmt.Errorf("crypt: drawing a nonce: %w", err)
	}
	key, err := kek(cred, b[krOffSalt:krOffTime], p)
	if err != nil {
		return nil, fmt.Errorf("crypt: deriving the key-encryption key: %w", err)
	}
	aead, err := gcm(key)
	if err != nil {
		return nil, fmt.Errorf("crypt: %w", err)
	}
	return aead.Seal(b, b[krOffNonce:krOffWrapped], keys.dataKey[:], b[:krOffNonce]), nil
}

// unwrap returns the keys of a keyring that cred unlocks; false when it
// does not (a wrong key, or a damaged keyring: the two look alike).
func (kr *keyring) unwrap(cred Credential) (*Keys, bool, error) {
	key, err := kek(cred, kr.raw[krOffSalt:krOffTime], kr.kdf)
	if err != nil {
		return nil, false, fmt.Errorf("crypt: deriving the key-encryption key: %w", err)
	}
	aead, err := gcm(key)
	if err != nil {
		return nil, false, fmt.Errorf("crypt: %w", err)
	}
	dk, err := aead.Open(nil, kr.raw[krOffNonce:krOffWrapped], kr.raw[krOffWrapped:], kr.raw[:krOffNonce])
	if err != nil {
		return nil, false, nil
	}
	k := &Keys{}
	copy(k.dataKey[:], dk)
	copy(k.exportID[:], kr.raw[krOffExportID:krOffSalt])
	return k, true, nil
}

// listKeyrings returns the ids of the store's keyring objects, newest first.
func listKeyrings(ctx context.Context, store objstore.Store) ([]uint64, error) {
	var ids []uint64
	opts := objstore.ListOptions{}
	for {
		page, err := store.List(ctx, KeyringPrefix, opts)
		if err != nil {
			return nil, fmt.Errorf("crypt: listing keyrings: %w", err)
		}
		for _, o := range page.Objects {
			if id, ok := keyringID(o.Key); ok {
				ids = append(ids, id)
			}
		}
		if !page.Truncated || len(page.Objects) == 0 {
			break
		}
		opts.StartAfter = page.Objects[len(page.Objects)-1].Key
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	return ids, nil
}

// unlock returns the keys of the newest keyring among ids that cred unlocks,
// and its id.
func unlock(ctx context.Context, store objstore.Store, ids []uint64, cred Credential) (*Keys, uint64, error) {
	var tried []string
	gone := 0
	for _, id := range ids {
		name := keyringName(id)
		data, err := store.Get(ctx, name)
		if errors.Is(err, objstore.ErrNotFound) {
			gone++
			continue // removed by a rotation meanwhile
		}
		if err != nil {
			return nil, 0, fmt.Errorf("crypt: reading keyring %s: %w", name, err)
		}
		kr, err := parseKeyring(data)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s (unreadable: %v)", name, err))
			continue
		}
		if kr.kind != cred.kind {
			tried = append(tried, fmt.Sprintf("%s (locked by %s)", name, kindName(kr.kind)))
			continue
		}
		keys, ok, err := kr.unwrap(cred)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			return keys, id, nil
		}
		tried = append(tried, fmt.Sprintf("%s (locked by %s: not this one)", name, kindName(kr.kind)))
	}
	if len(tried) == 0 && gone > 0 {
		return nil, 0, errKeyringsGone
	}
	if len(tried) == 0 {
		return nil, 0, fmt.Errorf("crypt: no keyring in the store: %w", ErrNoKeyring)
	}
	return nil, 0, fmt.Errorf("crypt: %w: %s unlocks none of %s", ErrWrongKey, cred, strings.Join(tried, ", "))
}

// errKeyringsGone is unlock's answer when every keyring it was given was
// removed before it read it: a rotation replaced them after they were
// listed, so list again.
var errKeyringsGone = errors.New("crypt: every keyring listed was removed meanwhile")

// relistTries bounds how often Open and Rotate list the keyrings again
// after a rotation removed every one they listed.
const relistTries = 5

// listAndUnlock lists the keyrings and unlocks the newest that cred
// unlocks, listing again when a rotation replaced them all in between. It
// returns the ids listed (newest first), the keys and the id unlocked.
func listAndUnlock(ctx context.Context, store objstore.Store, cred Credential) ([]uint64, *Keys, uint64, error) {
	for try := 1; ; try++ {
		ids, err := listKeyrings(ctx, store)
		if err != nil {
			return nil, nil, 0, err
		}
		if len(ids) == 0 {
			return nil, nil, 0, nil
		}
		keys, id, err := unlock(ctx, store, ids, cred)
		if errors.Is(err, errKeyringsGone) && try < relistTries {
			continue
		}
		if errors.Is(err, errKeyringsGone) {
			err = fmt.Errorf("crypt: the keyrings keep being replaced while read (rotations running): %w", ErrNoKeyring)
		}
		return ids, keys, id, err
	}
}

// Open unlocks the keyring of the export in store with cred and returns its
// keys. In a store that holds nothing yet, it creates the keyring first
// (fresh keys, locked by cred): that is how an encrypted export is born. It
// refuses a store that holds an unencrypted export (ErrNotEncrypted) or
// encrypted objects without a keyring (ErrNoKeyring), and a credential that
// unlocks no keyring (ErrWrongKey). It only reads, except when it creates
// the keyring (never with opts.ReadOnly).
func Open(ctx context.Context, store objstore.Store, cred Credential, opts KeyringOptions) (*Keys, error) {
	ids, err := listKeyrings(ctx, store)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		// Empty, unless a keyring was created since we listed.
		err := checkEmpty(ctx, store)
		if errors.Is(err, errKeyringAppeared) {
			ids, err = listKeyrings(ctx, store)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(ids) > 0 {
		_, keys, _, err := listAndUnlock(ctx, store, cred)
		if err == nil && keys == nil {
			err = fmt.Errorf("crypt: every keyring was removed while the export was opened: %w", ErrNoKeyring)
		}
		return keys, err
	}
	if opts.ReadOnly {
		return nil, fmt.Errorf("crypt: %w: the store is empty (the export was never opened by its server)", ErrNoKeyring)
	}
	keys, err := newKeys()
	if err != nil {
		return nil, err
	}
	kr, err := wrapKeys(keys, cred, opts.kdf())
	if err != nil {
		return nil, err
	}
	name := keyringName(1)
	err = store.PutIfAbsent(ctx, name, kr)
	if errors.Is(err, objstore.ErrPreconditionFailed) {
		// Another process created it meanwhile (or an earlier attempt of
		// ours landed): use the stored one.
		keys, _, err := unlock(ctx, store, []uint64{1}, cred)
		return keys, err
	}
	if err != nil {
		return nil, fmt.Errorf("crypt: writing keyring %s: %w", name, err)
	}
	return keys, nil
}

// errKeyringAppeared is checkEmpty's answer when the store holds a keyring
// after all: another process created it after the caller listed keyrings.
var errKeyringAppeared = errors.New("crypt: a keyring appeared")

// checkEmpty refuses a store without a keyring that holds anything: an
// unencrypted export, or encrypted objects whose keyring is gone.
func checkEmpty(ctx context.Context, store objstore.Store) error {
	page, err := store.List(ctx, "", objstore.ListOptions{Limit: 1})
	if err != nil {
		return fmt.Errorf("crypt: listing the store: %w", err)
	}
	if len(page.Objects) == 0 {
		return nil
	}
	if ids, err := listKeyrings(ctx, store); err != nil {
		return err
	} else if len(ids) > 0 {
		return errKeyringAppeared
	}
	name := page.Objects[0].Key
	head, err := store.GetRange(ctx, name, 0, int64(len(objectMagic)))
	if err != nil && !errors.Is(err, objstore.ErrNotFound) {
		return fmt.Errorf("crypt: reading %s: %w", name, err)
	}
	if string(head) == objectMagic {
		return fmt.Errorf("crypt: %w (%s is sealed, and no %s object exists): without its keyring the data cannot be read", ErrNoKeyring, name, KeyringPrefix)
	}
	return fmt.Errorf("crypt: %w (it holds %s and no keyring): encryption cannot be turned on for existing data; copy the files into a new encrypted export", ErrNotEncrypted, name)
}

// CheckUnencrypted refuses (ErrEncrypted) a store that holds a keyring, for
// an export configured without encryption.
func CheckUnencrypted(ctx context.Context, store objstore.Store) error {
	page, err := store.List(ctx, KeyringPrefix, objstore.ListOptions{Limit: 1})
	if err != nil {
		return fmt.Errorf("crypt: listing keyrings: %w", err)
	}
	if len(page.Objects) > 0 {
		return fmt.Errorf("crypt: %w (keyring %s): set encryption = true and give its key", ErrEncrypted, page.Objects[0].Key)
	}
	return nil
}

// Rotate locks the export's data key under a new credential: it writes a
// new keyring (the next id, with PutIfAbsent) that newCred unlocks, then
// removes the older ones. No data object is rewritten. A rotation
// interrupted between the two steps leaves both keyrings, and the export
// opens with either credential; running Rotate again (with either) finishes
// it. It returns the new keyring's name.
func Rotate(ctx context.Context, store objstore.Store, oldCred, newCred Credential, opts KeyringOptions) (string, error) {
	ids, keys, unlocked, err := listAndUnlock(ctx, store, oldCred)
	if err != nil {
		return "", err
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("crypt: no keyring in the store: %w (a new encrypted export gets its keyring when it is first opened)", ErrNoKeyring)
	}
	if unlocked != ids[0] {
		// A newer keyring that oldCred does not unlock: another rotation
		// ran after the one that locked oldCred's. Only finishing that very
		// rotation (newCred unlocks the newest) is safe; replacing it would
		// lock out whoever made it.
		if _, _, err := unlock(ctx, store, ids[:1], newCred); err != nil {
			return "", fmt.Errorf("crypt: keyring %s is newer than %s, which %s unlocks, and the new key does not unlock it either: another rotation ran or is running; rotate from the key that opens %s: %w",
				keyringName(ids[0]), keyringName(unlocked), oldCred, keyringName(ids[0]), errRotatedMeanwhile)
		}
		name := keyringName(ids[0])
		return name, removeKeyrings(ctx, store, name, ids[1:])
	}
	kr, err := wrapKeys(keys, newCred, opts.kdf())
	if err != nil {
		return "", err
	}
	name := keyringName(ids[0] + 1)
	if err := store.PutIfAbsent(ctx, name, kr); err != nil {
		if errors.Is(err, objstore.ErrPreconditionFailed) {
			return "", fmt.Errorf("crypt: keyring %s appeared meanwhile: another rotation is running; run this one again once it is done: %w", name, errRotatedMeanwhile)
		}
		return "", fmt.Errorf("crypt: writing keyring %s: %w", name, err)
	}
	// The new keyring is in place and unlocks with newCred: the old ones
	// can go. A crash here leaves them, and either credential opens.
	if err := removeKeyrings(ctx, store, name, ids); err != nil {
		return name, err
	}
	// Ours must be the newest: a rotation that listed the keyrings before
	// ours was written, and was slow, may have written above it (or into
	// the name of one since removed). Then the export opens with its key,
	// not newCred: say so, and take ours back rather than leave a second
	// key that opens the export.
	after, err := listKeyrings(ctx, store)
	if err != nil {
		return name, fmt.Errorf("crypt: keyring %s written, but checking that no other rotation wrote after it failed: %w", name, err)
	}
	if len(after) == 0 || after[0] != ids[0]+1 {
		newest := "none"
		if len(after) > 0 {
			newest = keyringName(after[0])
			if derr := store.Delete(ctx, name); derr != nil && !errors.Is(derr, objstore.ErrNotFound) {
				return "", fmt.Errorf("crypt: another rotation wrote keyring %s after ours (%s), and removing ours failed: both keys open the export: %w", newest, name, derr)
			}
		}
		return "", fmt.Errorf("crypt: another rotation wrote keyring %s after ours (%s), which is removed: the export opens with the key %s is locked by: %w", newest, name, newest, errRotatedMeanwhile)
	}
	return name, nil
}

// errRotatedMeanwhile is matched by Rotate's error when another rotation
// ran at the same time.
var errRotatedMeanwhile = errors.New("crypt: rotated meanwhile")

// removeKeyrings removes the keyrings ids, replaced by the keyring name.
func removeKeyrings(ctx context.Context, store objstore.Store, name string, ids []uint64) error {
	for _, id := range ids {
		if err := store.Delete(ctx, keyringName(id)); err != nil && !errors.Is(err, objstore.ErrNotFound) {
			return fmt.Errorf("crypt: keyring %s written, but removing the old keyring %s failed (the old key still opens the export; run rotate again): %w", name, keyringName(id), err)
		}
	}
	return nil
}
