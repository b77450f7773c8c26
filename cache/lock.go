package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zerofs-go/zerofsd/internal/flock"
)

// lockDir takes an exclusive advisory lock (flock) on dir/LOCK so that two
// Disks never share a directory; closing the returned file releases it.
func lockDir(dir string) (*os.File, error) {
	f, err := flock.Lock(filepath.Join(dir, "LOCK"))
	if errors.Is(err, flock.ErrLocked) {
		return nil, fmt.Errorf("cache: %s: %w", dir, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return f, nil
}
