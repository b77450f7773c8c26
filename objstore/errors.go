package objstore

import "errors"

// ErrInvalidKey is returned (wrapped) for a key that no backend may store:
// see ValidateKey.
var ErrInvalidKey = errors.New("invalid object key")

// ErrInvalidRange is returned (wrapped) by GetRange for a negative offset or
// length.
var ErrInvalidRange = errors.New("invalid byte range")
