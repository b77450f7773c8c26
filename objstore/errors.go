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
