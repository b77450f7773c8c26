package manifest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
)

// FormatVersion is the manifest encoding written by Encode. Decode also
// reads versions 1 (without DBID and JournalOwner), 2 and 3 (the same body
// as version 4). Version 3 says that the database's SSTs may point into WAL
// objects below WALIDFlushed and into value objects (package lsm/vlog), so
// those are not garbage: a program that knows only versions 1 and 2 (and
// would delete them) refuses to open it. Version 4 says that its WAL
// objects (WAL format 2) and its SSTs' pointers may hold compressed
// values, which a program that knows only versions 1 to 3 cannot read: it
// refuses to open it rather than fail on them later.
const FormatVersion byte = 4

// ErrCorrupt is returned (wrapped) when a manifest cannot be decoded.
var ErrCorrupt = errors.New("manifest: corrupt")

// Table describes one SST object under compacted/.
type Table struct {
	// ID names the object: compacted/<ID>.sst.
	ID         string
	Size       int64
	Smallest   []byte
	Largest    []byte
	MinSeq     uint64
	MaxSeq     uint64
	NumEntries uint64
}

// Run is a sorted run: tables in ascending key order whose key ranges do not
// overlap.
type Run struct {
	ID     uint64
	Tables []Table
}

// Size is the sum of the run's table sizes.
func (r Run) Size() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Size
	}
	return n
}

// Checkpoint pins the manifest with id ManifestID (and every table it lists)
// until it is removed.
type Checkpoint struct {
	Name            string
	ManifestID      uint64
	CreatedUnixNano int64
}

// Manifest is one version of the database's durable state.
type Manifest struct {
	// ID is the manifest's own id (the number in its object name).
	ID uint64
	// WriterEpoch is bumped by every writer that opens the database.
	WriterEpoch uint64
	// WALIDFlushed is the highest WAL id whose records are all in SSTs
	// listed here; recovery replays WAL objects with larger ids.
	WALIDFlushed uint64
	// LastSeq is the highest sequence number stored in the listed SSTs.
	LastSeq         uint64
	CreatedUnixNano int64
	// L0 holds the level-0 tables, newest first; their key ranges may overlap.
	L0 []Table
	// Runs holds the sorted runs, newest first.
	Runs        []Run
	Checkpoints []Checkpoint
	// DBID identifies the database (random, set by the first writer that
	// opens it; zero in version 1). A local journal records it, so that it
	// is never applied to another database.
	DBID [16]byte
	// JournalOwner is set while the writer of WriterEpoch acknowledges
	// writes from a local journal (durability "local") and names that
	// journal (host and directory). The writer clears it on a clean close,
	// once everything is in the store; found set by a later writer, writes
	// the earlier one acknowledged may exist only in its journal.
	JournalOwner string
}

// Clone returns a deep copy whose slices can be modified freely.
func (m *Manifest) Clone() *Manifest {
	c := *m
	c.L0 = slices.Clone(m.L0)
	c.Runs = make([]Run, len(m.Runs))
	for i, r := range m.Runs {
		c.Runs[i] = Run{ID: r.ID, Tables: slices.Clone(r.Tables)}
	}
	c.Checkpoints = slices.Clone(m.Checkpoints)
	return &c
}

