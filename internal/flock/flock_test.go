package flock

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestLockIsExclusiveUntilClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "LOCK")
	first, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	// A second open file description conflicts, even in the same process.
	if _, err := Lock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock = %v, want ErrLocked", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Lock(path)
	if err != nil {
		t.Fatalf("Lock after the holder closed: %v", err)
	}
	again.Close()
}
