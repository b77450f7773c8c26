package lsm

import (
	"context"
	"fmt"

	"github.com/zerofs-go/zerofsd/lsm/vlog"
	"github.com/zerofs-go/zerofsd/objstore"
)

// ObjectUsage counts objects and their bytes.
type ObjectUsage struct {
	Objects int
	Bytes   int64
}

func (u *ObjectUsage) add(size int64) {
	u.Objects++
	u.Bytes += size
}

// Usage is what a database's store holds, by kind of object, and how much
// of it the latest manifest uses.
type Usage struct {
	// ManifestID is the latest manifest, which the figures below refer to.
	ManifestID uint64
	// Every object of the store, by kind.
	Manifests, WAL, ValueObjects, Tables ObjectUsage
	// CurrentTables are the SSTs of the latest manifest.
	CurrentTables ObjectUsage
	// Referenced are the WAL and value objects its SSTs point into, and
	// ReferencedValueBytes the stored bytes of the separated values they
	// point at there (compressed values at their compressed size; versions
	// a merge would drop included).
	Referenced           ObjectUsage
	ReferencedValueBytes int64
	// Pinned are the objects only checkpoints keep: SSTs and objects with
	// values the checkpointed manifests use and the latest does not.
	Pinned ObjectUsage
}

// StoredBytes is the size of every object of the store.
func (u Usage) StoredBytes() int64 {
	return u.Manifests.Bytes + u.WAL.Bytes + u.ValueObjects.Bytes + u.Tables.Bytes
}

// Usage lists the store and reads the SSTs' value refs (from their
// metadata, which it reads once per SST) to say what the store holds. It
// works on a writer and on a read-only database, and changes nothing.
func (db *DB) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	if db.closed.Load() {
		return u, ErrClosed
	}
	cur, err := loadLatestManifest(ctx, db.store)
	if err != nil {
		return u, err
	}
	if cur == nil {
		return u, fmt.Errorf("%w: %w", ErrNoDatabase, objstore.ErrNotFound)
	}
	u.ManifestID = cur.ID
	listed := make(map[string]int64)
	for _, p := range []struct {
		prefix string
		into   *ObjectUsage
	}{{manifestPrefix, &u.Manifests}, {walPrefix, &u.WAL}, {valuePrefix, &u.ValueObjects}, {tablePrefix, &u.Tables}} {
		objs, err := listAll(ctx, db.store, p.prefix)
		if err != nil {
			return u, err
		}
		for _, o := range objs {
			p.into.add(o.Size)
			listed[o.Key] = o.Size
		}
	}
	inCurrent := make(map[string]bool)
	referenced := make(map[vlog.Object]bool)
	for _, t := range manifestTables(cur) {
		u.CurrentTables.add(t.Size)
		inCurrent[tableKey(t.ID)] = true
		refs, err := db.tableRefs(ctx, t)
		if err != nil {
			return u, err
		}
		for o, c := range refs {
			u.ReferencedValueBytes += int64(c.Bytes)
			if !referenced[o] {
				referenced[o] = true
				inCurrent[objectKey(o)] = true
				u.Referenced.add(listed[objectKey(o)])
			}
		}
	}
	pinned := make(map[string]bool)
	for _, c := range cur.Checkpoints {
		m, err := readManifest(ctx, db.store, c.ManifestID)
		if err != nil {
			return u, fmt.Errorf("lsm: checkpoint %q: %w", c.Name, err)
		}
		for _, t := range manifestTables(m) {
			if key := tableKey(t.ID); !inCurrent[key] && !pinned[key] {
				pinned[key] = true
				u.Pinned.add(listed[key])
			}
			refs, err := db.tableRefs(ctx, t)
			if err != nil {
				return u, err
			}
			for o := range refs {
				if key := objectKey(o); !inCurrent[key] && !pinned[key] {
					pinned[key] = true
					u.Pinned.add(listed[key])
				}
			}
		}
	}
	return u, nil
}
