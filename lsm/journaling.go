package lsm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/lsm/wal"
	"github.com/zerofs-go/zerofsd/objstore"
)

// The local journal (DurabilityLocal): every committed record is appended
// to the journal under commitMu, so the journal's order is the commit
// order, and an awaited write returns once the journal writer has fsynced
// it. The WAL writer ships the same records in WAL objects as it does with
// bucket durability and tells the journal what is stored, which deletes the
// files it no longer needs.
//
// With Options.JournalCipher (an encrypted database) the journal's records
// are sealed; a group of files in the clear is never applied to such a
// database, and a sealed journal without a cipher fails Open.
//
// Recovery (Open) reads the journal left by the previous run before it
// fences anyone. The group of files whose header names the store's
// database and current writer epoch is the journal of the writer that
// crashed: the records the store lacks are put as WAL objects at the next
// ids, with that writer's epoch, through PutIfAbsent — exactly what its WAL
// writer would have done — and the normal Open replays them. Any other
// group (another database, or an epoch another writer has replaced) is
// never applied: it is set aside under orphaned/ and logged at error level.

// journalFound is the journal that recovery found for the store's current
// writer epoch (ok false: none).
type journalFound struct {
	ok bool
	h  journal.Header
	// newest is the newest file of that journal left in the directory.
	newest string
}

