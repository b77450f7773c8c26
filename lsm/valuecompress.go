package lsm

import (
	"fmt"

	"github.com/zerofs-go/zerofsd/lsm/compress"
	"github.com/zerofs-go/zerofsd/lsm/memtable"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// Compression of separated values. A value of at least ValueThreshold
// bytes is compressed (Options.Compression) once, by the writer's
// goroutine before it takes the commit lock, and the WAL record holds the
// compressed form (an entry of kind wal.KindSetCompressed, whose value is
// a vlog compressed value) when that saves at least an eighth; otherwise
// the value goes in as it is. The memtable keeps the plain value and where
// the stored form lies, with its length and CRC, so the L0 SST can point
// at the stored form. WAL replay decodes compressed entries back into
// plain values and the same places. Values below the threshold stay in
// SST blocks, which are compressed as blocks.

// walBatch is a batch's entries as they go into the WAL, some values
// compressed, and where each entry's stored value lies in them. It is
// scratch, reused through DB.walBatches.
type walBatch struct {
	entries []byte
	locs    []storedValue // one per entry, in order
	comp    compress.Compressor
	val     []byte
}

// storedValue is where an entry's value lies in walBatch.entries, and the
// length and CRC of its stored form when that is compressed (len 0: the
// value as it is).
type storedValue struct {
	off      int
	len, crc uint32
}

// loc is the memtable location of the stored value, given where its WAL
// object's entries start.
func (s storedValue) loc(walID uint64, entriesOff int) memtable.Loc {
	return memtable.Loc{WALID: walID, Off: uint64(entriesOff + s.off), StoredLen: s.len, StoredCRC: s.crc}
}

func (db *DB) newWALBatch() any {
	return &walBatch{comp: compress.NewCompressor(db.opts.Compression, db.codecs)}
}

// compressBatch returns b's entries as they go into the WAL, every value of
// at least ValueThreshold bytes that compresses well enough in compressed
// form; nil when no value does (b's entries then go in as they are). The
// caller gives the result back with releaseWALBatch.
func (db *DB) compressBatch(b *Batch) (*walBatch, error) {
	if db.opts.Compression == compress.None || db.opts.ValueThreshold <= 0 || b.maxValue < db.opts.ValueThreshold {
		return nil, nil
	}
	wb := db.walBatches.Get().(*walBatch)
	wb.entries, wb.locs = wb.entries[:0], wb.locs[:0]
	compressed := false
	err := wal.Record{Count: b.count, Entries: b.entries}.ForEach(func(kind wal.Kind, key, value []byte) error {
		if kind == wal.KindSet && len(value) >= db.opts.ValueThreshold {
			var ok bool
			var err error
			if wb.val, ok, err = vlog.AppendCompressed(wb.val[:0], &wb.comp, value); err != nil {
				return fmt.Errorf("lsm: compressing a value of %d bytes: %w", len(value), err)
			}
			if ok {
				wb.entries = wal.AppendEntry(wb.entries, wal.KindSetCompressed, key, wb.val)
				wb.locs = append(wb.locs, storedValue{off: len(wb.entries) - len(wb.val),
					len: uint32(len(wb.val)), crc: vlog.Checksum(wb.val)})
				compressed = true
				return nil
			}
		}
		wb.entries = wal.AppendEntry(wb.entries, kind, key, value)
		wb.locs = append(wb.locs, storedValue{off: len(wb.entries) - len(value)})
		return nil
	})
	if err != nil || !compressed {
		db.releaseWALBatch(wb)
		return nil, err
	}
	return wb, nil
}

// releaseWALBatch gives wb (which may be nil) back for reuse; buffers grown
// by an unusually large batch are dropped instead.
func (db *DB) releaseWALBatch(wb *walBatch) {
	if wb == nil || cap(wb.entries) > 8<<20 {
		return
	}
	db.walBatches.Put(wb)
}

// decodeWALValue returns the plain value of a WAL entry of kind kind and
// its stored value, with its stored form's length and CRC (0, 0 when it is
// stored as it is), and the memtable kind of the entry.
func (db *DB) decodeWALValue(kind wal.Kind, stored []byte) (wal.Kind, []byte, uint32, uint32, error) {
	if kind != wal.KindSetCompressed {
		return kind, stored, 0, 0, nil
	}
	v, err := vlog.Decompress(stored, db.codecs, compress.MaxDecoded)
	if err != nil {
		return 0, nil, 0, 0, err
	}
	return wal.KindSet, v, uint32(len(stored)), vlog.Checksum(stored), nil
}
