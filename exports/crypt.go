package exports

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/crypt"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/objstore"
)

// sealing prepares the encryption of export ec over its store, before its
// database opens (so a wrong key never fences a running writer). For an
// encrypted export it unlocks the keyring (creating it in a new store) and
// returns the export's Sealer: its Wrap goes above the disk cache, and it
// seals the local journal; for one without encryption it checks that the
// store holds no keyring and returns nil. With readOnly it never writes
// (no keyring is created). frameCache bounds the Sealer's cache of
// decrypted frames (0: none).
//
// known, when not nil, are the export's keys unlocked already (by the
// database a restore closed): they are used as they are, since the data
// key of an export never changes (a rotation only wraps it again, under a
// credential this process may not have).
//
// It also returns the credential that unlocked the keyring (none with
// known keys, or without encryption).
func sealing(ctx context.Context, ec config.Export, store objstore.Store, readOnly bool, frameCache int64, known *crypt.Keys, log *slog.Logger) (*crypt.Sealer, crypt.Credential, error) {
	if !ec.Encryption.Enabled {
		if err := crypt.CheckUnencrypted(ctx, store); err != nil {
			return nil, crypt.Credential{}, fmt.Errorf("export %s: %w", ec.Name, err)
		}
		return nil, crypt.Credential{}, nil
	}
	keys := known
	var cred crypt.Credential
	if keys == nil {
		var err error
		if cred, err = Credential(ec); err != nil {
			return nil, crypt.Credential{}, err
		}
		if keys, err = unlockKeys(ctx, ec, store, cred, readOnly); err != nil {
			return nil, crypt.Credential{}, err
		}
	}
	return crypt.NewSealer(keys, crypt.Options{FrameCacheBytes: frameCache, Logger: log}), cred, nil
}

// memoryCaches splits cache.memory_mb (per export) half and half between
// the database's block cache of decoded SST blocks and a cache of file
// data, which is read from values the block cache does not hold: for an
// encrypted export the Sealer's cache of decrypted frames (without it,
// every warm read would decrypt again), else the database's value cache.
// A block cache of -1 is none (memory_mb = 0 turns them all off).
func memoryCaches(memoryMB int, encrypted bool) (blockCache, frameCache, valueCache int64) {
	total := int64(memoryMB) << 20
	if total == 0 {
		return -1, 0, 0
	}
	if !encrypted {
		return total - total/2, 0, total / 2
	}
	return total - total/2, total / 2, 0
}

// wrapOf is s's store wrapper (lsm's WrapStore); nil without a Sealer.
func wrapOf(s *crypt.Sealer) func(objstore.Store) objstore.Store {
	if s == nil {
		return nil
	}
	return s.Wrap
}

// journalCipher is s as the local journal's cipher (lsm's JournalCipher);
// nil without a Sealer.
func journalCipher(s *crypt.Sealer) journal.Cipher {
	if s == nil {
		return nil
	}
	return s
}

// JournalCipher returns what reads the local journal of export ec from
// outside the daemon (`zerofsd journal`): nil for an export without
// encryption; for an encrypted one, its keys unlocked from its store with
// the configured key (reading the keyring only).
func JournalCipher(ctx context.Context, ec config.Export, log *slog.Logger) (journal.Cipher, error) {
	if !ec.Encryption.Enabled {
		return nil, nil
	}
	store, err := OpenStore(ctx, ec, log)
	if err != nil {
		return nil, fmt.Errorf("export %s: opening store %s for its keyring: %w", ec.Name, ec.Store, err)
	}
	keys, err := UnlockKeys(ctx, ec, store, true)
	if err != nil {
		return nil, err
	}
	return crypt.NewSealer(keys, crypt.Options{Logger: log}), nil
}

// UnlockKeys unlocks the keyring of encrypted export ec in store (its raw
// store, as OpenStore returns it) with the configured key. Unless readOnly,
// it creates the keyring in a store that holds nothing yet.
func UnlockKeys(ctx context.Context, ec config.Export, store objstore.Store, readOnly bool) (*crypt.Keys, error) {
	cred, err := Credential(ec)
	if err != nil {
		return nil, err
	}
	return unlockKeys(ctx, ec, store, cred, readOnly)
}

// unlockKeys is UnlockKeys with the credential read already.
func unlockKeys(ctx context.Context, ec config.Export, store objstore.Store, cred crypt.Credential, readOnly bool) (*crypt.Keys, error) {
	keys, err := crypt.Open(ctx, store, cred, crypt.KeyringOptions{ReadOnly: readOnly})
	if err != nil {
		return nil, fmt.Errorf("export %s: encryption: %w", ec.Name, err)
	}
	return keys, nil
}

// Credential returns what unlocks the keyring of encrypted export ec: its
// key file, or its passphrase from the environment.
func Credential(ec config.Export) (crypt.Credential, error) {
	var (
		cred crypt.Credential
		err  error
	)
	if ec.Encryption.KeyFile != "" {
		cred, err = crypt.ReadKeyFile(ec.Encryption.KeyFile)
	} else {
		cred, err = crypt.Passphrase(ec.Encryption.Passphrase.Reveal(), ec.Encryption.PassphraseEnv)
	}
	if err != nil {
		return crypt.Credential{}, fmt.Errorf("export %s: encryption: %w", ec.Name, err)
	}
	return cred, nil
}

// OpenDatabaseStore opens export ec's store as its database sees it:
// sealed and opened through the export's keys when it is encrypted (after
// checking the key), checked to hold no keyring when it is not. For tools
// that work on the database from outside the daemon (checkpoints); it has
// no disk cache.
func OpenDatabaseStore(ctx context.Context, ec config.Export, log *slog.Logger) (objstore.Store, error) {
	store, err := OpenStore(ctx, ec, log)
	if err != nil {
		return nil, fmt.Errorf("export %s: opening store %s: %w", ec.Name, ec.Store, err)
	}
	sealer, _, err := sealing(ctx, ec, store, true, 0, nil, log)
	if err != nil {
		return nil, err
	}
	if sealer != nil {
		return sealer.Wrap(store), nil
	}
	return store, nil
}
