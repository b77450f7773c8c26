package exports

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/lsm"
)

// Clock is the time source of scheduled snapshots (Options.Clock).
type Clock interface {
	Now() time.Time
	// After is like time.After.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// scheduledTimeLayout is the UTC time in a scheduled checkpoint's name,
// after config.ScheduledSnapshotPrefix: auto-20260130T150405Z.
const scheduledTimeLayout = "20060102T150405Z"

// ScheduledName is the name of the checkpoint the schedule takes at t.
func ScheduledName(t time.Time) string {
	return config.ScheduledSnapshotPrefix + t.UTC().Format(scheduledTimeLayout)
}

// scheduledTime parses a scheduled checkpoint's name; ok is false for any
// other name (which the schedule never deletes).
func scheduledTime(name string) (time.Time, bool) {
	rest, ok := strings.CutPrefix(name, config.ScheduledSnapshotPrefix)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(scheduledTimeLayout, rest)
	return t, err == nil
}

// SnapshotStats are the counters of an export's scheduled snapshots and
// snapshot readers.
type SnapshotStats struct {
	// Taken, Failed and Deleted count scheduled checkpoints since the
	// store was opened.
	Taken, Failed, Deleted int64
	// OpenReaders is the number of snapshots open for reading now.
	OpenReaders int
}

// scheduler takes a writer's scheduled checkpoints: one every `every`,
// counted from the newest scheduled one (so restarts keep the rhythm; the
// first one at once), keeping the newest `keep` scheduled ones.
type scheduler struct {
	db    *lsm.DB
	clock Clock
	log   *slog.Logger

	mu    sync.Mutex
	every time.Duration
	keep  int
	name  string // the export, for logs

	taken, failed, deleted atomic.Int64

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// retryDelay is the longest wait before a failed scheduled checkpoint is
// tried again.
const retryDelay = time.Minute

func newScheduler(db *lsm.DB, clock Clock, log *slog.Logger) *scheduler {
	s := &scheduler{db: db, clock: clock, log: log, kick: make(chan struct{}, 1), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s
}

// set applies an export's schedule (every 0: none).
func (s *scheduler) set(export string, every time.Duration, keep int) {
	s.mu.Lock()
	changed := s.every != every || s.keep != keep
	s.every, s.keep, s.name = every, keep, export
	s.mu.Unlock()
	if !changed {
		return
	}
	if every > 0 {
		s.log.Info("scheduled snapshots", "export", export, "every", every.String(), "keep", keep)
	} else {
		s.log.Info("no scheduled snapshots", "export", export)
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *scheduler) settings() (time.Duration, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.every, s.keep, s.name
}

// close stops the schedule, canceling a checkpoint under way.
func (s *scheduler) close() {
	s.cancel()
	<-s.done
}

func (s *scheduler) stats() (taken, failed, deleted int64) {
	return s.taken.Load(), s.failed.Load(), s.deleted.Load()
}

func (s *scheduler) run() {
	defer close(s.done)
	var retryAt time.Time
	for {
		every, keep, export := s.settings()
		if every <= 0 {
			select {
			case <-s.kick:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		next := s.newest().Add(every)
		if next.Before(retryAt) {
			next = retryAt
		}
		if wait := next.Sub(s.clock.Now()); wait > 0 {
			select {
			case <-s.clock.After(wait):
			case <-s.kick:
			case <-s.ctx.Done():
				return
			}
			continue // settings may have changed
		}
		if e, k, _ := s.settings(); e != every || k != keep {
			continue // changed while this one came due: decide again
		}
		if err := s.take(export, keep); err != nil {
			if s.ctx.Err() != nil {
				return
			}
			retryAt = s.clock.Now().Add(min(every, retryDelay))
		} else {
			retryAt = time.Time{}
		}
	}
}

// scheduled returns the scheduled checkpoints, oldest first.
func (s *scheduler) scheduled() []lsm.CheckpointInfo {
	cps, err := s.db.ListCheckpoints(s.ctx)
	if err != nil {
		return nil
	}
	cps = slices.DeleteFunc(cps, func(c lsm.CheckpointInfo) bool {
		_, ok := scheduledTime(c.Name)
		return !ok
	})
	slices.SortFunc(cps, func(a, b lsm.CheckpointInfo) int {
		ta, _ := scheduledTime(a.Name)
		tb, _ := scheduledTime(b.Name)
		return ta.Compare(tb)
	})
	return cps
}

// newest is the time of the newest scheduled checkpoint (zero: none).
func (s *scheduler) newest() time.Time {
	cps := s.scheduled()
	if len(cps) == 0 {
		return time.Time{}
	}
	t, _ := scheduledTime(cps[len(cps)-1].Name)
	return t
}

// take checkpoints the database now (holding every write made before) and
// deletes the oldest scheduled checkpoints beyond keep.
func (s *scheduler) take(export string, keep int) error {
	now := s.clock.Now()
	name := ScheduledName(now)
	info, err := s.db.Checkpoint(s.ctx, name)
	switch {
	case errors.Is(err, lsm.ErrCheckpointExists):
	case err != nil:
		if s.ctx.Err() == nil {
			s.failed.Add(1)
			s.log.Error("scheduled snapshot failed", "export", export, "snapshot", name, "err", err)
		}
		return err
	default:
		s.taken.Add(1)
		s.log.Info("scheduled snapshot taken", "export", export, "snapshot", name, "manifest", info.ManifestID)
	}
	cps := s.scheduled()
	for len(cps) > keep {
		old := cps[0].Name
		cps = cps[1:]
		if err := s.db.DeleteCheckpoint(s.ctx, old); err != nil && !errors.Is(err, lsm.ErrCheckpointNotFound) {
			s.log.Error("deleting an old scheduled snapshot failed", "export", export, "snapshot", old, "err", err)
			return nil // the snapshot itself was taken
		}
		s.deleted.Add(1)
		s.log.Info("scheduled snapshot deleted", "export", export, "snapshot", old, "keep", keep)
	}
	return nil
}
