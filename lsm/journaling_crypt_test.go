package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// journalFileContents returns the contents of every file under dir, by path.
func journalFileContents(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		out[p] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLocalEncryptedRevealsNothing: with the store unavailable, an
// encrypted database's acknowledged writes are only in the local journal,
// and no file there shows their keys or values (in the clear they do);
// after a crash, reopened with the store back, every one is there.
func TestLocalEncryptedRevealsNothing(t *testing.T) {
	const keyMark, valueMark = "SECRET-KEY-", "SECRET-VALUE-"
	forJournalKinds(t, func(t *testing.T, k journalKind) {
		ctx := context.Background()
		store := faultstore.New(objstore.NewMemory(), faultstore.Options{})
		opts := k.options(t, nil, t.TempDir())
		opts.FlushInterval = 5 * time.Millisecond // ships at once, if the store lets it
		opts.JournalFileBytes = 16 << 10
		db := mustOpen(t, store, opts)
		down := store.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent}})
		want := map[string]string{}
		for i := 0; i < 100; i++ {
			key, value := fmt.Sprintf("%s%03d", keyMark, i), strings.Repeat(fmt.Sprintf("%s%03d|", valueMark, i), 1+i%20)
			if err := db.Put(ctx, []byte(key), []byte(value), WriteOptions{AwaitDurable: true}); err != nil {
				t.Fatal(err)
			}
			want[key] = value
		}
		if st := db.Stats(); st.UnshippedBytes == 0 || st.Journal.Files < 2 {
			t.Fatalf("the writes are not (only) in the journal: %d bytes unshipped, %d journal files", st.UnshippedBytes, st.Journal.Files)
		}
		files := journalFileContents(t, opts.JournalDir)
		var seen []string
		for path, data := range files {
			for _, mark := range []string{keyMark, valueMark} {
				if bytes.Contains(data, []byte(mark)) {
					seen = append(seen, filepath.Base(path)+": "+mark)
				}
			}
		}
		if k.sealed && len(seen) > 0 {
			t.Fatalf("the sealed journal shows plaintext: %v", seen)
		}
		if !k.sealed && len(seen) == 0 {
			t.Fatal("control: the journal in the clear does not show the writes: the scan cannot see them")
		}
		t.Logf("%d files scanned, %d bytes", len(files), db.Stats().Journal.DiskBytes)

		db.kill()
		down.Remove()
		re := mustOpen(t, store, opts)
		defer re.Close(ctx)
		checkAll(t, re, want)
	})
}

// TestLocalEncryptedNeedsItsKey: a sealed journal fails an Open without
// the journal's cipher, before anything is written to the store. With
// another export's cipher nothing of it verifies: it is set aside, never
// applied. With its own key, a bucket-durability Open ships it.
func TestLocalEncryptedNeedsItsKey(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := journalKinds[1].options(t, nil, t.TempDir())
	db := mustOpen(t, store, opts)
	want := putAwaited(t, db, "k", 20)
	db.kill()
	manifests := func() int {
		objs, err := listAll(ctx, store, manifestPrefix)
		if err != nil {
			t.Fatal(err)
		}
		return len(objs)
	}
	before := manifests()

	noKey := opts
	noKey.JournalCipher = nil
	if _, err := Open(ctx, store, noKey); !errors.Is(err, journal.ErrSealed) {
		t.Fatalf("Open without the journal's key = %v, want ErrSealed", err)
	}
	if n := manifests(); n != before {
		t.Fatalf("the refused Open wrote %d manifests", n-before)
	}

	// The journal of this export copied to another one: the other export's
	// Open sets it aside (its files do not verify) and applies nothing.
	var logs testenv.SyncBuffer
	other := journalKinds[1].options(t, nil, t.TempDir())
	other.Logger = logTo(&logs)
	otherStore := objstore.NewMemory()
	o := mustOpen(t, otherStore, other)
	o.kill()
	for path, data := range journalFileContents(t, opts.JournalDir) {
		if strings.HasSuffix(path, ".journal") {
			os.WriteFile(filepath.Join(other.JournalDir, filepath.Base(path)), data, 0o644)
		}
	}
	o = mustOpen(t, otherStore, other)
	for key := range want {
		if _, err := o.Get(ctx, []byte(key)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s from another export's journal was applied (%v)", key, err)
		}
	}
	if !strings.Contains(logs.String(), "SET ASIDE") || !strings.Contains(logs.String(), "failed authentication") {
		t.Fatalf("another export's journal was not reported:\n%s", logs.String())
	}
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}

	bucket := opts
	bucket.Durability = DurabilityBucket
	re := mustOpen(t, store, bucket)
	defer re.Close(ctx)
	checkAll(t, re, want)
}

// TestLocalEncryptedRefusesClearJournal: a journal in the clear whose
// header names an encrypted database (which never writes one) is set
// aside, not applied: its records are not authenticated.
func TestLocalEncryptedRefusesClearJournal(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := journalKinds[1].options(t, nil, t.TempDir())
	clear := opts
	clear.JournalCipher = nil
	db := mustOpen(t, store, clear)
	written := putAwaited(t, db, "k", 10)
	db.kill()

	var logs testenv.SyncBuffer
	opts.Logger = logTo(&logs)
	re := mustOpen(t, store, opts)
	defer re.Close(ctx)
	for key := range written {
		if _, err := re.Get(ctx, []byte(key)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s from a journal in the clear was applied (%v)", key, err)
		}
	}
	if !strings.Contains(logs.String(), "SET ASIDE") || !strings.Contains(logs.String(), "not sealed") {
		t.Fatalf("the journal in the clear was not reported:\n%s", logs.String())
	}
	orphans, err := journal.ListOrphans(nil, opts.JournalDir, nil)
	if err != nil || len(orphans) != 1 || orphans[0].Records != 10 {
		t.Fatalf("orphans %+v, %v; want the 10 records set aside", orphans, err)
	}
}
