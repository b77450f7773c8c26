package exports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/exports/snapdir"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/objstore"
)

// What one open snapshot reader holds in memory at most, beside the shared
// disk cache: package snapdir keeps at most snapdir.Options.MaxOpen (8) of
// them per store open, so a store's snapshots hold at most about 8 times
// (snapshotBlockCacheBytes + snapshotInodeCacheEntries inodes and entries).
const (
	snapshotBlockCacheBytes   = 8 << 20
	snapshotInodeCacheEntries = 4096
)

// snapshotSource is the snapdir.Source of one store: its checkpoints.
type snapshotSource struct {
	store     objstore.Store // as the database sees it (sealed), for listing
	raw       objstore.Store // under the disk cache and the wrapper, for opening
	wrap      func(objstore.Store) objstore.Store
	diskCache *cache.Disk
	ns        string
	log       *slog.Logger
}

var _ snapdir.Source = snapshotSource{}

// List returns the checkpoints of the store's latest manifest.
func (s snapshotSource) List(ctx context.Context) ([]snapdir.Info, error) {
	cps, err := lsm.StoredCheckpoints(ctx, s.store)
	if err != nil {
		return nil, err
	}
	out := make([]snapdir.Info, len(cps))
	for i, c := range cps {
		out[i] = snapdir.Info{Name: c.Name, ID: c.ManifestID, Created: c.Created}
	}
	return out, nil
}

// Open opens checkpoint info read-only, refusing a checkpoint of that name
// that pins another manifest (deleted and made again).
func (s snapshotSource) Open(ctx context.Context, info snapdir.Info) (nfs.Filesystem, func(context.Context) error, error) {
	log := s.log.With("snapshot", info.Name)
	db, err := lsm.OpenReadOnly(ctx, s.raw, lsm.ReadOnlyOptions{
		Checkpoint:           info.Name,
		CheckpointManifestID: info.ID,
		BlockCacheBytes:      snapshotBlockCacheBytes,
		DiskCache:            s.diskCache,
		CacheNamespace:       s.ns,
		WrapStore:            s.wrap,
		Logger:               log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("opening checkpoint %q: %w", info.Name, err)
	}
	fs, err := kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{ReadOnly: true, InodeCacheEntries: snapshotInodeCacheEntries, Logger: log})
	if err != nil {
		_ = db.Close(ctx)
		return nil, nil, fmt.Errorf("opening the filesystem of checkpoint %q: %w", info.Name, err)
	}
	return fs, func(ctx context.Context) error { return errors.Join(fs.Close(ctx), db.Close(ctx)) }, nil
}

// newSnapshots returns the snapshot set of an open database.
func (r *Registry) newSnapshots(d *database) *snapdir.Set {
	src := snapshotSource{store: d.dbStore(), raw: d.store, wrap: d.wrap, diskCache: r.opts.DiskCache, ns: string(d.id), log: d.log}
	return snapdir.NewSet(src, d.fs.FSID(), snapdir.Options{Logger: d.log})
}

// snapshotExport is what the NFS server sees of snapshot fs of export e:
// the export's access rules, read-only. Built once per snapshot and export
// set (a reload builds them anew with the new rules).
func (e *openExport) snapshotExport(fs nfs.Filesystem) *nfs.Export {
	if v, ok := e.snapExports.Load(fs.FSID()); ok {
		if x := v.(*nfs.Export); x.FS == fs {
			return x
		}
	}
	x := *e.nfs
	x.Path = "" // not mountable by itself: reached through the snapshot directory
	x.FS = fs
	x.ReadOnly = true
	x.StrictSync = false
	// Snapshots come and go (a schedule's retention deletes them): those
	// no longer listed leave the cache as new ones come in.
	e.snapExports.Range(func(k, _ any) bool {
		if _, _, ok := e.db.snaps.Known(k.(uint64)); !ok {
			e.snapExports.Delete(k)
		}
		return true
	})
	e.snapExports.Store(fs.FSID(), &x)
	return &x
}

// snapshotByFSID finds the snapshot with this FSID among the exports of s
// that show snapshots.
//
// The snapshots listed already are asked first, all of them: a handle of
// one export's snapshot must not make the stores of the exports before it
// be listed (a store slow or down would hold up calls of another export).
// Only an FSID none of them knows lists them again.
func (s *exportSet) snapshotByFSID(fsid uint64) (*nfs.Export, bool) {
	for _, e := range s.snapshotted {
		if fs, _, ok := e.db.snaps.Known(fsid); ok {
			return e.snapshotExport(fs), true
		}
	}
	for _, e := range s.snapshotted {
		if fs, _, ok := e.db.snaps.ByFSID(fsid); ok {
			return e.snapshotExport(fs), true
		}
	}
	return nil, false
}
