package exports

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/crypt"
	"github.com/zerofs-go/zerofsd/exports/snapdir"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/objstore"
)

// database is one open store: its object store, the lsm database in it and
// the kvfs filesystem on that. The registry opens a store once and keeps it
// open, across reloads, for as long as an export names it.
type database struct {
	id    storeID
	raw   objstore.Store // as OpenStore returned it (an *objstore.S3 takes new connection settings)
	store *objstore.Counting
	db    *lsm.DB
	fs    *kvfs.FS
	// wrap seals the objects of an encrypted export (nil: none), as the
	// database sees them (lsm.Options.WrapStore).
	wrap func(objstore.Store) objstore.Store
	// snaps are the store's checkpoints, shown in an export's snapshot
	// directory (readers open only while used).
	snaps *snapdir.Set
	// sched takes scheduled checkpoints (writers only; nil otherwise).
	sched *scheduler
	// stopTempCleanup ends the removal of the temp files a crash left in
	// a local store, and tempCleanupDone is closed once it is over
	// (writers of local stores only; nil otherwise).
	stopTempCleanup context.CancelFunc
	tempCleanupDone chan struct{}
	// replica follows the store's writer (replica = true; nil otherwise):
	// db is its database, fs reads its latest state without caches, and
	// rfs serves NFS, one consistent state per call.
	replica *lsm.Replica
	rfs     atomic.Pointer[replicaFS]
	// refreshed is set by every refresh of the replica and taken by whoever
	// rotates rfs to it: a refresh that lands before rfs is published
	// (while its first state opens) is not lost.
	refreshed atomic.Bool
	// journalDir is its local journal's directory (durability local).
	journalDir string
	// keys are the export's keys, nil when it is not encrypted.
	keys *crypt.Keys
	// cred is the credential that unlocked keys (the configured key file's
	// or passphrase's, as last checked by a reload); guarded by reloadMu.
	cred crypt.Credential
	// closedForRestore is set once a restore fenced it and it was closed
	// to be opened again (Registry.reopenRestored); guarded by reloadMu.
	closedForRestore bool
	// writer is true for a database opened with lsm.Open (it fenced any
	// earlier writer); false for one opened with lsm.OpenReadOnly.
	writer bool
	// durability is the export's durability when the database was opened;
	// it holds until the database is opened again (the next start).
	durability config.Durability
	// verifier is random for each open: nfs.Export.WriteVerifier.
	verifier [8]byte
	// s3 is the connection settings in use (S3 stores). Changed only under
	// Registry.reloadMu.
	s3 config.S3
	// name is the export that serves it (for logs and metrics); changed only
	// under Registry.reloadMu, read by the fence watch without it.
	name atomic.Pointer[string]
	// latency receives the store's request durations: the observer of the
	// export that serves it now (Options.StoreLatency), swapped on rename.
	latency atomic.Pointer[objstore.LatencyObserver]
	log     *slog.Logger
}

