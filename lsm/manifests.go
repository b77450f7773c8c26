package lsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/objstore"
)

// listAll lists every key under prefix, following pagination.
func listAll(ctx context.Context, store objstore.Store, prefix string) ([]objstore.ObjectInfo, error) {
	var out []objstore.ObjectInfo
	opts := objstore.ListOptions{}
	for {
		page, err := store.List(ctx, prefix, opts)
		if err != nil {
			return nil, fmt.Errorf("lsm: listing %s: %w", prefix, err)
		}
		out = append(out, page.Objects...)
		if !page.Truncated || len(page.Objects) == 0 {
			return out, nil
		}
		opts.StartAfter = page.Objects[len(page.Objects)-1].Key
	}
}

// latestManifestID returns the highest manifest id in the store (0 if none).
func latestManifestID(ctx context.Context, store objstore.Store) (uint64, error) {
	id, _, err := latestManifestObject(ctx, store)
	return id, err
}

// latestManifestObject returns the highest manifest id in the store (0 if
// none) and its object as listed.
func latestManifestObject(ctx context.Context, store objstore.Store) (uint64, objstore.ObjectInfo, error) {
	objs, err := listAll(ctx, store, manifestPrefix)
	if err != nil {
		return 0, objstore.ObjectInfo{}, err
	}
	var latest uint64
	var info objstore.ObjectInfo
	for _, o := range objs {
		if id, ok := parseID(o.Key, manifestPrefix, manifestSuffix); ok && id > latest {
			latest, info = id, o
		}
	}
	return latest, info, nil
}

// readManifest loads and decodes one manifest.
func readManifest(ctx context.Context, store objstore.Store, id uint64) (*manifest.Manifest, error) {
	key := manifestKey(id)
	data, err := store.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("lsm: reading %s: %w", key, err)
	}
	m, err := manifest.Decode(data)
	if err != nil {
		return nil, corrupt(key, err)
	}
	if m.ID != id {
		return nil, corrupt(key, fmt.Errorf("manifest says id %d", m.ID))
	}
	return m, nil
}

// loadLatestManifest returns the current manifest, or nil if there is none.
func loadLatestManifest(ctx context.Context, store objstore.Store) (*manifest.Manifest, error) {
	for {
		id, err := latestManifestID(ctx, store)
		if err != nil || id == 0 {
			return nil, err
		}
		m, err := readManifest(ctx, store, id)
		if errors.Is(err, objstore.ErrNotFound) {
			continue // collected between list and get; list again
		}
		return m, err
	}
}

// updateManifest writes the next manifest: a clone of the current one
// changed by mutate, at id+1 with PutIfAbsent. If that id is taken, the
// latest manifest is reloaded: a different writer epoch means we are fenced;
// the same epoch means an earlier attempt of ours landed, and mutate is
// applied again to it (mutations must be idempotent).
//
// publish, when set, runs after a successful write while the manifest lock
// is still held, so versions are published in manifest order.
func (db *DB) updateManifest(ctx context.Context, mutate func(m *manifest.Manifest) error, publish func(m *manifest.Manifest)) (*manifest.Manifest, error) {
	db.manifestMu.Lock()
	defer db.manifestMu.Unlock()
	for {
		if db.fenced.Load() {
			return nil, ErrFenced
		}
		next := db.man.Clone()
		next.ID = db.man.ID + 1
		next.CreatedUnixNano = db.now().UnixNano()
		if err := mutate(next); err != nil {
			return nil, err
		}
		start := db.now()
		err := db.store.PutIfAbsent(ctx, manifestKey(next.ID), manifest.Encode(next))
		if err == nil && !db.unfencedRecently() {
			// Judged once the PUT returned: it may have taken long. The
			// id may have been a newer writer's manifest, since collected
			// (unfenced.go).
			reason, lerr := db.newerWriter(ctx)
			if lerr != nil {
				// Landed, but not confirmed: go on from it (the next
				// update writes above it, and GC keeps what it names),
				// without taking the change for done.
				db.man = next
				return nil, lerr
			}
			if reason != "" {
				db.manifestMu.Unlock()
				db.fence(reason + "; " + manifestKey(next.ID) + " was written after it, into a collected id")
				db.manifestMu.Lock()
				return nil, ErrFenced
			}
		}
		if err == nil {
			db.markUnfenced(start) // the latest manifest was ours then
			db.man = next
			if publish != nil {
				publish(next)
			}
			return next, nil
		}
		if !errors.Is(err, objstore.ErrPreconditionFailed) {
			return nil, fmt.Errorf("lsm: writing %s: %w", manifestKey(next.ID), err)
		}
		latest, err := loadLatestManifest(ctx, db.store)
		if err != nil {
			return nil, err
		}
		if latest == nil || latest.ID <= db.man.ID {
			return nil, fmt.Errorf("lsm: %s exists but the latest manifest is older", manifestKey(next.ID))
		}
		if latest.WriterEpoch != db.epoch {
			db.manifestMu.Unlock()
			db.fence(fmt.Sprintf("manifest %d has writer epoch %d, ours is %d", latest.ID, latest.WriterEpoch, db.epoch))
			db.manifestMu.Lock()
			return nil, ErrFenced
		}
		db.man = latest
	}
}