// openJournalDir locks the journal directory: always with local
// durability, and with bucket durability only when the directory exists (an
// earlier run in local mode may have left a journal there).
func (db *DB) openJournalDir() error {
	dir := db.opts.JournalDir
	if dir == "" {
		return nil
	}
	fsys := db.opts.JournalFS
	if fsys == nil {
		fsys = journal.OSFS{}
	}
	if db.opts.Durability != DurabilityLocal {
		if _, err := fsys.ReadDir(dir); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	d, err := journal.OpenDir(fsys, dir, db.opts.JournalCipher)
	if err != nil {
		return fmt.Errorf("lsm: %w", err)
	}
	db.jdir = d
	return nil
}

// recoverJournal ships the tail of the current writer epoch's journal to
// the store and sets aside every journal it must not apply, then leaves
// the directory with at most an empty file of the current epoch (so that a
// crash before the epoch is bumped still finds it).
func (db *DB) recoverJournal(ctx context.Context) (journalFound, error) {
	var found journalFound
	if db.jdir == nil {
		return found, nil
	}
	c, err := db.jdir.Scan()
	if err != nil {
		return found, fmt.Errorf("lsm: %w", err)
	}
	for _, t := range c.Torn {
		db.log.Warn("lsm: journal: cutting off a torn write at the end of the journal (it was never acknowledged)",
			"dir", db.jdir.Path(), "file", t.File, "offset", t.Offset, "bytes", t.Bytes)
		if err := db.jdir.TrimTorn(&t); err != nil {
			return found, fmt.Errorf("lsm: %w", err)
		}
	}
	if len(c.Groups) == 0 {
		return found, nil
	}
	man, err := loadLatestManifest(ctx, db.store)
	if err != nil {
		return found, err
	}
	for _, g := range c.Groups {
		why := journalMismatch(g.Header, man)
		if d := g.Damage; d != nil && d.Offset == 0 {
			// Only a header is damaged at offset 0: the file belongs to
			// no group that could be applied.
			why = fmt.Sprintf("the header of %s does not read: %v", d.File, d.Err)
		}
		if why != "" {
			if len(g.Records) > 0 || g.Damage != nil {
				if err := db.setAside(g, true, why); err != nil {
					return found, err
				}
			}
			continue
		}
		if db.opts.JournalCipher != nil && !g.Sealed {
			// An encrypted database never writes its journal in the
			// clear (and encryption cannot be turned on for a store that
			// holds data): records that are not sealed are not trusted.
			if len(g.Records) > 0 || g.Damage != nil {
				if err := db.setAside(g, true, "the journal is not sealed, but the database is encrypted: records written in the clear are not applied"); err != nil {
					return found, err
				}
			}
			continue
		}
		found = journalFound{ok: true, h: g.Header, newest: g.Files[len(g.Files)-1]}
		if d := g.Damage; d != nil {
			why := fmt.Sprintf("damaged record in %s at offset %d (%v), followed by more data; the %d records before it were replayed",
				d.File, d.Offset, d.Err, len(g.Records))
			if err := db.setAside(g, false, why); err != nil {
				return found, err
			}
			found.newest = d.File // cut where the damage began; the later files moved
		}
		if len(g.Records) == 0 {
			continue
		}
		shipped, takenOver, err := db.shipJournal(ctx, g)
		if err != nil {
			return found, fmt.Errorf("lsm: shipping the journal's tail to the store: %w", err)
		}
		if takenOver != "" {
			found.ok = false
			if err := db.setAside(g, true, takenOver); err != nil {
				return found, err
			}
			continue
		}
		if shipped > 0 {
			db.log.Info("lsm: journal: shipped the tail of a writer that did not close cleanly to the store",
				"epoch", g.Header.Epoch, "records", shipped, "last_seq", g.LastSeq())
		}
	}
	if !found.ok {
		if err := db.jdir.RemoveAll(); err != nil {
			return found, fmt.Errorf("lsm: %w", err)
		}
		return found, nil
	}
	// Everything of the current epoch's journal is in the store: keep just
	// an empty file of that epoch. It is begun before the others are
	// removed, so that a crash in between still finds the journal.
	num, err := db.jdir.Begin(found.h)
	if err != nil {
		// The disk may be full, of the journal itself: what it holds is
		// in the store now, so make room and begin again. Its newest
		// file stays, emptied: should the disk be full of something
		// else, the next open still finds the epoch's journal, and does
		// not report it missing.
		db.log.Warn("lsm: journal: starting a new file failed; emptying the shipped files first", "dir", db.jdir.Path(), "err", err)
		if err := db.jdir.EmptyTo(found.newest); err != nil {
			return found, fmt.Errorf("lsm: %w", err)
		}
		num, err = db.jdir.Begin(found.h)
	}
	if err == nil {
		err = db.jdir.RemoveBefore(num)
	}
	if err != nil {
		return found, fmt.Errorf("lsm: %w", err)
	}
	return found, nil
}

// journalMismatch says why a journal with header h must not be applied to
// the database whose latest manifest is man ("" when it may).
func journalMismatch(h journal.Header, man *manifest.Manifest) string {
	switch {
	case man == nil:
		return "the store holds no database (no manifest)"
	case man.DBID != h.DBID:
		return fmt.Sprintf("the journal belongs to database %x, the store holds database %x", h.DBID, man.DBID)
	case man.WriterEpoch != h.Epoch:
		return fmt.Sprintf("another writer took the database over: the store's manifest %d has writer epoch %d, the journal is epoch %d's",
			man.ID, man.WriterEpoch, h.Epoch)
	}
	return ""
}

// setAside moves a journal group (whole, or its damaged part) under
// orphaned/ and says so at error level.
func (db *DB) setAside(g *journal.Group, whole bool, why string) error {
	what := fmt.Sprintf("%d records, sequence numbers %d to %d, %d bytes", len(g.Records), g.FirstSeq(), g.LastSeq(), g.Bytes)
	if !whole {
		what = fmt.Sprintf("the damaged part: %d bytes from %s offset %d on", g.Damage.Bytes, g.Damage.File, g.Damage.Offset)
	} else if g.Damage != nil {
		what += fmt.Sprintf(", then %d damaged bytes", g.Damage.Bytes)
	}
	reason := fmt.Sprintf("%s\njournal of %s; set aside: %s", why, g.Header, what)
	dst, err := db.jdir.SetAside(g, whole, reason)
	if err != nil {
		return fmt.Errorf("lsm: setting a journal tail aside: %w", err)
	}
	db.log.Error("lsm: journal: SET ASIDE, NOT APPLIED: writes in the local journal were not applied to the store; list them with `zerofsd journal list`, read them with `zerofsd journal extract`",
		"why", why, "set_aside", what, "to", dst, "journal_epoch", g.Header.Epoch)
	return nil
}

// shipJournal puts the group's records that the store does not hold as
// WAL objects at the next ids, written by the group's writer epoch. It
// returns how many records it put, or why it stopped because another
// writer has taken the database over (then the group must be set aside).
func (db *DB) shipJournal(ctx context.Context, g *journal.Group) (shipped int, takenOver string, err error) {
	for attempt := 0; attempt < 10; attempt++ {
		man, err := loadLatestManifest(ctx, db.store)
		if err != nil {
			return shipped, "", err
		}
		if why := journalMismatch(g.Header, man); why != "" {
			return shipped, why, nil
		}
		stored, nextID, topEpoch, err := db.storedWALTail(ctx, man)
		if err != nil {
			return shipped, "", err
		}
		if topEpoch > g.Header.Epoch {
			return shipped, fmt.Sprintf("another writer took the database over: %s was written by epoch %d, the journal is epoch %d's",
				walKey(nextID-1), topEpoch, g.Header.Epoch), nil
		}
		recs := g.Records
		for len(recs) > 0 && recs[0].LastSeq() <= stored {
			recs = recs[1:]
		}
		if len(recs) == 0 {
			return shipped, "", nil
		}
		if recs[0].FirstSeq != stored+1 {
			return shipped, fmt.Sprintf("the journal does not continue the store: the store holds sequence numbers up to %d, the journal's next record starts at %d",
				stored, recs[0].FirstSeq), nil
		}
		conflict := false
		for len(recs) > 0 {
			obj := wal.AppendHeader(nil, wal.Header{WriterEpoch: g.Header.Epoch, WALID: nextID})
			n := 0
			for n < len(recs) {
				r := recs[n]
				next := wal.AppendRecord(obj, r.FirstSeq, r.Count, r.Entries)
				if n > 0 && len(next) > db.opts.WALMaxBytes {
					break
				}
				obj = next
				n++
			}
			key := walKey(nextID)
			err := db.putWALObject(ctx, key, obj)
			if errors.Is(err, objstore.ErrPreconditionFailed) {
				ours, rerr := db.walObjectIsOurs(ctx, key, obj)
				if rerr != nil {
					return shipped, "", rerr
				}
				if !ours {
					conflict = true // someone wrote this id: look at the store again
					break
				}
				err = nil
			}
			if err != nil {
				return shipped, "", fmt.Errorf("lsm: writing %s: %w", key, err)
			}
			db.stats.walPuts.Add(1)
			db.stats.walBytes.Add(int64(len(obj)))
			shipped += n
			recs = recs[n:]
			nextID++
		}
		if !conflict {
			why, err := db.shippedIntoHistory(ctx, g, shipped)
			return shipped, why, err
		}
	}
	return shipped, "", errors.New("lsm: the store's WAL keeps changing while the journal is shipped")
}

// shippedIntoHistory checks, once records were shipped, that no other
// writer took the database over in the meantime. If none had by the time
// the latest manifest is read again, the objects were written before any
// newer writer opened, which replays them. If one had, they may have gone
// into ids it had flushed past and collected (its fence among them),
// where nobody replays them: the group must be set aside, not trimmed.
func (db *DB) shippedIntoHistory(ctx context.Context, g *journal.Group, shipped int) (string, error) {
	if shipped == 0 {
		return "", nil
	}
	man, err := loadLatestManifest(ctx, db.store)
	if err != nil {
		return "", fmt.Errorf("lsm: checking the store after shipping the journal: %w", err)
	}
	if why := journalMismatch(g.Header, man); why != "" {
		return why + " while the journal was shipped (what it shipped may be in no history)", nil
	}
	return "", nil
}

// storedWALTail returns the highest sequence number the store holds (in
// SSTs or WAL objects), the next free WAL id, and the highest writer epoch
// among the newest WAL objects it read.
func (db *DB) storedWALTail(ctx context.Context, man *manifest.Manifest) (stored, nextID, topEpoch uint64, err error) {
	ids, err := walIDsAbove(ctx, db.store, man.WALIDFlushed)
	if err != nil {
		return 0, 0, 0, err
	}
	stored, nextID = man.LastSeq, man.WALIDFlushed+1+uint64(len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		key := walKey(ids[i])
		data, err := db.store.Get(ctx, key)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("lsm: reading %s: %w", key, err)
		}
		h, recs, err := wal.Decode(data)
		if err != nil {
			return 0, 0, 0, corrupt(key, err)
		}
		topEpoch = max(topEpoch, h.WriterEpoch)
		if len(recs) > 0 {
			stored = max(stored, recs[len(recs)-1].LastSeq())
			break
		}
	}
	return stored, nextID, topEpoch, nil
}

