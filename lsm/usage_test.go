package lsm

import (
	"context"
	"testing"

	"github.com/zerofs-go/zerofsd/objstore"
)

// TestUsage: Usage accounts for every object of the store, names what the
// latest state points into, and what only a checkpoint keeps; a read-only
// database reports the same.
func TestUsage(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	db := mustOpen(t, mem, valueOptions())
	defer db.Close(ctx)
	keys := keyList(200)
	putAll(t, db, keys, 1)
	if _, err := db.Checkpoint(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	putAll(t, db, keys, 2)
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := db.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	for _, prefix := range []string{manifestPrefix, walPrefix, valuePrefix, tablePrefix} {
		objs, err := listAll(ctx, mem, prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			stored += o.Size
		}
	}
	var valueBytes, pinnedBytes int64
	for _, k := range keys {
		valueBytes += int64(len(bigValue(k, 2)))
		pinnedBytes += int64(len(bigValue(k, 1)))
	}
	db.manifestMu.Lock()
	tables := len(manifestTables(db.man))
	db.manifestMu.Unlock()
	switch {
	case u.StoredBytes() != stored:
		t.Errorf("stored %d bytes, the store holds %d", u.StoredBytes(), stored)
	case u.CurrentTables.Objects != tables:
		t.Errorf("%d current SSTs, the manifest lists %d", u.CurrentTables.Objects, tables)
	case u.ReferencedValueBytes < valueBytes || u.Referenced.Objects == 0:
		t.Errorf("the latest state points at %d value bytes in %d objects; %d bytes were written last", u.ReferencedValueBytes, u.Referenced.Objects, valueBytes)
	case u.Pinned.Bytes < pinnedBytes:
		t.Errorf("only %d bytes kept for the checkpoint, which holds %d bytes of values", u.Pinned.Bytes, pinnedBytes)
	}
	ro, err := OpenReadOnly(ctx, mem, ReadOnlyOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(ctx)
	if u2, err := ro.Usage(ctx); err != nil || u2 != u {
		t.Errorf("read-only Usage = %+v, %v; the writer's %+v", u2, err, u)
	}
}
