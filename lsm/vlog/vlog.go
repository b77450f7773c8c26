package vlog

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
	"github.com/zerofs-go/zerofsd/lsm/compress"
)

// ErrCorrupt is returned (wrapped) for a pointer, refs list, value object or
// compressed value that does not decode, and for a value that fails its
// checksum.
var ErrCorrupt = errors.New("vlog: corrupt")

// Checksum is the CRC32C a pointer carries for the stored bytes of its value.
func Checksum(value []byte) uint32 { return crc32c.Checksum(value) }

// Kind says which kind of object holds values.
type Kind uint8

// Object kinds; the values are their tags in value refs, and the tags of
// pointers to plain values.
const (
	WALObject   Kind = 1
	ValueObject Kind = 2
)

// compressedTag is added to an object's kind in the tag of a pointer to a
// compressed value (tags 3 and 4).
const compressedTag = 2

// Object names one object that holds values: a WAL object by its id, or a
// value object by its 16-byte id. It is comparable (a map key).
type Object struct {
	Kind  Kind
	WALID uint64
	ID    [16]byte
}

// WAL returns the Object of WAL object id.
func WAL(id uint64) Object { return Object{Kind: WALObject, WALID: id} }

// Value returns the Object of value object id.
func Value(id [16]byte) Object { return Object{Kind: ValueObject, ID: id} }

// HexID is a value object's id as it appears in its name (32 hex digits).
func (o Object) HexID() string { return hex.EncodeToString(o.ID[:]) }

// ParseHexID parses the 32 hex digits of a value object's name.
func ParseHexID(s string) ([16]byte, bool) {
	var id [16]byte
	if len(s) != 2*len(id) {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, false
	}
	return id, true
}

func (o Object) String() string {
	if o.Kind == WALObject {
		return fmt.Sprintf("wal %d", o.WALID)
	}
	return "value object " + o.HexID()
}

// Compare orders objects: WAL objects by id, then value objects by id.
func (o Object) Compare(p Object) int {
	if c := cmp.Compare(o.Kind, p.Kind); c != 0 {
		return c
	}
	if o.Kind == WALObject {
		return cmp.Compare(o.WALID, p.WALID)
	}
	return bytes.Compare(o.ID[:], p.ID[:])
}

// appendObject appends the tag and the id of o; the tag is o's kind plus
// tagAdd.
func appendObject(dst []byte, o Object, tagAdd byte) []byte {
	dst = append(dst, byte(o.Kind)+tagAdd)
	if o.Kind == WALObject {
		return binary.AppendUvarint(dst, o.WALID)
	}
	return append(dst, o.ID[:]...)
}

// decoder reads the fields of the encodings; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// object reads a tag and the id it announces. compressed is whether the
// tag is a pointer's tag for a compressed value, which only pointers
// (withCompressed) may have.
func (d *decoder) object(withCompressed bool) (o Object, compressed bool) {
	if d.err != nil {
		return Object{}, false
	}
	if len(d.b) < 1 {
		d.fail("object tag missing")
		return Object{}, false
	}
	tag := d.b[0]
	d.b = d.b[1:]
	if withCompressed && tag > compressedTag && tag <= compressedTag+byte(ValueObject) {
		tag -= compressedTag
		compressed = true
	}
	o = Object{Kind: Kind(tag)}
	switch o.Kind {
	case WALObject:
		o.WALID = d.uvarint("WAL id")
	case ValueObject:
		if len(d.b) < len(o.ID) {
			d.fail("value object id truncated")
			return Object{}, false
		}
		copy(o.ID[:], d.b)
		d.b = d.b[len(o.ID):]
	default:
		d.fail("unknown object tag %d", o.Kind)
	}
	return o, compressed
}

// Pointer locates one value: its stored bytes are [Off, Off+Len) of Obj,
// and their CRC32C is CRC. The stored bytes are the value itself, or with
// Compressed a compressed value (see AppendCompressed) that decodes to
// Size bytes.
type Pointer struct {
	Obj Object
	Off uint64
	Len uint64
	CRC uint32
	// Compressed says the stored bytes are a compressed value, and Size
	// is then the value's length (zero otherwise).
	Compressed bool
	Size       uint64
}

// ValueLen is the length of the value p points at (decompressed).
func (p Pointer) ValueLen() uint64 {
	if p.Compressed {
		return p.Size
	}
	return p.Len
}

// MaxPointerSize bounds an encoded pointer.
const MaxPointerSize = 1 + 16 + 4*binary.MaxVarintLen64 + 4