// checkPreviousJournal logs at error level when the writer that cur names
// acknowledged writes from a local journal, did not close cleanly, and its
// journal was not recovered here: what it had not shipped may be lost.
func (db *DB) checkPreviousJournal(cur *manifest.Manifest, found journalFound) {
	if cur.JournalOwner == "" {
		return
	}
	if found.ok && found.h == (journal.Header{DBID: cur.DBID, Epoch: cur.WriterEpoch}) {
		return
	}
	here := "no journal directory is configured here"
	if db.opts.JournalDir != "" {
		here = "it is not in " + db.opts.JournalDir
	}
	db.log.Error("lsm: JOURNAL MISSING: the previous writer acknowledged writes from a local journal and did not close cleanly, but its journal was not found; writes it acknowledged and had not yet shipped to the store may be lost",
		"previous_epoch", cur.WriterEpoch, "previous_journal", cur.JournalOwner, "here", here)
}

// startJournal starts the journal writer (local durability) on the file
// bumpEpoch began, after the WAL replay set lastSeq; with bucket
// durability it drops a recovered journal (its tail is in the store) and
// releases the directory.
func (db *DB) startJournal(man *manifest.Manifest, num uint64) error {
	if db.jdir == nil {
		return nil
	}
	if db.opts.Durability != DurabilityLocal {
		err := db.jdir.RemoveAll()
		db.jdir.Close()
		db.jdir = nil
		if err != nil {
			return fmt.Errorf("lsm: %w", err)
		}
		return nil
	}
	h := journal.Header{DBID: man.DBID, Epoch: man.WriterEpoch}
	w, err := db.jdir.NewWriter(h, num, db.lastSeq, journal.WriterOptions{
		Interval: db.opts.FlushInterval, FileBytes: db.opts.JournalFileBytes, Logger: db.log,
	})
	if err != nil {
		return fmt.Errorf("lsm: %w", err)
	}
	db.journal = w
	if err := db.jdir.RemoveBefore(num); err != nil {
		return fmt.Errorf("lsm: %w", err)
	}
	return nil
}

// markCleanClose records in the manifest that this writer's journal holds
// nothing the store lacks, so that the next writer does not miss it.
func (db *DB) markCleanClose(ctx context.Context) error {
	db.manifestMu.Lock()
	owner := db.man.JournalOwner
	db.manifestMu.Unlock()
	if owner == "" {
		return nil
	}
	_, err := db.updateManifest(ctx, func(next *manifest.Manifest) error {
		next.JournalOwner = ""
		return nil
	}, nil)
	return err
}

// closeJournal stops the journal writer and releases the directory; clean
// (everything is in the store and the manifest says so) removes the files.
func (db *DB) closeJournal(clean bool) error {
	var err error
	if db.journal != nil {
		err = db.journal.Close()
	}
	if db.jdir != nil {
		if clean {
			err = errors.Join(err, db.jdir.RemoveAll())
		}
		err = errors.Join(err, db.jdir.Close())
		db.jdir = nil
	}
	return err
}

// journalOwner names a journal directory for the manifest: host and path.
func journalOwner(dir string) string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return host + ":" + dir
}

// newDBID returns a random database id.
func newDBID() [16]byte {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		panic(fmt.Sprintf("lsm: reading random bytes: %v", err))
	}
	return id
}
