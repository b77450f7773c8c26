package exports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
)

// ReadOnlyFS is one export's filesystem opened for reading only: it never
// fences the export's writer and writes nothing to the store.
type ReadOnlyFS struct {
	FS *kvfs.FS
	db *lsm.DB
}

// OpenReadOnly opens the filesystem of export ec without becoming its writer,
// at the named checkpoint (a snapshot) or, with checkpoint "", at the latest
// durable state (manifest plus WAL). A running daemon may keep serving the
// export meanwhile.
func OpenReadOnly(ctx context.Context, ec config.Export, checkpoint string, log *slog.Logger) (*ReadOnlyFS, error) {
	if log == nil {
		log = slog.Default()
	}
	store, err := OpenStore(ctx, ec, log)
	if err != nil {
		return nil, fmt.Errorf("export %s: opening store %s: %w", ec.Name, ec.Store, err)
	}
	sealer, _, err := sealing(ctx, ec, store, true, 0, nil, log.With("export", ec.Name))
	if err != nil {
		return nil, err
	}
	db, err := lsm.OpenReadOnly(ctx, store, lsm.ReadOnlyOptions{Checkpoint: checkpoint, WrapStore: wrapOf(sealer), Logger: log.With("export", ec.Name)})
	if err != nil {
		return nil, fmt.Errorf("export %s: opening database in %s read-only: %w", ec.Name, ec.Store, err)
	}
	fs, err := kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{ReadOnly: true, Logger: log.With("export", ec.Name)})
	if err != nil {
		_ = db.Close(ctx)
		return nil, fmt.Errorf("export %s: opening filesystem read-only: %w", ec.Name, err)
	}
	return &ReadOnlyFS{FS: fs, db: db}, nil
}

// Usage reports what the export's store holds (see lsm.DB.Usage).
func (r *ReadOnlyFS) Usage(ctx context.Context) (lsm.Usage, error) { return r.db.Usage(ctx) }

// Close releases the filesystem and its database.
func (r *ReadOnlyFS) Close(ctx context.Context) error {
	return errors.Join(r.FS.Close(ctx), r.db.Close(ctx))
}
