package kvfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"
)

// kvFaults are the errors a faultKV fails calls with (nil: none).
type kvFaults struct {
	get    error
	getKey []byte // when set, only the Get of this key fails
	iter   error
	write  error
}

// faultKV fails calls of a MemKV with the errors set.
type faultKV struct {
	*MemKV
	mu     sync.Mutex
	faults kvFaults
}

func (k *faultKV) set(f kvFaults) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.faults = f
}

func (k *faultKV) current() kvFaults {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.faults
}

func (k *faultKV) Get(ctx context.Context, key []byte) ([]byte, error) {
	if f := k.current(); f.get != nil && (f.getKey == nil || bytes.Equal(key, f.getKey)) {
		return nil, f.get
	}
	return k.MemKV.Get(ctx, key)
}

func (k *faultKV) NewIterator(ctx context.Context, lower, upper []byte) (KVIterator, error) {
	it, err := k.MemKV.NewIterator(ctx, lower, upper)
	f := k.current()
	if err != nil || f.iter == nil {
		return it, err
	}
	return &failingIter{KVIterator: it, failKey: lower, err: f.iter}, nil
}

func (k *faultKV) Write(ctx context.Context, ops []KVOp, durable bool) error {
	if f := k.current(); f.write != nil {
		return f.write
	}
	return k.MemKV.Write(ctx, ops, durable)
}

// TestStorageErrorsAreMarked: whatever errno an error of the KV holds, it
// comes out of kvfs as a StorageError, so that it is never taken for the
// filesystem's answer; a store that takes no writes is the exception, an
// EROFS answer. kvfs's own errno answers are not marked.
func TestStorageErrorsAreMarked(t *testing.T) {
	ctx := context.Background()
	cred := Cred{}
	kv := &faultKV{MemKV: NewMemKV()}
	setup, err := Open(ctx, kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := setup.Mkdir(ctx, cred, RootIno, "d", 0o755)
	if err != nil {
		t.Fatal(err)
	}
	f, err := setup.Create(ctx, cred, d.Attr.Ino, "f", CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.Write(ctx, cred, f.Attr.Ino, 0, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := setup.Close(ctx); err != nil {
		t.Fatal(err)
	}
	fs, err := Open(ctx, kv, Options{SizeLimitBytes: 1 << 20}) // empty caches
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(ctx)

	getattr := func() error { _, err := fs.GetAttr(ctx, f.Attr.Ino); return err }
	readdir := func() error { _, _, err := fs.ReadDir(ctx, cred, d.Attr.Ino, 0, 10, false); return err }
	mkdir := func() error { _, err := fs.Mkdir(ctx, cred, RootIno, "e", 0o755); return err }
	lookup := func() error { _, err := fs.Lookup(ctx, cred, d.Attr.Ino, "f"); return err }
	readdirplus := func() error { _, _, err := fs.ReadDir(ctx, cred, d.Attr.Ino, 0, 10, true); return err }
	fInode := inodeKey(f.Attr.Ino)
	tests := []struct {
		name    string
		faults  kvFaults
		op      func() error
		errno   syscall.Errno
		storage bool
	}{
		{"get EACCES", kvFaults{get: fmt.Errorf("objstore: get: %w", syscall.EACCES)}, getattr, syscall.EACCES, true},
		{"get ENOENT", kvFaults{get: syscall.ENOENT}, getattr, syscall.ENOENT, true},
		// The store's ESTALE is not an inode removed meanwhile: no ENOENT,
		// no entry listed without its attributes.
		{"lookup, inode ESTALE", kvFaults{get: syscall.ESTALE, getKey: fInode}, lookup, syscall.ESTALE, true},
		{"readdirplus, inode ESTALE", kvFaults{get: syscall.ESTALE, getKey: fInode}, readdirplus, syscall.ESTALE, true},
		{"iterator ESTALE", kvFaults{iter: syscall.ESTALE}, readdir, syscall.ESTALE, true},
		{"write EPERM", kvFaults{write: syscall.EPERM}, mkdir, syscall.EPERM, true},
		{"write read-only store", kvFaults{write: fmt.Errorf("%w: fenced", ErrKVReadOnly)}, mkdir, syscall.EROFS, false},
		{"kvfs's own ENOENT", kvFaults{}, func() error { _, err := fs.Lookup(ctx, cred, RootIno, "nope"); return err }, syscall.ENOENT, false},
		{"kvfs's own ENOSPC", kvFaults{}, func() error { _, err := fs.Write(ctx, cred, f.Attr.Ino, 0, make([]byte, 2<<20)); return err }, syscall.ENOSPC, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv.set(tt.faults)
			defer kv.set(kvFaults{})
			err := tt.op()
			var errno syscall.Errno
			if !errors.As(err, &errno) || errno != tt.errno {
				t.Fatalf("err = %v, want one holding %v", err, tt.errno)
			}
			var se *StorageError
			if errors.As(err, &se) != tt.storage {
				t.Fatalf("err = %v: StorageError %v, want %v", err, !tt.storage, tt.storage)
			}
		})
	}
}
