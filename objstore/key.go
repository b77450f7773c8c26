package objstore

import (
	"fmt"
	"strings"
)

// maxKeyLen bounds key length (S3 allows 1024 bytes).
const maxKeyLen = 1024

// ValidateKey reports whether key may be stored by every backend. A valid
// key is non-empty, at most 1024 bytes, contains no NUL byte, does not
// start or end with "/", has no empty segment ("a//b") and no "." or ".."
// segment, and no segment starting with the local backend's temp-file
// prefix (".objstore-tmp-"). Errors wrap ErrInvalidKey.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > maxKeyLen {
		return fmt.Errorf("%w: key of %d bytes (max %d)", ErrInvalidKey, len(key), maxKeyLen)
	}
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w: key %q contains a NUL byte", ErrInvalidKey, key)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w: key %q is absolute", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: key %q has an empty segment", ErrInvalidKey, key)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: key %q has a %q segment", ErrInvalidKey, key, seg)
		case strings.HasPrefix(seg, localTempPrefix):
			return fmt.Errorf("%w: key %q uses the reserved prefix %q", ErrInvalidKey, key, localTempPrefix)
		}
	}
	return nil
}

// checkRange validates GetRange arguments.
func checkRange(key string, off, n int64) error {
	if off < 0 || n < 0 {
		return fmt.Errorf("objstore: get range of %q: offset %d length %d: %w", key, off, n, ErrInvalidRange)
	}
	return nil
}

// sliceRange returns a copy of data[off:off+n], clipped to the data.
func sliceRange(data []byte, off, n int64) []byte {
	size := int64(len(data))
	if off >= size {
		return []byte{}
	}
	end := size
	if n < size-off {
		end = off + n
	}
	return append([]byte{}, data[off:end]...)
}

// defaultListLimit is the page size when ListOptions.Limit is 0.
const defaultListLimit = 1000

func listLimit(opts ListOptions) int {
	if opts.Limit <= 0 {
		return defaultListLimit
	}
	return opts.Limit
}
