package exports

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/zerofs-go/zerofsd/config"
)

// storeID is what an export's data is known by: two exports with the same
// storeID name one database. It is the bucket and prefix of an S3 store (not
// the endpoint, region or credentials, which only say how to reach it), the
// canonical directory of a file store, and the export's name for a memory
// store (which lives only as long as the export that made it).
type storeID string

// identify returns the storeID of an export's store.
func identify(e config.Export) (storeID, error) {
	switch e.Store.Scheme {
	case config.SchemeS3:
		return storeID(config.StoreURL{Scheme: config.SchemeS3, Bucket: e.Store.Bucket, Prefix: e.Store.Prefix}.String()), nil
	case config.SchemeFile:
		dir, err := canonicalDir(e.Store.Dir)
		if err != nil {
			return "", fmt.Errorf("export %s: store %s: %w", e.Name, e.Store, err)
		}
		return storeID("file://" + dir), nil
	case config.SchemeMemory:
		return storeID("memory (export " + e.Name + ")"), nil
	}
	return "", fmt.Errorf("export %s: unsupported store scheme %q", e.Name, e.Store.Scheme)
}

// canonicalDir is dir made absolute and clean, with the symlinks of its
// longest existing ancestor (itself, when it exists) resolved: two spellings
// of one directory give the same string.
func canonicalDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolving directory %s: %w", dir, err)
	}
	rest := ""
	for p := abs; ; {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("resolving directory %s: %w", dir, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}
