package lsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/objstore"
)

// CheckpointInfo describes one checkpoint.
type CheckpointInfo struct {
	Name       string
	ManifestID uint64
	Created    time.Time
}

// Checkpoint makes everything written so far durable as SSTs and pins the
// resulting state under name until DeleteCheckpoint: its manifest and SSTs
// are never collected, and OpenReadOnly can read it.
func (db *DB) Checkpoint(ctx context.Context, name string) (CheckpointInfo, error) {
	if name == "" {
		return CheckpointInfo{}, fmt.Errorf("lsm: checkpoint name is empty")
	}
	if err := db.FlushMemtable(ctx); err != nil {
		return CheckpointInfo{}, err
	}
	var info CheckpointInfo
	attempts := 0
	_, err := db.updateManifest(ctx, func(next *manifest.Manifest) error {
		attempts++
		if c, ok := next.FindCheckpoint(name); ok {
			if attempts > 1 && c.ManifestID == next.ID-1 {
				// Our earlier attempt landed though its answer was lost.
				info = CheckpointInfo{Name: name, ManifestID: c.ManifestID, Created: time.Unix(0, c.CreatedUnixNano)}
				return errAlreadyDone
			}
			return fmt.Errorf("%w: %q", ErrCheckpointExists, name)
		}
		c := manifest.Checkpoint{Name: name, ManifestID: next.ID, CreatedUnixNano: next.CreatedUnixNano}
		next.Checkpoints = append(next.Checkpoints, c)
		info = CheckpointInfo{Name: name, ManifestID: c.ManifestID, Created: time.Unix(0, c.CreatedUnixNano)}
		return nil
	}, nil)
	if err != nil && !errorsIs(err, errAlreadyDone) {
		return CheckpointInfo{}, err
	}
	return info, nil
}

// ListCheckpoints returns the checkpoints recorded in the current manifest.
func (db *DB) ListCheckpoints(ctx context.Context) ([]CheckpointInfo, error) {
	var m *manifest.Manifest
	if db.readOnly {
		latest, err := loadLatestManifest(ctx, db.store)
		if err != nil {
			return nil, err
		}
		m = latest
	} else {
		db.manifestMu.Lock()
		m = db.man
		db.manifestMu.Unlock()
	}
	var out []CheckpointInfo
	if m == nil {
		return out, nil
	}
	for _, c := range m.Checkpoints {
		out = append(out, CheckpointInfo{Name: c.Name, ManifestID: c.ManifestID, Created: time.Unix(0, c.CreatedUnixNano)})
	}
	return out, nil
}

// DeleteCheckpoint removes a checkpoint; its SSTs become collectable.
func (db *DB) DeleteCheckpoint(ctx context.Context, name string) error {
	if err := db.checkWritable(); err != nil {
		return err
	}
	_, err := db.updateManifest(ctx, func(next *manifest.Manifest) error {
		n := len(next.Checkpoints)
		next.Checkpoints = slices.DeleteFunc(next.Checkpoints, func(c manifest.Checkpoint) bool { return c.Name == name })
		if len(next.Checkpoints) == n {
			return fmt.Errorf("%w: %q", ErrCheckpointNotFound, name)
		}
		return nil
	}, nil)
	return err
}

// The functions below manage checkpoints from outside the writer (another
// process, a command-line tool): they change the manifest with the same
// compare-and-swap as the writer but keep its epoch, so they fence nobody;
// the writer meets the new manifest on its next update and carries the
// change forward. Such a checkpoint holds what is in SSTs, not what the
// writer still has in its memtable and WAL (use DB.Checkpoint for that).

// CreateCheckpoint records a checkpoint named name of the latest manifest.
func CreateCheckpoint(ctx context.Context, store objstore.Store, name string) (CheckpointInfo, error) {
	if name == "" {
		return CheckpointInfo{}, fmt.Errorf("lsm: checkpoint name is empty")
	}
	var info CheckpointInfo
	err := casManifest(ctx, store, func(next *manifest.Manifest) error {
		if _, ok := next.FindCheckpoint(name); ok {
			return fmt.Errorf("%w: %q", ErrCheckpointExists, name)
		}
		c := manifest.Checkpoint{Name: name, ManifestID: next.ID, CreatedUnixNano: next.CreatedUnixNano}
		next.Checkpoints = append(next.Checkpoints, c)
		info = CheckpointInfo{Name: name, ManifestID: c.ManifestID, Created: time.Unix(0, c.CreatedUnixNano)}
		return nil
	}, func(latest *manifest.Manifest) bool {
		_, ok := latest.FindCheckpoint(name)
		return ok
	})
	return info, err
}

// RemoveCheckpoint deletes a checkpoint from the latest manifest.
func RemoveCheckpoint(ctx context.Context, store objstore.Store, name string) error {
	return casManifest(ctx, store, func(next *manifest.Manifest) error {
		n := len(next.Checkpoints)
		next.Checkpoints = slices.DeleteFunc(next.Checkpoints, func(c manifest.Checkpoint) bool { return c.Name == name })
		if len(next.Checkpoints) == n {
			return fmt.Errorf("%w: %q", ErrCheckpointNotFound, name)
		}
		return nil
	}, func(latest *manifest.Manifest) bool {
		_, ok := latest.FindCheckpoint(name)
		return !ok
	})
}

// StoredCheckpoints lists the checkpoints of the latest manifest.
func StoredCheckpoints(ctx context.Context, store objstore.Store) ([]CheckpointInfo, error) {
	m, err := loadLatestManifest(ctx, store)
	if err != nil || m == nil {
		return nil, err
	}
	var out []CheckpointInfo
	for _, c := range m.Checkpoints {
		out = append(out, CheckpointInfo{Name: c.Name, ManifestID: c.ManifestID, Created: time.Unix(0, c.CreatedUnixNano)})
	}
	return out, nil
}

// casManifest applies mutate to the latest manifest and writes it at id+1,
// retrying on conflict. The writer epoch is left as it is. A successful
// PUT is checked by reading the latest manifest again (done must hold for
// it): if this process paused long enough between reading and writing for
// the writer to move on and collect the manifest at id+1, the PUT landed
// in that freed id, below the writer's latest, where nobody reads it; then
// the change is made again on top of the latest.
func casManifest(ctx context.Context, store objstore.Store, mutate func(*manifest.Manifest) error, done func(latest *manifest.Manifest) bool) error {
	for {
		cur, err := loadLatestManifest(ctx, store)
		if err != nil {
			return err
		}
		if cur == nil {
			return fmt.Errorf("%w: %w", ErrNoDatabase, objstore.ErrNotFound)
		}
		next := cur.Clone()
		next.ID = cur.ID + 1
		next.CreatedUnixNano = time.Now().UnixNano()
		if err := mutate(next); err != nil {
			return err
		}
		err = store.PutIfAbsent(ctx, manifestKey(next.ID), manifest.Encode(next))
		if err == nil {
			latest, lerr := loadLatestManifest(ctx, store)
			if lerr != nil {
				return fmt.Errorf("lsm: %s written, but reading the latest manifest back failed: %w", manifestKey(next.ID), lerr)
			}
			if latest != nil && done(latest) {
				return nil
			}
			continue // written below the latest: make the change again
		}
		if !errors.Is(err, objstore.ErrPreconditionFailed) {
			return fmt.Errorf("lsm: writing %s: %w", manifestKey(next.ID), err)
		}
	}
}