// openDatabase opens the store of ec: as its writer, or read-only (at the
// latest durable state, fencing nobody and writing nothing).
func (r *Registry) openDatabase(ctx context.Context, cfg *config.Config, ec config.Export, id storeID, writer bool, keys *crypt.Keys) (*database, error) {
	log := r.log.With("store", string(id))
	raw, err := r.openStore(ctx, ec, log)
	if err != nil {
		return nil, fmt.Errorf("export %s: opening store %s: %w", ec.Name, ec.Store, err)
	}
	d := &database{id: id, raw: raw, writer: writer, durability: ec.Durability, s3: ec.S3, log: log}
	d.observeAs(r.opts.StoreLatency, ec.Name)
	d.store = objstore.NewCountingObserved(raw, func(op objstore.Op, dur time.Duration, err error) {
		if f := d.latency.Load(); f != nil {
			(*f)(op, dur, err)
		}
	})
	store := d.store
	blockCache, frameCache, valueCache := memoryCaches(cfg.Cache.MemoryMB, ec.Encryption.Enabled)
	sealer, cred, err := sealing(ctx, ec, store, !writer, frameCache, keys, log)
	if err != nil {
		return nil, err
	}
	d.cred = cred
	wrap := wrapOf(sealer)
	d.wrap = wrap
	if writer && ec.Durability == config.DurabilityLocal {
		d.journalDir = journalDirOf(cfg, id)
	}
	if sealer != nil {
		d.keys = sealer.Keys()
	}
	var db *lsm.DB
	if writer {
		db, err = lsm.Open(ctx, store, lsm.Options{
			FlushInterval:     cfg.LSM.FlushInterval,
			ShipInterval:      cfg.LSM.ShipInterval,
			GCInterval:        cfg.LSM.GCInterval,
			GCMinAge:          cfg.LSM.GCMinAge,
			MemtableBytes:     cfg.LSM.MemtableMB << 20,
			MaxUnflushedBytes: int64(cfg.LSM.MaxUnflushedMB) << 20,
			Compression:       compression(ec.Compression),
			ZstdLevel:         ec.ZstdLevel,
			BlockCacheBytes:   blockCache,
			ValueCacheBytes:   valueCache,
			DiskCache:         r.opts.DiskCache,
			CacheNamespace:    string(id),
			WrapStore:         wrap,
			Durability:        durability(ec.Durability),
			JournalDir:        journalDirOf(cfg, id),
			JournalCipher:     journalCipher(sealer),
			Logger:            log,
		})
	} else if ec.Replica {
		rep, rerr := lsm.OpenReplica(ctx, store, lsm.ReplicaOptions{
			ID:              replicaID(),
			Poll:            ec.ReplicaPoll,
			BlockCacheBytes: blockCache,
			ValueCacheBytes: valueCache,
			DiskCache:       r.opts.DiskCache,
			CacheNamespace:  string(id),
			WrapStore:       wrap,
			Logger:          log,
			OnRefresh:       d.onReplicaRefresh,
		})
		if errors.Is(rerr, lsm.ErrNoDatabase) {
			return nil, fmt.Errorf("export %s: replica = true, but %s holds no filesystem yet (its writer makes one): %w", ec.Name, ec.Store, rerr)
		}
		if rerr == nil {
			d.replica, db = rep, rep.DB()
		}
		err = rerr
	} else {
		db, err = lsm.OpenReadOnly(ctx, store, lsm.ReadOnlyOptions{
			BlockCacheBytes: blockCache,
			ValueCacheBytes: valueCache,
			DiskCache:       r.opts.DiskCache,
			CacheNamespace:  string(id),
			WrapStore:       wrap,
			Logger:          log,
		})
		if errors.Is(err, lsm.ErrNoDatabase) {
			return nil, fmt.Errorf("export %s: read_only = true, but %s holds no filesystem yet (a read-only export never creates one): %w", ec.Name, ec.Store, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("export %s: opening database in %s: %w", ec.Name, ec.Store, err)
	}
	inodeCache, readAhead := ec.InodeCacheEntries, readAheadBytes(cfg.Cache.ReadAheadMB)
	if d.replica != nil {
		// d.fs reads the latest state, barely cached and never read
		// ahead; NFS is served by d.rfs.
		inodeCache, readAhead = 1, readAheadBytes(0)
	}
	fs, err := kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{
		InodeCacheEntries: inodeCache,
		ReadAheadBytes:    readAhead,
		SizeLimitBytes:    uint64(ec.SizeLimitBytes()),
		ReadOnly:          !writer,
		Logger:            log,
		Root:              rootAttrs(ec),
	})
	if err == nil {
		if err = checkRoot(ctx, fs, ec, log); err != nil {
			_ = fs.Close(ctx)
		}
	}
	if err == nil && writer && d.replica == nil && ec.Durability == config.DurabilityLocal {
		// What opening wrote (a new filesystem's root and format record)
		// goes to the store before the export serves, as in bucket mode:
		// a store that holds only a journal's worth of export would read
		// as "no filesystem" to fsck, replicas and restores until the
		// first ship. After recovery nothing else is unshipped, so this
		// costs a PUT only when the filesystem was just created.
		if err = db.FlushWAL(ctx); err != nil {
			err = fmt.Errorf("writing the new filesystem to the store: %w", err)
			_ = fs.Close(ctx)
		}
	}
	if err == nil && d.replica != nil {
		var rfs *replicaFS
		rfs, err = newReplicaFS(ctx, d.replica, kvfs.Options{ReadOnly: true, InodeCacheEntries: ec.InodeCacheEntries,
			ReadAheadBytes: readAheadBytes(cfg.Cache.ReadAheadMB), Logger: log})
		if err != nil {
			_ = fs.Close(ctx)
		} else {
			d.publishReplicaFS(rfs)
		}
	}
	if err != nil {
		if d.replica != nil {
			_ = d.replica.Close(ctx)
		} else {
			_ = db.Close(ctx)
		}
		if !writer {
			return nil, fmt.Errorf("export %s: read_only = true: opening the filesystem in %s: %w", ec.Name, ec.Store, err)
		}
		return nil, fmt.Errorf("export %s: opening filesystem: %w", ec.Name, err)
	}
	d.db, d.fs = db, fs
	d.snaps = r.newSnapshots(d)
	if writer {
		d.sched = newScheduler(db, r.opts.Clock, log)
		d.startTempCleanup()
	}
	if _, err := rand.Read(d.verifier[:]); err != nil {
		_ = d.close(ctx)
		return nil, fmt.Errorf("export %s: write verifier: %w", ec.Name, err)
	}
	mode := "writer"
	switch {
	case d.replica != nil:
		mode = "replica"
	case !writer:
		mode = "read-only"
	}
	log.Info("store open", "export", ec.Name, "as", mode, "fsid", fmt.Sprintf("%016x", fs.FSID()), "durability", string(ec.Durability),
		"encryption", ec.Encryption.Enabled, "compression", string(ec.Compression))
	return d, nil
}

// startTempCleanup removes, in the background, the temp files a crash
// left in a local store (objstore.Local.RemoveStaleTemps) until it is done
// or close ends it. Only the store's writer does it: fsck, du, the key
// commands, read-only exports and replicas write nothing to the store.
func (d *database) startTempCleanup() {
	l, ok := d.raw.(*objstore.Local)
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.stopTempCleanup, d.tempCleanupDone = cancel, make(chan struct{})
	go func() {
		defer close(d.tempCleanupDone)
		n, err := l.RemoveStaleTemps(ctx)
		if n > 0 {
			d.log.Info("removed temp files a crash left in the store", "files", n)
		}
		if err != nil {
			d.log.Debug("stale temp file removal stopped", "err", err)
		}
	}()
}

// dbStore is the store as the database sees it: sealed for an encrypted
// export (for lsm functions that work on the store from outside the
// database), without the disk cache.
func (d *database) dbStore() objstore.Store {
	if d.wrap != nil {
		return d.wrap(d.store)
	}
	return d.store
}

// exportedFS is what export ec serves of d: its filesystem, with the
// snapshot directory when ec has one.
func (d *database) exportedFS(ec config.Export) nfs.Filesystem {
	var fs nfs.Filesystem = d.fs
	if rfs := d.rfs.Load(); rfs != nil {
		fs = rfs
	}
	if ec.SnapshotDir == "" {
		return fs
	}
	return d.snaps.Wrap(fs, ec.SnapshotDir)
}

// closeDB closes the database (a replica's stops following and drops its
// lease).
func (d *database) closeDB(ctx context.Context) error {
	if d.replica != nil {
		return d.replica.Close(ctx)
	}
	return d.db.Close(ctx)
}

// openStore opens ec's object store: with Options.OpenStore when it is
// set, else with OpenStore, logging to log.
func (r *Registry) openStore(ctx context.Context, ec config.Export, log *slog.Logger) (objstore.Store, error) {
	if r.opts.OpenStore != nil {
		return r.opts.OpenStore(ctx, ec)
	}
	return OpenStore(ctx, ec, log)
}

// prepareS3 validates ec's S3 connection settings when they differ from the
// ones d uses, and builds their client (applied by apply); also when ec
// renames the export, so that the store's logs name it. It changes
// nothing.
func (d *database) prepareS3(ctx context.Context, ec config.Export) (*objstore.S3Client, error) {
	if ec.Store.Scheme != config.SchemeS3 || (ec.S3 == d.s3 && ec.Name == d.exportName()) {
		return nil, nil
	}
	if _, ok := d.raw.(*objstore.S3); !ok {
		return nil, nil // a store from Options.OpenStore: its settings are its own
	}
	c, err := objstore.NewS3Client(ctx, s3Options(ec, d.log))
	if err != nil {
		return nil, fmt.Errorf("export %s: new S3 settings: %w", ec.Name, err)
	}
	return c, nil
}

// prepareEncryption checks that ec's encryption fits d, which a reload
// keeps open, as the store's next open (at the next start) needs it to:
// encryption switched on or off for a store is refused (crypt refuses the
// next open: the store holds an unencrypted export, or an encrypted one),
// and a key other than the one that unlocked d's keyring must unlock it
// now (reading the keyring only). It returns that other key, to be
// applied (nil: the key is unchanged). It changes nothing.
func (d *database) prepareEncryption(ctx context.Context, ec config.Export) (*crypt.Credential, error) {
	switch enabled := ec.Encryption.Enabled; {
	case enabled && d.keys == nil:
		return nil, fmt.Errorf("export %s: encryption = true, but its store %s holds an unencrypted export, served as such (%w): encryption cannot be turned on for an existing export (the next start would refuse it); "+
			"remove encryption and its key from the export, or copy the files into a new encrypted export", ec.Name, ec.Store, crypt.ErrNotEncrypted)
	case !enabled && d.keys != nil:
		return nil, fmt.Errorf("export %s: encryption is off, but its store %s holds an encrypted export, served as such (%w): encryption cannot be turned off (the next start would refuse it); "+
			"set encryption = true with its key again", ec.Name, ec.Store, crypt.ErrEncrypted)
	case !enabled:
		return nil, nil
	}
	cred, err := Credential(ec)
	if err != nil {
		return nil, fmt.Errorf("%w (the store is served on with the key it was opened with; the next start would fail)", err)
	}
	if cred.Equal(d.cred) {
		return nil, nil
	}
	if _, err := unlockKeys(ctx, ec, d.store, cred, true); err != nil {
		return nil, fmt.Errorf("%w: the key now configured (%s) must unlock the store's keyring (the store is served on with the key it was opened with; the next start would fail)", err, cred)
	}
	return &cred, nil
}

// onReplicaRefresh is the replica's OnRefresh, after every successful
// refresh: rfs serves the replica's state from now on (a rotation that
// failed is so tried again at the next poll; one to the state served does
// nothing). Before rfs is published, the refresh is left for
// publishReplicaFS.
func (d *database) onReplicaRefresh() {
	d.refreshed.Store(true)
	if rfs := d.rfs.Load(); rfs != nil && d.refreshed.Swap(false) {
		rfs.rotate()
	}
}

// replicaStats is the lag of what a replica export serves over NFS (its
// database's own, until its filesystem is published).
func (d *database) replicaStats() lsm.ReplicaStats {
	if rfs := d.rfs.Load(); rfs != nil {
		return rfs.replicaStats()
	}
	return d.replica.Stats()
}

// publishReplicaFS makes rfs serve NFS, and rotates it to the replica's
// current state if a refresh landed while it was being opened (its state
// may be the one before). Whichever of the two takes the flag rotates, so
// every refresh is followed by a rotation.
func (d *database) publishReplicaFS(rfs *replicaFS) {
	d.rfs.Store(rfs)
	if d.refreshed.Swap(false) {
		rfs.rotate()
	}
}

// exportName is the name of the export that serves d.
func (d *database) exportName() string {
	if n := d.name.Load(); n != nil {
		return *n
	}
	return ""
}

// observeAs sends the store's request durations to the observer of export
// name (none without storeLatency), unless they already go there.
func (d *database) observeAs(storeLatency func(export string) objstore.LatencyObserver, name string) {
	if d.exportName() == name {
		return
	}
	d.name.Store(&name)
	if storeLatency == nil {
		return
	}
	if f := storeLatency(name); f != nil {
		d.latency.Store(&f)
	} else {
		d.latency.Store(nil)
	}
}

// apply makes ec's live settings hold for d's later requests: the S3 client
// prepared by prepareS3 (nil: unchanged), the size limit and the cache size;
// and records the key prepareEncryption found to unlock d's keyring (nil:
// unchanged). It cannot fail.
func (d *database) apply(ec config.Export, client *objstore.S3Client, cred *crypt.Credential) {
	if cred != nil {
		d.cred = *cred
		d.log.Info("the export's key changed in the config; it unlocks the store's keyring", "export", ec.Name, "key", cred.String())
	}
	if client != nil {
		if err := d.raw.(*objstore.S3).SetClient(client); err != nil {
			// prepare checked the identity (bucket and prefix): not reached.
			d.log.Error("new S3 settings refused; keeping the old ones", "export", ec.Name, "err", err)
		} else if ec.S3 != d.s3 {
			d.log.Info("S3 connection settings changed", "export", ec.Name, "s3", s3Options(ec, d.log))
			d.s3 = ec.S3
		}
	}
	if ec.Durability != d.durability {
		d.log.Warn("durability changed in the config: it applies when the store is next opened (at the next start); until then replies keep the durability in use",
			"export", ec.Name, "in_use", string(d.durability), "configured", string(ec.Durability))
	}
	if d.sched != nil {
		d.sched.set(ec.Name, ec.SnapshotEvery, ec.SnapshotKeep)
	} else if ec.SnapshotEvery > 0 {
		d.log.Warn("snapshot_every needs the store's writer: this export's store is open read-only, no snapshot is taken", "export", ec.Name)
	}
	d.fs.SetSizeLimit(uint64(ec.SizeLimitBytes()))
	d.fs.SetInodeCacheEntries(ec.InodeCacheEntries)
}

// flushRetrying makes every write durable, retrying until ctx ends: a failed
// WAL PUT ends one Flush with its error while the database retries the PUT
// in the background, and the next Flush waits for that retry.
func (d *database) flushRetrying(ctx context.Context) error {
	for {
		err := d.db.Flush(ctx)
		if err == nil || ctx.Err() != nil ||
			errors.Is(err, lsm.ErrFenced) || errors.Is(err, lsm.ErrClosed) || errors.Is(err, lsm.ErrReadOnly) {
			return err
		}
	}
}

// close flushes (a writer, retrying failed flushes until ctx ends) and
// closes the database. What it could not make durable is logged at ERROR.
func (d *database) close(ctx context.Context) error {
	if d.closedForRestore {
		return nil // closed by Registry.reopenRestored
	}
	if d.sched != nil {
		d.sched.close()
	}
	if d.stopTempCleanup != nil {
		d.stopTempCleanup()
		<-d.tempCleanupDone
	}
	_ = d.flushRetrying(ctx) // Close below reports a flush that did not succeed in the end
	var errs []error
	if err := d.snaps.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := d.fs.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if rfs := d.rfs.Load(); rfs != nil {
		rfs.close()
	}
	if err := d.closeDB(ctx); err != nil {
		d.logUnflushed(err)
		errs = append(errs, err)
	}
	if s, ok := d.raw.(*objstore.S3); ok {
		_ = s.Close() // idle connections only
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("export %s (store %s): closing: %w", d.exportName(), d.id, err)
	}
	return nil
}

// logUnflushed logs at ERROR what a failed database Close says it could not
// flush.
func (d *database) logUnflushed(err error) {
	var ue *lsm.UnflushedError
	if !errors.As(err, &ue) {
		return
	}
	log := d.log.With("export", d.exportName())
	if ue.Journaled {
		// Said as it is: a reload may have removed the store from the
		// config, and then no start opens it again by itself.
		log.Warn("export closed before everything was in the store; the rest is durable in the local journal "+
			"and is shipped when this store is next opened as writer (at the next start if the config still names it; "+
			"after a reload that removed it, only once an export of this store is added back)",
			"journal_dir", d.journalDir, "batches", ue.Batches, "writes", ue.Writes, "wal_bytes", ue.WALBytes,
			"memtable_bytes_not_in_ssts", ue.MemtableBytes, "err", ue.Err)
		return
	}
	attrs := []any{"lost_batches", ue.Batches, "lost_writes", ue.Writes, "lost_wal_bytes", ue.WALBytes,
		"memtable_bytes_not_in_ssts", ue.MemtableBytes, "err", ue.Err}
	// With local durability the journal may have failed too: what it made
	// durable before that is kept there, and shipped at the next open.
	durableIn, kept := "in the WAL", "in the store"
	if ue.JournalDir != "" {
		attrs = append(attrs, "journal_dir", ue.JournalDir, "journal_durable_seq", ue.JournalSeq)
		durableIn = "in the WAL or the local journal"
		kept = "in the store or durable in the local journal (up to journal_durable_seq), " +
			"which is shipped when this store is next opened as writer"
	}
	if ue.Batches == 0 {
		log.Error("export closed before its memtables were written as SSTs; every write is durable "+durableIn+" and is replayed at the next start", attrs...)
		return
	}
	attrs = append(attrs, "lost_seqs", fmt.Sprintf("%d-%d", ue.FirstSeq, ue.LastSeq))
	log.Error("export closed without making every write durable: the changes listed are lost; "+
		"none was acknowledged as durable (UNSTABLE writes not yet committed, requests that failed or were canceled), "+
		"and every acknowledged change is "+kept, attrs...)
}

// readAheadBytes is kvfs's read-ahead bound for cache.read_ahead_mb (per
// export): 0 turns it off.
func readAheadBytes(mb int) int64 {
	if mb == 0 {
		return -1
	}
	return int64(mb) << 20
}
