package crypt

import (
	"errors"
	"fmt"

	"github.com/zerofs-go/zerofsd/objstore"
)

// ErrTampered is matched (errors.Is) by every read of an object that fails
// authentication: a header or frame whose tag does not verify, an object
// shorter or longer than its header says, frames swapped or moved, an object
// renamed, or one written by another export or with another data key. The
// wrapping error names the object and also matches objstore.ErrCorrupt, so
// that layers above the store tell damage from a failing request. The data
// of such a read is never returned.
var ErrTampered = errors.New("failed authentication (tampered with, damaged, or not written by this export)")

// tamperedError is a read's authentication failure: it names the object,
// and matches ErrTampered and objstore.ErrCorrupt.
type tamperedError struct {
	name  string
	cause error
}

func (e *tamperedError) Error() string {
	return fmt.Sprintf("crypt: object %s %v: %v", e.name, ErrTampered, e.cause)
}

func (e *tamperedError) Unwrap() []error { return []error{ErrTampered, objstore.ErrCorrupt} }

// ErrWrongKey is matched by Open and Rotate when the given passphrase or key
// file unlocks none of the export's keyring objects (a wrong key, or a
// keyring damaged or replaced).
var ErrWrongKey = errors.New("wrong key: the passphrase or key file does not unlock the export's keyring")

// ErrNotEncrypted is matched by Open when the store already holds an
// export's data but no keyring: an export created without encryption, which
// cannot be turned on in place.
var ErrNotEncrypted = errors.New("the store holds an unencrypted export")

// ErrEncrypted is matched by CheckUnencrypted when the store holds a
// keyring: the export is encrypted and must be opened with its key.
var ErrEncrypted = errors.New("the store holds an encrypted export")

// ErrNoKeyring is matched by Open when the store holds encrypted objects but
// no keyring: the keyring was deleted, and the data cannot be read.
var ErrNoKeyring = errors.New("the store holds encrypted objects but no keyring")
