package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// Contents is what Scan found in a journal directory.
type Contents struct {
	// Groups are the journals of successive writer epochs, oldest first.
	Groups []*Group
	// Torn are the torn writes at the end of the journal, bytes that were
	// never acknowledged, ignored here and cut off by TrimTorn: the end of
	// the newest file, and the headers that never became durable of files
	// after which no file holds more than a header (Begin removes a file
	// whose header it could not make durable; a crash may bring it back).
	Torn []Torn
	// next is the number the next new file gets.
	next uint64
}

// Group is a run of consecutive files with the same header, of the same
// format.
type Group struct {
	Header Header
	// Sealed: the files are sealed (written with a Cipher).
	Sealed bool
	// Files are the group's file names (without directory), in order.
	Files []string
	// Records are the group's complete records, in order, with
	// consecutive sequence numbers, up to the first damage. When a file
	// starts after a gap (an older file came back because its removal was
	// not durable when the machine crashed), only the records from the gap
	// on are kept: the lsm checks they continue what the store holds.
	Records []wal.Record
	// Bytes is the size of Records as written.
	Bytes int64
	// Damage, when set, is where the group is damaged: its records from
	// there on are not in Records.
	Damage *Damage
}

// FirstSeq and LastSeq bound the group's records (0, 0 when it has none).
func (g *Group) FirstSeq() uint64 {
	if len(g.Records) == 0 {
		return 0
	}
	return g.Records[0].FirstSeq
}

func (g *Group) LastSeq() uint64 {
	if len(g.Records) == 0 {
		return 0
	}
	return g.Records[len(g.Records)-1].LastSeq()
}

// Damage locates a damaged record followed by more data.
type Damage struct {
	File   string
	Offset int64
	Err    error
	// Bytes is how much of the group, from Offset on, is not in Records.
	Bytes int64
}

// Torn is a torn write at the end of the journal.
type Torn struct {
	File   string
	Offset int64 // where the file is cut (0 and WholeFile: the header itself is torn)
	Bytes  int64
	// WholeFile: the file's header never became durable, so the file
	// holds no record and is removed rather than cut.
	WholeFile bool
}

// Scan reads every journal file of the directory. It changes nothing. A
// sealed file is read with the Dir's Cipher; without one, Scan fails with
// ErrSealed.
func (d *Dir) Scan() (*Contents, error) {
	return scanDir(d.fs, d.path, d.cipher)
}

// journalFiles lists the journal files of dir in number order.
func journalFiles(fsys FS, dir string) ([]uint64, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: listing %s: %w", dir, err)
	}
	var nums []uint64
	for _, e := range ents {
		if n, ok := parseFileName(e.Name); ok && !e.Dir {
			nums = append(nums, n)
		}
	}
	return nums, nil // ReadDir sorts by name, and names are fixed-width numbers
}

func scanDir(fsys FS, dir string, ciph Cipher) (*Contents, error) {
	nums, err := journalFiles(fsys, dir)
	if err != nil {
		return nil, err
	}
	c := &Contents{next: 1}
	var g *Group
	for i, n := range nums {
		c.next = n + 1
		name := fileName(n)
		data, err := fsys.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("journal: reading %s: %w", path.Join(dir, name), err)
		}
		// newest: the file being written. A later file means this
		// one is complete: the writer writes nothing more into a file
		// once it has begun the next one.
		newest := i == len(nums)-1
		fh, herr := decodeFileHeader(data)
		var cd *codec
		if herr == nil {
			cd, herr = codecOf(fh, ciph)
			if errors.Is(herr, ErrSealed) {
				return nil, fmt.Errorf("journal: reading %s: %w", path.Join(dir, name), herr)
			}
		}
		if herr != nil {
			// A torn header never became durable, and Begin makes the
			// header durable before any record is written: a torn
			// header leaves at most a header's length of bytes before
			// the zeros. A header that does not read in front of more
			// than that, or one that fails authentication, was durable.
			// A file after it holding a header alone may be one that
			// Begin made durable after this one failed (and its
			// removal was lost in a crash): neither holds a record.
			if !errors.Is(herr, ErrTampered) && holdsAtMostAHeader(data) {
				ok, err := holdAtMostAHeader(fsys, dir, nums[i+1:])
				if err != nil {
					return nil, err
				}
				if ok {
					c.Torn = append(c.Torn, Torn{File: name, Bytes: int64(len(data)), WholeFile: true})
					continue
				}
			}
			// A damaged header: the file cannot be attributed to a
			// group; set it aside on its own.
			c.Groups = append(c.Groups, &Group{Files: []string{name},
				Damage: &Damage{File: name, Err: herr, Bytes: int64(len(data))}})
			g = nil
			continue
		}
		if g == nil || g.Header != fh.Header || g.Sealed != fh.sealed {
			g = &Group{Header: fh.Header, Sealed: fh.sealed}
			c.Groups = append(c.Groups, g)
		}
		g.Files = append(g.Files, name)
		if g.Damage != nil {
			g.Damage.Bytes += int64(len(data))
			continue
		}
		off := cd.hdrLen
		// Space the writer reserved ahead of its records reads as
		// zeros: the file's records end where only zeros are left.
		end := zeroTail(data)
		for off < end {
			// A torn write cuts or garbles a record; it never renumbers
			// one, nor leaves one that fails authentication.
			r, size, torn, err := cd.decode(data[off:])
			if err == nil && r.Count == 0 {
				err = fmt.Errorf("%w: record with no entries", wal.ErrCorrupt)
			}
			if err == nil && off == cd.hdrLen && len(g.Records) > 0 && r.FirstSeq > g.LastSeq()+1 {
				// A file starts after a gap: the files between were
				// removed once shipped, and an older one whose removal
				// was not yet durable came back after a crash. What it
				// holds is older than the gap, so shipped too: forget it.
				g.Records, g.Bytes = nil, 0
			}
			if err == nil && len(g.Records) > 0 && r.FirstSeq != g.LastSeq()+1 {
				err = fmt.Errorf("%w: record starts at sequence number %d, want %d", wal.ErrCorrupt, r.FirstSeq, g.LastSeq()+1)
			}
			if err != nil {
				if torn && newest && !validRecordAfter(cd, data, crc32c.NewSpans(data), off+1, end, g.LastSeq()) {
					c.Torn = append(c.Torn, Torn{File: name, Offset: int64(off), Bytes: int64(len(data) - off)})
				} else {
					g.Damage = &Damage{File: name, Offset: int64(off), Err: err, Bytes: int64(len(data) - off)}
				}
				break
			}
			g.Records = append(g.Records, r)
			g.Bytes += int64(size)
			off += size
		}
	}
	return c, nil
}