// AppendPointer appends p's encoding to dst.
func AppendPointer(dst []byte, p Pointer) []byte {
	if p.Compressed {
		dst = appendObject(dst, p.Obj, compressedTag)
	} else {
		dst = appendObject(dst, p.Obj, 0)
	}
	dst = binary.AppendUvarint(dst, p.Off)
	dst = binary.AppendUvarint(dst, p.Len)
	if p.Compressed {
		dst = binary.AppendUvarint(dst, p.Size)
	}
	return binary.LittleEndian.AppendUint32(dst, p.CRC)
}

// DecodePointer parses an encoded pointer (the whole of b).
func DecodePointer(b []byte) (Pointer, error) {
	d := decoder{b: b}
	var p Pointer
	p.Obj, p.Compressed = d.object(true)
	p.Off = d.uvarint("offset")
	p.Len = d.uvarint("length")
	if p.Compressed {
		p.Size = d.uvarint("size")
		if d.err == nil && p.Size > compress.MaxDecoded {
			d.fail("compressed value of %d bytes, more than %d", p.Size, compress.MaxDecoded)
		}
	}
	if d.err == nil && len(d.b) != 4 {
		d.fail("pointer ends with %d bytes, want a 4-byte checksum", len(d.b))
	}
	if d.err == nil && p.Off+p.Len < p.Off {
		d.fail("pointer range overflows")
	}
	if d.err != nil {
		return Pointer{}, d.err
	}
	p.CRC = binary.LittleEndian.Uint32(d.b)
	return p, nil
}

// Check verifies that stored is what p points at (length and checksum of
// the stored bytes), without decompressing.
func (p Pointer) Check(stored []byte) error {
	if uint64(len(stored)) != p.Len {
		return fmt.Errorf("%w: %s [%d,+%d): got %d bytes", ErrCorrupt, p.Obj, p.Off, p.Len, len(stored))
	}
	if Checksum(stored) != p.CRC {
		return fmt.Errorf("%w: %s [%d,+%d): checksum mismatch", ErrCorrupt, p.Obj, p.Off, p.Len)
	}
	return nil
}

