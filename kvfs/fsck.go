package kvfs

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
)

// maxFsckProblems bounds how many problem descriptions a report keeps.
const maxFsckProblems = 1000

// FsckReport is what Fsck found.
type FsckReport struct {
	Inodes, Dirs, Entries, Chunks uint64
	ChunkBytes                    uint64
	PendingReclaims               uint64

	// Counts of broken invariants by kind.
	DanglingEntries  int // an entry naming a missing inode or with a wrong type
	IndexMismatches  int // entry and READDIR index disagree
	NlinkMismatches  int // link count differs from the entries found (or a directory's subdirectories)
	OrphanInodes     int // an inode no entry names
	OrphanChunks     int // chunks of a missing inode with no pending reclaim, or past the size
	AccountingDrifts int // counters or per-inode usage differ from the chunks found
	Corrupt          int // records that do not decode, and other broken invariants

	// Problems describes the first problems found, one per line.
	Problems []string
}

// OK reports whether no invariant is broken.
func (r *FsckReport) OK() bool {
	return r.DanglingEntries+r.IndexMismatches+r.NlinkMismatches+r.OrphanInodes+r.OrphanChunks+r.AccountingDrifts+r.Corrupt == 0
}

func (r *FsckReport) problem(count *int, format string, args ...any) {
	*count++
	if len(r.Problems) < maxFsckProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

type fsckInode struct {
	n          *inode
	refs       uint32
	subdirs    uint32
	entryDir   uint64
	chunkBytes uint64
}

// Fsck walks one consistent snapshot of the whole store and reports every
// broken invariant: dangling entries, index mismatches, nlink mismatches,
// orphan inodes and chunks, and accounting drift. It changes nothing. It
// keeps about a hundred bytes per inode and per directory in memory.
func (fs *FS) Fsck(ctx context.Context) (FsckReport, error) {
	var r FsckReport
	it, err := fs.kv.NewIterator(ctx, []byte{prefixMeta}, []byte{prefixReclaim + 1})
	if err != nil {
		return r, fmt.Errorf("kvfs: fsck: %w", err)
	}
	defer it.Close()

	inodes := map[uint64]*fsckInode{}
	// Each directory's entries and READDIR index records must describe the
	// same set of (cookie, inode, type, name): compared by count and by a
	// sum of hashes, so memory grows with directories, not entries.
	type dirSum struct {
		entries, index     uint64
		entrySum, indexSum uint64
	}
	sums := map[uint64]*dirSum{}
	sumOf := func(dir uint64) *dirSum {
		d := sums[dir]
		if d == nil {
			d = &dirSum{}
			sums[dir] = d
		}
		return d
	}
	seed := maphash.MakeSeed()
	entryHash := func(cookie, ino uint64, typ FileType, name string) uint64 {
		var h maphash.Hash
		h.SetSeed(seed)
		var b [17]byte
		binary.BigEndian.PutUint64(b[:], cookie)
		binary.BigEndian.PutUint64(b[8:], ino)
		b[16] = byte(typ)
		h.Write(b[:])
		h.WriteString(name)
		return h.Sum64()
	}
	orphanChunkInos := map[uint64]uint64{} // chunk bytes of inodes not found
	reclaims := map[uint64]byte{}
	var counterBytes, counterInodes int64
	var nextIno uint64

	for it.Next() {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		k, v := it.Key(), it.Value()
		switch k[0] {
		case prefixMeta:
			name := string(k[1:])
			switch {
			case name == metaNextIno:
				if nextIno, err = decodeU64(v); err != nil {
					r.problem(&r.Corrupt, "next inode id record: %v", err)
				}
			case len(name) == len(metaCounter)+1 && name[:len(metaCounter)] == metaCounter:
				b, i, err := decodeCounter(v)
				if err != nil {
					r.problem(&r.Corrupt, "counter %d: %v", name[len(name)-1], err)
				}
				counterBytes += b
				counterInodes += i
			}
		case prefixInode:
			if len(k) != 9 {
				r.problem(&r.Corrupt, "inode key %x has a bad length", k)
				continue
			}
			ino := binary.BigEndian.Uint64(k[1:])
			n, err := decodeInode(v)
			if err != nil {
				r.problem(&r.Corrupt, "inode %d: %v", ino, err)
				continue
			}
			inodes[ino] = &fsckInode{n: n}
			r.Inodes++
			if n.typ == TypeDir {
				r.Dirs++
			}
		case prefixEntry:
			if len(k) < 10 {
				r.problem(&r.Corrupt, "entry key %x has a bad length", k)
				continue
			}
			dir, name := binary.BigEndian.Uint64(k[1:]), string(k[9:])
			r.Entries++
			e, err := decodeDirent(v)
			if err != nil {
				r.problem(&r.Corrupt, "entry %q in dir %d: %v", name, dir, err)
				continue
			}
			d, ok := inodes[dir]
			if !ok || d.n.typ != TypeDir {
				r.problem(&r.DanglingEntries, "entry %q is in %d, which is not a directory", name, dir)
			} else if e.cookie >= d.n.nextCookie {
				r.problem(&r.Corrupt, "entry %q in dir %d has cookie %d, not below the directory's next cookie %d", name, dir, e.cookie, d.n.nextCookie)
			}
			c, ok := inodes[e.ino]
			switch {
			case !ok:
				r.problem(&r.DanglingEntries, "entry %q in dir %d names missing inode %d", name, dir, e.ino)
			case c.n.typ != e.typ:
				r.problem(&r.DanglingEntries, "entry %q in dir %d says type %d, inode %d is type %d", name, dir, e.typ, e.ino, c.n.typ)
			default:
				c.refs++
				c.entryDir = dir
				if c.n.typ == TypeDir && d != nil {
					d.subdirs++
				}
			}
			ds := sumOf(dir)
			ds.entries++
			ds.entrySum += entryHash(e.cookie, e.ino, e.typ, name)
		case prefixCookie:
			if len(k) != 17 {
				r.problem(&r.Corrupt, "index key %x has a bad length", k)
				continue
			}
			dir, cookie := binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:])
			typ, ino, name, err := decodeCookie(v)
			if err != nil {
				r.problem(&r.Corrupt, "index %d/%d: %v", dir, cookie, err)
				continue
			}
			ds := sumOf(dir)
			ds.index++
			ds.indexSum += entryHash(cookie, ino, typ, name)
		case prefixChunk:
			if len(k) != 17 {
				r.problem(&r.Corrupt, "chunk key %x has a bad length", k)
				continue
			}
			ino, c := binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:])
			r.Chunks++
			r.ChunkBytes += uint64(len(v))
			f, ok := inodes[ino]
			if !ok {
				orphanChunkInos[ino] += uint64(len(v))
				continue
			}
			f.chunkBytes += uint64(len(v))
			end := c*ChunkSize + uint64(len(v))
			pending := c >= f.n.truncFrom && c < f.n.truncTo
			if f.n.typ != TypeRegular || (end > f.n.size && !pending) {
				r.problem(&r.OrphanChunks, "chunk %d of inode %d (%d bytes) lies past its size %d", c, ino, len(v), f.n.size)
			}
		case prefixReclaim:
			if len(k) != 9 {
				r.problem(&r.Corrupt, "reclaim key %x has a bad length", k)
				continue
			}
			ino := binary.BigEndian.Uint64(k[1:])
			kind, err := decodeReclaim(v)
			if err != nil {
				r.problem(&r.Corrupt, "reclaim record of inode %d: %v", ino, err)
				continue
			}
			reclaims[ino] = kind
			r.PendingReclaims++
		default:
			r.problem(&r.Corrupt, "unknown key %x", k)
		}
	}
	if err := it.Err(); err != nil {
		return r, fmt.Errorf("kvfs: fsck: %w", err)
	}

	for dir, ds := range sums {
		if ds.entries != ds.index || ds.entrySum != ds.indexSum {
			r.problem(&r.IndexMismatches, "directory %d: its READDIR index (%d records) disagrees with its entries (%d)", dir, ds.index, ds.entries)
		}
	}
	if rt, ok := inodes[RootIno]; !ok || rt.n.typ != TypeDir {
		r.problem(&r.Corrupt, "root directory missing")
	}
	for ino, f := range inodes {
		n := f.n
		if ino >= nextIno {
			r.problem(&r.Corrupt, "inode %d is not below the next inode id %d", ino, nextIno)
		}
		switch {
		case n.typ == TypeDir:
			wantRefs := uint32(1)
			if ino == RootIno {
				wantRefs = 0
			}
			if f.refs != wantRefs {
				if f.refs == 0 {
					r.problem(&r.OrphanInodes, "directory %d is in no directory", ino)
				} else {
					r.problem(&r.NlinkMismatches, "directory %d has %d entries naming it", ino, f.refs)
				}
			}
			if n.nlink != 2+f.subdirs {
				r.problem(&r.NlinkMismatches, "directory %d has nlink %d, want %d", ino, n.nlink, 2+f.subdirs)
			}
			if ino != RootIno && f.refs == 1 && n.parent != f.entryDir {
				r.problem(&r.Corrupt, "directory %d is in %d but records parent %d", ino, f.entryDir, n.parent)
			}
		case f.refs == 0:
			r.problem(&r.OrphanInodes, "inode %d (type %d) is in no directory", ino, n.typ)
		case n.nlink != f.refs:
			r.problem(&r.NlinkMismatches, "inode %d has nlink %d but %d entries", ino, n.nlink, f.refs)
		}
		if n.used != f.chunkBytes {
			r.problem(&r.AccountingDrifts, "inode %d records %d bytes used, its chunks hold %d", ino, n.used, f.chunkBytes)
		}
		if n.truncTo > n.truncFrom && reclaims[ino] != reclaimTruncated {
			r.problem(&r.Corrupt, "inode %d has a pending truncation but no reclaim record", ino)
		}
	}
	for ino, b := range orphanChunkInos {
		if reclaims[ino] != reclaimUnlinked {
			r.problem(&r.OrphanChunks, "inode %d is gone but %d bytes of its chunks remain without a reclaim record", ino, b)
		}
	}
	if counterBytes != int64(r.ChunkBytes) {
		r.problem(&r.AccountingDrifts, "space counters say %d bytes, chunks hold %d", counterBytes, r.ChunkBytes)
	}
	if counterInodes != int64(r.Inodes) {
		r.problem(&r.AccountingDrifts, "inode counters say %d, found %d inodes", counterInodes, r.Inodes)
	}
	return r, nil
}
