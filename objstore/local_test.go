package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/objstore"
)

func newLocal(t *testing.T, dir string) *objstore.Local {
	t.Helper()
	s, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocalLayoutAndTempFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := newLocal(t, dir)
	if err := s.Put(ctx, "wal/00000000000000000001.sst", []byte("w1")); err != nil {
		t.Fatal(err)
	}
	// The object is a plain file at the key's path.
	got, err := os.ReadFile(filepath.Join(dir, "wal", "00000000000000000001.sst"))
	if err != nil || string(got) != "w1" {
		t.Fatalf("file content = %q, %v", got, err)
	}
	// A temp file left by a crash mid-write is invisible.
	stale := filepath.Join(dir, "wal", ".objstore-tmp-deadbeef")
	if err := os.WriteFile(stale, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, "", objstore.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Objects) != 1 || page.Objects[0].Key != "wal/00000000000000000001.sst" {
		t.Fatalf("List = %+v, want only the object", page.Objects)
	}
	// No temp file of ours is left behind.
	entries, _ := os.ReadDir(filepath.Join(dir, "wal"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".objstore-tmp-") && filepath.Join(dir, "wal", e.Name()) != stale {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

// TestLocalRemoveStaleTemps: opening a store removes nothing (a read-only
// opener writes nothing); RemoveStaleTemps removes the temp files left by
// a crash between writing and renaming, once old enough that no live
// writer can still be using them, and leaves fresh ones and objects. A
// canceled context stops it before it removes anything.
func TestLocalRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	files := []struct {
		path      string
		age       time.Duration
		wantAfter bool
	}{
		{".objstore-tmp-00000000000000aa", 2 * time.Hour, false},
		{"wal/.objstore-tmp-00000000000000bb", 2 * time.Hour, false},
		{"a/b/c/.objstore-tmp-00000000000000cc", 25 * time.Hour, false},
		{"wal/.objstore-tmp-00000000000000dd", 0, true},                      // may be in the middle of a write
		{"compacted/.objstore-tmp-00000000000000ee", 30 * time.Minute, true}, // too young to be sure
		{"wal/00000000000000000001.sst", 48 * time.Hour, true},               // an object, however old
	}
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		mtime := now.Add(-f.age)
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	s := newLocal(t, dir)
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.path))); err != nil {
			t.Errorf("%s: gone after NewLocal (%v), want kept", f.path, err)
		}
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := s.RemoveStaleTemps(canceled); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("RemoveStaleTemps(canceled) = %d, %v; want 0, context.Canceled", n, err)
	}
	n, err := s.RemoveStaleTemps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantRemoved := 0
	for _, f := range files {
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f.path)))
		switch {
		case f.wantAfter && err != nil:
			t.Errorf("%s: gone after RemoveStaleTemps (%v), want kept", f.path, err)
		case !f.wantAfter && !errors.Is(err, os.ErrNotExist):
			t.Errorf("%s: still there after RemoveStaleTemps (%v), want removed", f.path, err)
		}
		if !f.wantAfter {
			wantRemoved++
		}
	}
	if n != wantRemoved {
		t.Errorf("RemoveStaleTemps removed %d files, says %d", wantRemoved, n)
	}
}

func TestLocalFileDirectoryConflicts(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t, t.TempDir())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Put(ctx, "a", []byte("file")))
	if err := s.Put(ctx, "a/b", []byte("x")); !errors.Is(err, objstore.ErrKeyConflict) {
		t.Fatalf("Put under an object's name: %v, want ErrKeyConflict", err)
	}
	must(s.Put(ctx, "d/e", []byte("x")))
	if err := s.Put(ctx, "d", []byte("x")); !errors.Is(err, objstore.ErrKeyConflict) {
		t.Fatalf("Put over a directory that holds objects: %v, want ErrKeyConflict", err)
	}
	if err := s.PutIfAbsent(ctx, "d", []byte("x")); !errors.Is(err, objstore.ErrKeyConflict) {
		t.Fatalf("PutIfAbsent over a directory that holds objects: %v, want ErrKeyConflict", err)
	}
	// Once the directory's objects are gone, the name is free again.
	must(s.Delete(ctx, "d/e"))
	must(s.Put(ctx, "d", []byte("now a file")))
	must(s.Delete(ctx, "d"))
	must(s.Put(ctx, "f/g", nil))
	must(s.Delete(ctx, "f/g"))
	must(s.PutIfAbsent(ctx, "f", []byte("free")))
	// Deleting the name of a directory is a no-op, not an error.
	must(s.Put(ctx, "h/i", nil))
	must(s.Delete(ctx, "h"))
	if _, err := s.Head(ctx, "h/i"); err != nil {
		t.Fatalf("Delete of a directory name removed its objects: %v", err)
	}
}

func TestLocalPutIfAbsentAcrossInstances(t *testing.T) {
	// Two stores on one directory (two processes, say): link(2) still gives
	// exactly one winner.
	ctx := context.Background()
	dir := t.TempDir()
	stores := []*objstore.Local{newLocal(t, dir), newLocal(t, dir)}
	for round := range 20 {
		key := fmt.Sprintf("manifest/%020d.manifest", round)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for w := range errs {
			wg.Go(func() { errs[w] = stores[w%2].PutIfAbsent(ctx, key, []byte{byte(w)}) })
		}
		wg.Wait()
		winners := 0
		for _, err := range errs {
			switch {
			case err == nil:
				winners++
			case !errors.Is(err, objstore.ErrPreconditionFailed):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d winners", round, winners)
		}
	}
}

func TestNewLocalErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"", file} {
		if _, err := objstore.NewLocal(dir); err == nil {
			t.Errorf("NewLocal(%q) succeeded", dir)
		}
	}
	// A missing directory is created.
	dir := filepath.Join(t.TempDir(), "new", "store")
	if _, err := objstore.NewLocal(dir); err != nil {
		t.Fatalf("NewLocal(%q): %v", dir, err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("NewLocal did not create %q: %v", dir, err)
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		key   string
		valid bool
	}{
		{"a", true},
		{"wal/00000000000000000001.sst", true},
		{"compacted/01HZY.sst", true},
		{".hidden", true},
		{"a/..b/c..", true},
		{"", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{".", false},
		{"..", false},
		{"a/../b", false},
		{"a/./b", false},
		{"a/.objstore-tmp-x", false},
		{"a\x00b", false},
		{strings.Repeat("k", 1024), true},
		{strings.Repeat("k", 1025), false},
	}
	for _, tc := range tests {
		err := objstore.ValidateKey(tc.key)
		if (err == nil) != tc.valid {
			t.Errorf("ValidateKey(%q) = %v, want valid=%v", tc.key, err, tc.valid)
		}
		if err != nil && !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) error %v does not wrap ErrInvalidKey", tc.key, err)
		}
	}
}

// FuzzValidateKey checks that every key ValidateKey accepts stays inside
// the local store's directory and round-trips through List.
func FuzzValidateKey(f *testing.F) {
	for _, seed := range []string{"a", "a/b", "../x", "a/../../b", "/etc/passwd", "a//b", ".", "a\\..\\b", "wal/1.sst"} {
		f.Add(seed)
	}
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, key string) {
		if objstore.ValidateKey(key) != nil {
			return
		}
		path := filepath.Join(root, filepath.FromSlash(key))
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.ToSlash(rel) != key {
			t.Fatalf("valid key %q maps to %q (rel %q) outside or not equal to the key", key, path, rel)
		}
		segs := strings.Split(key, "/")
		if slices.Contains(segs, "") || slices.Contains(segs, "..") {
			t.Fatalf("valid key %q has a bad segment", key)
		}
	})
}
