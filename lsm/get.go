package lsm

import (
	"bytes"
	"context"
	"errors"

	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/objstore"
)

// Get returns the value of key, or ErrNotFound. The returned slice belongs
// to the caller.
func (db *DB) Get(ctx context.Context, key []byte) ([]byte, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	for {
		v, seq := db.readState()
		val, err := db.getAt(ctx, v, seq, key)
		if !errors.Is(err, objstore.ErrNotFound) {
			return val, err
		}
		// Get does not pin its version: an SST it was about to read may
		// have been compacted away and collected meanwhile. A newer
		// manifest holds the same data elsewhere; read again. A reader
		// following the latest state may have lagged behind the writer's
		// GC: move it forward first.
		if db.v.Load().manifestID <= v.manifestID && db.readOnly && db.roCheckpoint == "" {
			if rerr := db.Refresh(ctx); rerr != nil {
				return nil, errors.Join(err, rerr)
			}
		}
		// Only a newer manifest can name the data elsewhere: the same
		// manifest names the same objects, and one missing from the store
		// stays missing. (A refresh installs a new version even of the
		// same manifest: retrying on any new version looped forever.)
		// Manifest ids only grow, so each retry needs a new manifest.
		if db.v.Load().manifestID <= v.manifestID {
			return val, err
		}
	}
}

func (db *DB) getAt(ctx context.Context, v *version, seq uint64, key []byte) ([]byte, error) {
	if val, _, kind, ok := v.mem.Get(key, seq); ok {
		return memResult(val, kind)
	}
	for _, m := range v.imm {
		if val, _, kind, ok := m.Get(key, seq); ok {
			return memResult(val, kind)
		}
	}
	for _, t := range v.l0 {
		if bytes.Compare(key, t.meta.Smallest) < 0 || bytes.Compare(key, t.meta.Largest) > 0 {
			continue
		}
		if val, found, err := db.tableGet(ctx, t, key, seq); found || err != nil {
			return val, err
		}
	}
	for _, r := range v.runs {
		t := r.find(key)
		if t == nil {
			continue
		}
		if val, found, err := db.tableGet(ctx, t, key, seq); found || err != nil {
			return val, err
		}
	}
	return nil, ErrNotFound
}

func memResult(val []byte, kind sstable.Kind) ([]byte, error) {
	if kind == sstable.KindDelete {
		return nil, ErrNotFound
	}
	return bytes.Clone(val), nil
}

// tableGet looks key up in one SST, resolving a pointer. found reports that
// the SST decides the answer (a value, or a tombstone reported as
// ErrNotFound).
func (db *DB) tableGet(ctx context.Context, t *table, key []byte, seq uint64) ([]byte, bool, error) {
	r, err := t.open(ctx)
	if err != nil {
		return nil, true, err
	}
	val, _, kind, found, err := r.Get(ctx, key, seq)
	if err != nil {
		return nil, true, wrapTableErr(tableKey(t.meta.ID), err)
	}
	switch {
	case !found:
		return nil, false, nil
	case kind == sstable.KindDelete:
		return nil, true, ErrNotFound
	case kind == sstable.KindPointer:
		val, err = db.readValue(ctx, val)
		if err != nil {
			return nil, true, err
		}
	}
	if val == nil {
		val = []byte{}
	}
	return val, true, nil
}
