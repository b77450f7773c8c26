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

// Fsck walks one consistent snapshot of the whole store and reports every
// broken invariant: dangling entries, index mismatches, nlink mismatches,
// orphan inodes and chunks, and accounting drift. It changes nothing. It
// keeps about a hundred bytes per inode and per directory in memory.
//
// It reads every record once, in key order (meta, inodes, entries, READDIR
// index, chunks, reclaims: an entry's directory and inode, and a chunk's
// inode, are known by the time it is read), checking what one record can
// show and gathering the rest; then it checks what needs the whole store:
// the index of each directory, link counts and parents, orphans and the
// counters.
func (fs *FS) Fsck(ctx context.Context) (FsckReport, error) {
	c := newFsckCheck(fs.chunkSize)
	it, err := fs.kv.NewIterator(ctx, []byte{prefixMeta}, []byte{prefixReclaim + 1})
	if err != nil {
		return c.r, fmt.Errorf("kvfs: fsck: %w", err)
	}
	defer it.Close()
	for it.Next() {
		if err := ctx.Err(); err != nil {
			return c.r, err
		}
		c.record(it.Key(), it.Value())
	}
	if err := it.Err(); err != nil {
		return c.r, fmt.Errorf("kvfs: fsck: %w", err)
	}
	c.checkIndexes()
	c.checkInodes()
	c.checkReachable()
	c.checkOrphanChunks()
	c.checkCounters()
	return c.r, nil
}

// fsckInode is what Fsck gathers about one inode.
type fsckInode struct {
	n          *inode
	refs       uint32
	subdirs    uint32
	entryDir   uint64
	chunkBytes uint64
}

// fsckDir sums a directory's entries and READDIR index records, which must
// describe the same set of (cookie, inode, type, name): compared by count
// and by a sum of hashes, so memory grows with directories, not entries.
type fsckDir struct {
	entries, index     uint64
	entrySum, indexSum uint64
}

// fsckCheck is one Fsck run: the report and what the walk has gathered.
type fsckCheck struct {
	r         FsckReport
	chunkSize uint64
	inodes    map[uint64]*fsckInode
	dirs      map[uint64]*fsckDir
	seed      maphash.Seed
	// orphanChunkInos holds the chunk bytes of inodes not found.
	orphanChunkInos map[uint64]uint64
	reclaims        map[uint64]byte
	counterBytes    int64
	counterInodes   int64
	nextIno         uint64
}

func newFsckCheck(chunkSize uint64) *fsckCheck {
	return &fsckCheck{
		chunkSize:       chunkSize,
		inodes:          map[uint64]*fsckInode{},
		dirs:            map[uint64]*fsckDir{},
		seed:            maphash.MakeSeed(),
		orphanChunkInos: map[uint64]uint64{},
		reclaims:        map[uint64]byte{},
	}
}

func (c *fsckCheck) dir(dir uint64) *fsckDir {
	d := c.dirs[dir]
	if d == nil {
		d = &fsckDir{}
		c.dirs[dir] = d
	}
	return d
}

func (c *fsckCheck) entryHash(cookie, ino uint64, typ FileType, name string) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	var b [17]byte
	binary.BigEndian.PutUint64(b[:], cookie)
	binary.BigEndian.PutUint64(b[8:], ino)
	b[16] = byte(typ)
	h.Write(b[:])
	h.WriteString(name)
	return h.Sum64()
}

// record checks one record of the walk and gathers what later checks need.
func (c *fsckCheck) record(k, v []byte) {
	switch k[0] {
	case prefixMeta:
		c.meta(k, v)
	case prefixInode:
		c.inode(k, v)
	case prefixEntry:
		c.entry(k, v)
	case prefixCookie:
		c.indexRecord(k, v)
	case prefixChunk:
		c.chunk(k, v)
	case prefixReclaim:
		c.reclaim(k, v)
	default:
		c.r.problem(&c.r.Corrupt, "unknown key %x", k)
	}
}

func (c *fsckCheck) meta(k, v []byte) {
	r := &c.r
	name := string(k[1:])
	switch {
	case name == metaNextIno:
		var err error
		if c.nextIno, err = decodeU64(v); err != nil {
			r.problem(&r.Corrupt, "next inode id record: %v", err)
		}
	case len(name) == len(metaCounter)+1 && name[:len(metaCounter)] == metaCounter:
		b, i, err := decodeCounter(v)
		if err != nil {
			r.problem(&r.Corrupt, "counter %d: %v", name[len(name)-1], err)
		}
		c.counterBytes += b
		c.counterInodes += i
	}
}