// TableIDs returns the ids of every table the manifest references.
func (m *Manifest) TableIDs() []string {
	var ids []string
	for _, t := range m.L0 {
		ids = append(ids, t.ID)
	}
	for _, r := range m.Runs {
		for _, t := range r.Tables {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

// FindCheckpoint returns the checkpoint with the given name.
func (m *Manifest) FindCheckpoint(name string) (Checkpoint, bool) {
	for _, c := range m.Checkpoints {
		if c.Name == name {
			return c, true
		}
	}
	return Checkpoint{}, false
}

// Encode returns the manifest's binary form.
func Encode(m *Manifest) []byte {
	b := make([]byte, 0, 256)
	b = append(b, FormatVersion)
	b = binary.AppendUvarint(b, m.ID)
	b = binary.AppendUvarint(b, m.WriterEpoch)
	b = binary.AppendUvarint(b, m.WALIDFlushed)
	b = binary.AppendUvarint(b, m.LastSeq)
	b = binary.AppendVarint(b, m.CreatedUnixNano)
	b = binary.AppendUvarint(b, uint64(len(m.L0)))
	for _, t := range m.L0 {
		b = appendTable(b, t)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Runs)))
	for _, r := range m.Runs {
		b = binary.AppendUvarint(b, r.ID)
		b = binary.AppendUvarint(b, uint64(len(r.Tables)))
		for _, t := range r.Tables {
			b = appendTable(b, t)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(m.Checkpoints)))
	for _, c := range m.Checkpoints {
		b = appendBytes(b, []byte(c.Name))
		b = binary.AppendUvarint(b, c.ManifestID)
		b = binary.AppendVarint(b, c.CreatedUnixNano)
	}
	b = append(b, m.DBID[:]...)
	b = appendBytes(b, []byte(m.JournalOwner))
	return binary.LittleEndian.AppendUint32(b, crc32c.Checksum(b))
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTable(b []byte, t Table) []byte {
	b = appendBytes(b, []byte(t.ID))
	b = binary.AppendUvarint(b, uint64(t.Size))
	b = appendBytes(b, t.Smallest)
	b = appendBytes(b, t.Largest)
	b = binary.AppendUvarint(b, t.MinSeq)
	b = binary.AppendUvarint(b, t.MaxSeq)
	return binary.AppendUvarint(b, t.NumEntries)
}

// Decode parses a manifest produced by Encode.
func Decode(data []byte) (*Manifest, error) {
	if len(data) < 5 {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(data))
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32c.Checksum(body) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	version := body[0]
	if version < 1 || version > FormatVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, body[0])
	}
	d := decoder{b: body[1:]}
	m := &Manifest{}
	m.ID = d.uvarint()
	m.WriterEpoch = d.uvarint()
	m.WALIDFlushed = d.uvarint()
	m.LastSeq = d.uvarint()
	m.CreatedUnixNano = d.varint()
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		m.L0 = append(m.L0, d.table())
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		r := Run{ID: d.uvarint()}
		k := d.count()
		for j := 0; j < k && d.err == nil; j++ {
			r.Tables = append(r.Tables, d.table())
		}
		m.Runs = append(m.Runs, r)
	}
	n = d.count()
	for i := 0; i < n && d.err == nil; i++ {
		m.Checkpoints = append(m.Checkpoints, Checkpoint{
			Name:            string(d.bytes()),
			ManifestID:      d.uvarint(),
			CreatedUnixNano: d.varint(),
		})
	}
	if version >= 2 {
		if d.err == nil && len(d.b) < len(m.DBID) {
			d.err = errors.New("database id truncated")
		}
		if d.err == nil {
			copy(m.DBID[:], d.b)
			d.b = d.b[len(m.DBID):]
		}
		m.JournalOwner = string(d.bytes())
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, d.err)
	}
	return m, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads an element count, bounded by the remaining bytes (every
// element takes at least one byte), so corrupt input cannot make us allocate.
func (d *decoder) count() int {
	v := d.uvarint()
	if d.err == nil && v > uint64(len(d.b)) {
		d.err = fmt.Errorf("count %d exceeds remaining %d bytes", v, len(d.b))
		return 0
	}
	return int(v)
}

func (d *decoder) bytes() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	s := bytes.Clone(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) table() Table {
	t := Table{ID: string(d.bytes())}
	size := d.uvarint()
	if size > 1<<62 {
		d.err = fmt.Errorf("table size %d out of range", size)
	}
	t.Size = int64(size)
	t.Smallest = d.bytes()
	t.Largest = d.bytes()
	t.MinSeq = d.uvarint()
	t.MaxSeq = d.uvarint()
	t.NumEntries = d.uvarint()
	return t
}
