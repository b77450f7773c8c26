package xdr

import "encoding/binary"

// Encoder appends XDR items to Buf. The zero value is ready to use.
type Encoder struct {
	Buf []byte
}

// NewEncoder returns an Encoder appending to buf (usually buf[:0] of a pooled slice).
func NewEncoder(buf []byte) *Encoder { return &Encoder{Buf: buf} }

// Len returns the number of bytes encoded so far.
func (e *Encoder) Len() int { return len(e.Buf) }

// Truncate drops everything after the first n bytes (to rewrite a reply).
func (e *Encoder) Truncate(n int) { e.Buf = e.Buf[:n] }

// Uint32 appends an unsigned int (also used for enums).
func (e *Encoder) Uint32(v uint32) { e.Buf = binary.BigEndian.AppendUint32(e.Buf, v) }

// Int32 appends a signed int.
func (e *Encoder) Int32(v int32) { e.Uint32(uint32(v)) }

// Uint64 appends an unsigned hyper.
func (e *Encoder) Uint64(v uint64) { e.Buf = binary.BigEndian.AppendUint64(e.Buf, v) }

// Bool appends a boolean (1 or 0).
func (e *Encoder) Bool(v bool) {
	if v {
		e.Uint32(1)
	} else {
		e.Uint32(0)
	}
}

// Opaque appends variable-length opaque data: its length, the bytes, zero padding.
func (e *Encoder) Opaque(b []byte) {
	e.Uint32(uint32(len(b)))
	e.FixedOpaque(b)
}

// String appends a string like variable-length opaque data.
func (e *Encoder) String(s string) {
	e.Uint32(uint32(len(s)))
	e.Buf = append(e.Buf, s...)
	e.pad(len(s))
}

// FixedOpaque appends fixed-length opaque data with zero padding.
func (e *Encoder) FixedOpaque(b []byte) {
	e.Buf = append(e.Buf, b...)
	e.pad(len(b))
}

// Reserve appends n bytes (plus padding to a multiple of four, zeroed) and
// returns the n-byte slice to fill in place, e.g. to read file data
// directly into a reply. The slice is valid until the next append.
//
// When Buf must grow, it grows to exactly what it then holds: Reserve is
// for payloads whose size is known (a READ's data, usually the last item
// of a reply), where a margin would only be memory held by the reply. An
// append after it grows Buf as append does.
func (e *Encoder) Reserve(n int) []byte {
	start := len(e.Buf)
	total := start + n + Pad(n)
	if cap(e.Buf) < total {
		grown := make([]byte, start, total)
		copy(grown, e.Buf)
		e.Buf = grown
	}
	e.Buf = e.Buf[:total]
	clear(e.Buf[start+n : total])
	return e.Buf[start : start+n]
}

// PutUint32At overwrites the unsigned int at byte offset off (for lengths
// and counts only known after the data was encoded).
func (e *Encoder) PutUint32At(off int, v uint32) { binary.BigEndian.PutUint32(e.Buf[off:], v) }

func (e *Encoder) pad(n int) {
	switch Pad(n) {
	case 1:
		e.Buf = append(e.Buf, 0)
	case 2:
		e.Buf = append(e.Buf, 0, 0)
	case 3:
		e.Buf = append(e.Buf, 0, 0, 0)
	}
}

// Pad returns the number of zero bytes that follow n bytes of opaque data.
func Pad(n int) int { return (4 - n&3) & 3 }

// OpaqueSize returns the encoded size of variable-length opaque data of n bytes.
func OpaqueSize(n int) int { return 4 + n + Pad(n) }