func (c *fsckCheck) inode(k, v []byte) {
	r := &c.r
	if len(k) != 9 {
		r.problem(&r.Corrupt, "inode key %x has a bad length", k)
		return
	}
	ino := binary.BigEndian.Uint64(k[1:])
	n, err := decodeInode(v)
	if err != nil {
		r.problem(&r.Corrupt, "inode %d: %v", ino, err)
		return
	}
	c.inodes[ino] = &fsckInode{n: n}
	r.Inodes++
	if n.typ == TypeDir {
		r.Dirs++
	}
}

func (c *fsckCheck) entry(k, v []byte) {
	r := &c.r
	if len(k) < 10 {
		r.problem(&r.Corrupt, "entry key %x has a bad length", k)
		return
	}
	dir, name := binary.BigEndian.Uint64(k[1:]), string(k[9:])
	r.Entries++
	e, err := decodeDirent(v)
	if err != nil {
		r.problem(&r.Corrupt, "entry %q in dir %d: %v", name, dir, err)
		return
	}
	d, ok := c.inodes[dir]
	if !ok || d.n.typ != TypeDir {
		r.problem(&r.DanglingEntries, "entry %q is in %d, which is not a directory", name, dir)
	} else if e.cookie >= d.n.nextCookie {
		r.problem(&r.Corrupt, "entry %q in dir %d has cookie %d, not below the directory's next cookie %d", name, dir, e.cookie, d.n.nextCookie)
	}
	f, ok := c.inodes[e.ino]
	switch {
	case !ok:
		r.problem(&r.DanglingEntries, "entry %q in dir %d names missing inode %d", name, dir, e.ino)
	case f.n.typ != e.typ:
		r.problem(&r.DanglingEntries, "entry %q in dir %d says type %d, inode %d is type %d", name, dir, e.typ, e.ino, f.n.typ)
	default:
		f.refs++
		f.entryDir = dir
		if f.n.typ == TypeDir && d != nil {
			d.subdirs++
		}
	}
	ds := c.dir(dir)
	ds.entries++
	ds.entrySum += c.entryHash(e.cookie, e.ino, e.typ, name)
}

// indexRecord is a READDIR index (cookie) record.
func (c *fsckCheck) indexRecord(k, v []byte) {
	r := &c.r
	if len(k) != 17 {
		r.problem(&r.Corrupt, "index key %x has a bad length", k)
		return
	}
	dir, cookie := binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:])
	typ, ino, name, err := decodeCookie(v)
	if err != nil {
		r.problem(&r.Corrupt, "index %d/%d: %v", dir, cookie, err)
		return
	}
	ds := c.dir(dir)
	ds.index++
	ds.indexSum += c.entryHash(cookie, ino, typ, name)
}

func (c *fsckCheck) chunk(k, v []byte) {
	r := &c.r
	if len(k) != 17 {
		r.problem(&r.Corrupt, "chunk key %x has a bad length", k)
		return
	}
	ino, idx := binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:])
	r.Chunks++
	r.ChunkBytes += uint64(len(v))
	f, ok := c.inodes[ino]
	if !ok {
		c.orphanChunkInos[ino] += uint64(len(v))
		return
	}
	f.chunkBytes += uint64(len(v))
	if uint64(len(v)) > c.chunkSize || len(v) == 0 {
		r.problem(&r.Corrupt, "chunk %d of inode %d holds %d bytes; chunks hold 1 to %d", idx, ino, len(v), c.chunkSize)
	}
	end := idx*c.chunkSize + uint64(len(v))
	pending := idx >= f.n.truncFrom && idx < f.n.truncTo
	if f.n.typ != TypeRegular || (end > f.n.size && !pending) {
		r.problem(&r.OrphanChunks, "chunk %d of inode %d (%d bytes) lies past its size %d", idx, ino, len(v), f.n.size)
	}
}

func (c *fsckCheck) reclaim(k, v []byte) {
	r := &c.r
	if len(k) != 9 {
		r.problem(&r.Corrupt, "reclaim key %x has a bad length", k)
		return
	}
	ino := binary.BigEndian.Uint64(k[1:])
	kind, err := decodeReclaim(v)
	if err != nil {
		r.problem(&r.Corrupt, "reclaim record of inode %d: %v", ino, err)
		return
	}
	c.reclaims[ino] = kind
	r.PendingReclaims++
}

