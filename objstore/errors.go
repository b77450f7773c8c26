package objstore

import "errors"

// ErrInvalidKey is returned (wrapped) for a key that no backend may store:
// see ValidateKey.
var ErrInvalidKey = errors.New("invalid object key")

// ErrInvalidRange is returned (wrapped) by GetRange for a negative offset or
// length.
var ErrInvalidRange = errors.New("invalid byte range")

// ErrNoSuchBucket is returned (wrapped) by S3.CheckBucket when the bucket
// does not exist.
var ErrNoSuchBucket = errors.New("bucket does not exist")

// ErrKeyConflict is returned (wrapped) by a backend that maps keys to files
// (Local, Memory for parity, versitygw's posix backend through S3) when a
// write would make one key a "directory" of another: "a" and "a/b". Stores
// that allow both (AWS S3) never return it; callers must not rely on either.
var ErrKeyConflict = errors.New("key conflicts with an existing object (one would be a directory of the other)")

// ErrCorrupt is matched by reads of an object whose stored bytes a store
// checked and found damaged (for an encrypted export: bytes that fail
// authentication). Unlike a failing request, reading again returns the
// same damage.
var ErrCorrupt = errors.New("object's stored bytes are damaged")