// holdAtMostAHeader reports whether each of the journal files nums of dir
// holds at most a header.
func holdAtMostAHeader(fsys FS, dir string, nums []uint64) (bool, error) {
	for _, n := range nums {
		name := path.Join(dir, fileName(n))
		data, err := fsys.ReadFile(name)
		if err != nil {
			return false, fmt.Errorf("journal: reading %s: %w", name, err)
		}
		if !holdsAtMostAHeader(data) {
			return false, nil
		}
	}
	return true, nil
}

// holdsAtMostAHeader reports whether data, up to the zeros that end it,
// is no longer than a file header: that of a sealed file when its version
// byte says so, else that of a file in the clear (the shorter one).
func holdsAtMostAHeader(data []byte) bool {
	size := HeaderSize
	if len(data) > 4 && data[4] == SealedFormatVersion {
		size = SealedHeaderSize
	}
	return zeroTail(data) <= size
}

// zeroTail returns where the run of zero bytes that ends data begins
// (len(data) when data does not end with a zero byte). No record starts
// there: a record's length and checksum are never both zero, and a record
// cut by a torn write is still torn when zeros follow it.
func zeroTail(data []byte) int {
	end := len(data)
	for end > 0 && data[end-1] == 0 {
		end--
	}
	return end
}

// validRecordAfter reports whether a complete, checksum-valid record newer
// than lastSeq, or a sealed one that fails authentication, starts anywhere
// in data at or after from and before end (where the zeros that end the
// file begin: a record may end in zeros, so it is read from data whole):
// if so, the damage before it is not a torn tail. spans are data's.
func validRecordAfter(cd *codec, data []byte, spans *crc32c.Spans, from, end int, lastSeq uint64) bool {
	for i := from; i < end && i+wal.RecordHeaderSize <= len(data); i++ {
		if !framedAt(data, spans, i) {
			continue // would decode as torn
		}
		r, _, torn, err := cd.decode(data[i:])
		if (err == nil && r.Count > 0 && r.FirstSeq > lastSeq) || (err != nil && !torn) {
			return true
		}
	}
	return false
}

// resync finds the next offset at or after from and before end (where
// the zeros that end the file begin) where a valid record starts, or end.
// spans are data's.
func resync(cd *codec, data []byte, spans *crc32c.Spans, from, end int) int {
	for i := from; i < end && i+wal.RecordHeaderSize <= len(data); i++ {
		if !framedAt(data, spans, i) {
			continue
		}
		if r, _, _, err := cd.decode(data[i:]); err == nil && r.Count > 0 {
			return i
		}
	}
	return end
}

// framedAt reports whether the record framing at data[i:] (a length, a
// checksum, then that many bytes; in the clear and sealed alike) is whole
// and its checksum matches, in time that does not grow with the length it
// reads there: a scan of damaged data tries every offset, and reading the
// bytes each one claims would take time quadratic in the data's length,
// minutes for a torn round of tens of MiB. spans are data's.
func framedAt(data []byte, spans *crc32c.Spans, i int) bool {
	if i+wal.RecordHeaderSize > len(data) {
		return false
	}
	n := binary.LittleEndian.Uint32(data[i:])
	body := i + wal.RecordHeaderSize
	if uint64(n) > uint64(len(data)-body) {
		return false
	}
	return spans.Checksum(body, body+int(n)) == binary.LittleEndian.Uint32(data[i+4:])
}