// checkIndexes compares each directory's entries with its READDIR index.
func (c *fsckCheck) checkIndexes() {
	r := &c.r
	for dir, ds := range c.dirs {
		if ds.entries != ds.index || ds.entrySum != ds.indexSum {
			r.problem(&r.IndexMismatches, "directory %d: its READDIR index (%d records) disagrees with its entries (%d)", dir, ds.index, ds.entries)
		}
	}
}

// checkInodes checks the root, and every inode's id, links, parent, usage
// and pending truncation against what the walk found.
func (c *fsckCheck) checkInodes() {
	r := &c.r
	if rt, ok := c.inodes[RootIno]; !ok || rt.n.typ != TypeDir {
		r.problem(&r.Corrupt, "root directory missing")
	}
	for ino, f := range c.inodes {
		n := f.n
		if ino >= c.nextIno {
			r.problem(&r.Corrupt, "inode %d is not below the next inode id %d", ino, c.nextIno)
		}
		if n.typ == TypeDir {
			c.checkDirLinks(ino, f)
		} else {
			c.checkLinks(ino, f)
		}
		if n.used != f.chunkBytes {
			r.problem(&r.AccountingDrifts, "inode %d records %d bytes used, its chunks hold %d", ino, n.used, f.chunkBytes)
		}
		if n.truncTo > n.truncFrom && c.reclaims[ino] != reclaimTruncated {
			r.problem(&r.Corrupt, "inode %d has a pending truncation but no reclaim record", ino)
		}
	}
}

// checkDirLinks: a directory is named by exactly one entry (the root by
// none), has 2 + its subdirectories as link count, and records the
// directory it is in as its parent.
func (c *fsckCheck) checkDirLinks(ino uint64, f *fsckInode) {
	r := &c.r
	n := f.n
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
}

// checkReachable: every directory named by one entry reaches the root,
// going up through the directories the entries naming them are in. The
// other checks all pass for directories cut off from the root in a cycle
// (a in b, b in a, link counts and parents consistent), the damage a
// rename of a directory into its own subtree would do: each directory of
// such a cycle is reported. Directories below a cycle, or below a
// directory already reported (in no directory, or in several), are lost
// with it and not reported again.
func (c *fsckCheck) checkReachable() {
	reaches := map[uint64]bool{RootIno: true}
	for ino, f := range c.inodes {
		if f.n.typ != TypeDir || f.refs != 1 {
			continue
		}
		var path []uint64
		at := make(map[uint64]int) // position in path
		cur, ok := ino, false
		for {
			if r, known := reaches[cur]; known {
				ok = r
				break
			}
			if i, seen := at[cur]; seen {
				for _, d := range path[i:] {
					c.r.problem(&c.r.OrphanInodes, "directory %d is in a cycle of directories cut off from the root", d)
				}
				break
			}
			g := c.inodes[cur]
			if g == nil || g.n.typ != TypeDir || g.refs != 1 {
				break // reported as a directory in no directory, or in several
			}
			at[cur] = len(path)
			path = append(path, cur)
			cur = g.entryDir
		}
		for _, d := range path {
			reaches[d] = ok
		}
	}
}

// checkLinks: any other inode is named by as many entries as its link
// count, and by at least one.
func (c *fsckCheck) checkLinks(ino uint64, f *fsckInode) {
	r := &c.r
	switch {
	case f.refs == 0:
		r.problem(&r.OrphanInodes, "inode %d (type %d) is in no directory", ino, f.n.typ)
	case f.n.nlink != f.refs:
		r.problem(&r.NlinkMismatches, "inode %d has nlink %d but %d entries", ino, f.n.nlink, f.refs)
	}
}

// checkOrphanChunks: the chunks of an inode that is gone must await
// reclaim.
func (c *fsckCheck) checkOrphanChunks() {
	r := &c.r
	for ino, b := range c.orphanChunkInos {
		if c.reclaims[ino] != reclaimUnlinked {
			r.problem(&r.OrphanChunks, "inode %d is gone but %d bytes of its chunks remain without a reclaim record", ino, b)
		}
	}
}

// checkCounters compares the space and inode counters with what was found.
func (c *fsckCheck) checkCounters() {
	r := &c.r
	if c.counterBytes != int64(r.ChunkBytes) {
		r.problem(&r.AccountingDrifts, "space counters say %d bytes, chunks hold %d", c.counterBytes, r.ChunkBytes)
	}
	if c.counterInodes != int64(r.Inodes) {
		r.problem(&r.AccountingDrifts, "inode counters say %d, found %d inodes", c.counterInodes, r.Inodes)
	}
}