// Value checks stored (Check) and returns the value: stored itself, or
// decompressed with codecs into a new buffer of exactly Size bytes.
func (p Pointer) Value(stored []byte, codecs *compress.Codecs) ([]byte, error) {
	if err := p.Check(stored); err != nil {
		return nil, err
	}
	if !p.Compressed {
		return stored, nil
	}
	v, err := Decompress(stored, codecs, int(p.Size))
	if err == nil && uint64(len(v)) != p.Size {
		err = fmt.Errorf("%w: decoded %d bytes, want %d", ErrCorrupt, len(v), p.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("%s [%d,+%d): %w", p.Obj, p.Off, p.Len, err)
	}
	return v, nil
}

// AppendCompressed appends the compressed form of value, as c compresses
// it, to dst (a codec byte, then c's payload; see the package comment). ok
// is false, and dst unchanged, when compressing would not pay (c.Compress
// keeps nothing): the value is then stored as it is.
func AppendCompressed(dst []byte, c *compress.Compressor, value []byte) (out []byte, ok bool, err error) {
	payload, ok, err := c.Compress(value)
	if err != nil || !ok {
		return dst, false, err
	}
	dst = append(dst, byte(c.Codec()))
	return append(dst, payload...), true, nil
}

// Decompress decodes a compressed value (what AppendCompressed wrote, whole)
// with codecs, refusing one that would decode to more than limit bytes.
// A value that does not decode is ErrCorrupt.
func Decompress(stored []byte, codecs *compress.Codecs, limit int) ([]byte, error) {
	if len(stored) < 2 {
		return nil, fmt.Errorf("%w: compressed value of %d bytes", ErrCorrupt, len(stored))
	}
	codec := compress.Codec(stored[0])
	if codec == compress.None || !codec.Valid() {
		return nil, fmt.Errorf("%w: compressed value with codec %d", ErrCorrupt, stored[0])
	}
	v, err := codecs.Decompress(codec, stored[1:], limit)
	if err != nil {
		return nil, fmt.Errorf("%w: compressed value: %v", ErrCorrupt, err)
	}
	return v, nil
}

// Count is what an SST refers to in one object.
type Count struct {
	Values, Bytes uint64
}

// Refs maps each object an SST points into to what it refers to there.
type Refs map[Object]Count

// Add counts one value of n bytes in o.
func (r Refs) Add(o Object, n uint64) {
	c := r[o]
	c.Values++
	c.Bytes += n
	r[o] = c
}

// Merge adds every count of s to r.
func (r Refs) Merge(s Refs) {
	for o, c := range s {
		rc := r[o]
		rc.Values += c.Values
		rc.Bytes += c.Bytes
		r[o] = rc
	}
}

// Bytes is the sum of the referenced bytes.
func (r Refs) Bytes() uint64 {
	var n uint64
	for _, c := range r {
		n += c.Bytes
	}
	return n
}

const refsVersion = 1

// EncodeRefs returns the encoding of r (objects in ascending order). An
// empty r encodes to nil: an SST without pointers stores no refs.
func EncodeRefs(r Refs) []byte {
	if len(r) == 0 {
		return nil
	}
	objs := make([]Object, 0, len(r))
	for o := range r {
		objs = append(objs, o)
	}
	slices.SortFunc(objs, Object.Compare)
	b := []byte{refsVersion}
	b = binary.AppendUvarint(b, uint64(len(objs)))
	for _, o := range objs {
		b = appendObject(b, o, 0)
		b = binary.AppendUvarint(b, r[o].Bytes)
		b = binary.AppendUvarint(b, r[o].Values)
	}
	return b
}

// DecodeRefs parses what EncodeRefs wrote (nil or empty: no refs).
func DecodeRefs(b []byte) (Refs, error) {
	r := Refs{}
	if len(b) == 0 {
		return r, nil
	}
	if b[0] != refsVersion {
		return nil, fmt.Errorf("%w: value refs of unknown version %d", ErrCorrupt, b[0])
	}
	d := decoder{b: b[1:]}
	n := d.uvarint("count")
	if d.err == nil && n > uint64(len(d.b))/3 {
		d.fail("%d objects cannot fit in %d bytes", n, len(d.b))
	}
	var prev Object
	for i := uint64(0); i < n && d.err == nil; i++ {
		o, _ := d.object(false)
		c := Count{Bytes: d.uvarint("bytes")}
		c.Values = d.uvarint("values")
		if d.err == nil && i > 0 && prev.Compare(o) >= 0 {
			d.fail("objects out of order")
		}
		prev = o
		r[o] = c
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes after value refs", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return r, nil
}

// Value object header.
const (
	objectMagic   = "ZVAL"
	objectVersion = 1
	// HeaderSize is the size of a value object's header; its first value
	// starts there.
	HeaderSize = 4 + 1 + 16 + 4
)

// AppendHeader appends the header of value object id to dst.
func AppendHeader(dst []byte, id [16]byte) []byte {
	start := len(dst)
	dst = append(dst, objectMagic...)
	dst = append(dst, objectVersion)
	dst = append(dst, id[:]...)
	return binary.LittleEndian.AppendUint32(dst, crc32c.Checksum(dst[start:]))
}

// DecodeHeader checks the header at the start of a value object and
// returns the id it names.
func DecodeHeader(b []byte) ([16]byte, error) {
	var id [16]byte
	if len(b) < HeaderSize {
		return id, fmt.Errorf("%w: value object of %d bytes is shorter than its header", ErrCorrupt, len(b))
	}
	if string(b[:4]) != objectMagic {
		return id, fmt.Errorf("%w: not a value object (bad magic)", ErrCorrupt)
	}
	if binary.LittleEndian.Uint32(b[HeaderSize-4:]) != crc32c.Checksum(b[:HeaderSize-4]) {
		return id, fmt.Errorf("%w: value object header checksum mismatch", ErrCorrupt)
	}
	if b[4] != objectVersion {
		return id, fmt.Errorf("%w: value object of unknown version %d", ErrCorrupt, b[4])
	}
	copy(id[:], b[5:21])
	return id, nil
}

// Builder assembles one value object in memory.
type Builder struct {
	id  [16]byte
	buf []byte
}

// NewBuilder starts value object id, with room for about sizeHint bytes.
func NewBuilder(id [16]byte, sizeHint int) *Builder {
	return &Builder{id: id, buf: AppendHeader(make([]byte, 0, max(sizeHint, HeaderSize)), id)}
}

// Copy appends stored, the stored bytes p points at (already checked),
// as they are, and returns the pointer to the copy: p in this object.
func (b *Builder) Copy(p Pointer, stored []byte) Pointer {
	p.Obj, p.Off = Value(b.id), uint64(len(b.buf))
	b.buf = append(b.buf, stored...)
	return p
}

// Size is the object's size so far.
func (b *Builder) Size() int { return len(b.buf) }

// Empty reports whether no value was added.
func (b *Builder) Empty() bool { return len(b.buf) == HeaderSize }

// Object is the object being built.
func (b *Builder) Object() Object { return Value(b.id) }

// Bytes returns the object; the Builder must not be used afterwards.
func (b *Builder) Bytes() []byte { return b.buf }
