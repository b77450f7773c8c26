package kvfs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// reclaimBatch is how many chunk keys one reclaim batch deletes.
const reclaimBatch = 1024

// reclaimer deletes, in the background, the chunks of unlinked files and of
// big truncations. Work is found through the 0x05 keys, which are written in
// the same batch as the unlink or truncate, so it resumes after a restart.
// Each batch of deletions is its own atomic write (taking the inode's lock
// only for that batch) and updates the space counters.
//
// Passes run one at a time (passMu). A batch reaches the store before its
// writer has updated the space counters and the inode cache, and the
// reclaim record goes in that batch: a pass that found no record could
// otherwise return while another pass's last batch is still being
// accounted.
type reclaimer struct {
	passMu sync.Mutex
	wakeCh chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *reclaimer) start(fs *FS) {
	ctx, cancel := context.WithCancel(context.Background())
	r.wakeCh = make(chan struct{}, 1)
	r.cancel = cancel
	r.done = make(chan struct{})
	go fs.runReclaim(ctx)
}

func (r *reclaimer) wake() {
	select {
	case r.wakeCh <- struct{}{}:
	default:
	}
}

func (r *reclaimer) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
}

func (fs *FS) runReclaim(ctx context.Context) {
	defer close(fs.reclaimer.done)
	for {
		n, err := fs.ReclaimPass(ctx)
		if ctx.Err() != nil {
			return
		}
		var retry <-chan time.Time
		switch {
		case errors.Is(err, syscall.EROFS):
			// The store no longer takes writes (e.g. fenced): wait to be woken.
			fs.log.Warn("kvfs: background reclaim paused: store is read-only", "err", err)
		case errors.Is(err, ErrCorrupt):
			// The others went on; this one fails the same way each time.
			fs.log.Error("kvfs: background reclaim skips records it cannot read (run zerofsd fsck); will retry in a minute", "err", err)
			retry = time.After(time.Minute)
		case err != nil:
			fs.log.Error("kvfs: background reclaim failed; will retry", "err", err)
			retry = time.After(time.Second)
		case n > 0:
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-fs.reclaimer.wakeCh:
		case <-retry:
		}
	}
}

// ReclaimPass processes every pending reclaim record found (at most a few
// hundred per call) to completion and returns how many it processed. The
// background reclaimer calls it; tests may too, to wait for reclaim. Passes
// run one at a time: when ReclaimPass returns, a pass that was running when
// it was called has finished too, its deletions counted in StatFS and in the
// usage of the files.
func (fs *FS) ReclaimPass(ctx context.Context) (int, error) {
	fs.reclaimer.passMu.Lock()
	defer fs.reclaimer.passMu.Unlock()
	p := []byte{prefixReclaim}
	it, err := fs.kv.NewIterator(ctx, p, prefixEnd(p))
	if err != nil {
		return 0, err
	}
	var inos []uint64
	for it.Next() && len(inos) < 256 {
		if k := it.Key(); len(k) == 9 {
			inos = append(inos, binary.BigEndian.Uint64(k[1:]))
		}
	}
	err = it.Err()
	it.Close()
	if err != nil {
		return 0, err
	}
	var corrupt []error
	for _, ino := range inos {
		for {
			done, err := fs.reclaimStep(ctx, ino)
			if errors.Is(err, ErrCorrupt) {
				// This inode's records cannot be read: go on with the
				// others, which it must not hold up for good.
				corrupt = append(corrupt, fmt.Errorf("inode %d: %w", ino, err))
				break
			}
			if err != nil {
				return 0, err
			}
			if done {
				break
			}
		}
	}
	if len(corrupt) > 0 {
		return len(inos) - len(corrupt), fmt.Errorf("kvfs: reclaim skipped %d inodes with corrupt records (the rest went on): %w", len(corrupt), errors.Join(corrupt...))
	}
	return len(inos), nil
}

// reclaimStep does one batch of ino's pending reclaim under its lock.
func (fs *FS) reclaimStep(ctx context.Context, ino uint64) (bool, error) {
	unlock := fs.lockInodes(ino)
	defer unlock()
	return fs.reclaimStepLocked(ctx, ino)
}

func (fs *FS) reclaimStepLocked(ctx context.Context, ino uint64) (bool, error) {
	raw, err := fs.kv.Get(ctx, reclaimKey(ino))
	if errors.Is(err, ErrNoKey) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	kind, err := decodeReclaim(raw)
	if err != nil {
		return false, err
	}
	t := fs.newTxn(ino)
	var n *inode
	if kind == reclaimTruncated {
		n, err = t.get(ctx, ino)
		if isStale(err) {
			kind = reclaimUnlinked // cannot happen: unlink rewrites the record; be safe
		} else if err != nil {
			return false, err
		}
	}
	var from, to uint64
	if kind == reclaimTruncated {
		from, to = n.truncFrom, n.truncTo
	}
	done := true
	if kind == reclaimUnlinked || to > from {
		keys, lens, more, err := fs.scanChunks(ctx, ino, from, to, reclaimBatch)
		if err != nil {
			return false, err
		}
		for i, k := range keys {
			t.ops = append(t.ops, KVOp{Key: k, Delete: true})
			t.dBytes -= int64(lens[i])
		}
		done = !more
	}
	if n != nil {
		n.used = uint64(int64(n.used) + t.dBytes)
		if done {
			n.truncFrom, n.truncTo = 0, 0
		}
		t.put(ino)
	}
	if done {
		t.ops = append(t.ops, KVOp{Key: reclaimKey(ino), Delete: true})
	}
	return done, t.commit(ctx)
}

// reclaimTruncatedLocked finishes ino's pending truncation reclaim now; the
// caller holds ino's lock and is about to extend the file over the range.
func (fs *FS) reclaimTruncatedLocked(ctx context.Context, ino uint64, _ bool) error {
	for {
		done, err := fs.reclaimStepLocked(ctx, ino)
		if err != nil || done {
			return err
		}
	}
}
