package xdr

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Decoding errors; Decoder.Err wraps one of them.
var (
	// ErrShort: the input ended inside an item.
	ErrShort = errors.New("xdr: input too short")
	// ErrTooLong: a variable-length item is longer than its declared maximum.
	ErrTooLong = errors.New("xdr: item longer than its maximum")
	// ErrBadBool: a boolean is neither 0 nor 1.
	ErrBadBool = errors.New("xdr: boolean is neither 0 nor 1")
	// ErrBadValue: a value is outside what its type allows (an unknown enum, say).
	ErrBadValue = errors.New("xdr: invalid value")
)

// Decoder reads XDR items from a byte slice. See the package comment for
// its sticky error.
type Decoder struct {
	buf []byte
	off int
	err error
}

// NewDecoder returns a Decoder reading b.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Err returns the first decoding error, or nil.
func (d *Decoder) Err() error { return d.err }

// Fail records err as the decoder's error unless one is already recorded
// (for semantic checks done by the caller, e.g. an unknown enum value).
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Remaining returns the number of bytes not yet read.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Offset returns the number of bytes read so far.
func (d *Decoder) Offset() int { return d.off }

// Rest returns the unread bytes (a sub-slice of the input) and consumes them.
func (d *Decoder) Rest() []byte {
	if d.err != nil {
		return nil
	}
	b := d.buf[d.off:]
	d.off = len(d.buf)
	return b
}

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.buf)-d.off < n {
		d.err = fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrShort, n, d.off, len(d.buf)-d.off)
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}

// Uint32 reads an unsigned int (or enum).
func (d *Decoder) Uint32() uint32 {
	b := d.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// Int32 reads a signed int.
func (d *Decoder) Int32() int32 { return int32(d.Uint32()) }

// Uint64 reads an unsigned hyper.
func (d *Decoder) Uint64() uint64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Bool reads a boolean; values other than 0 and 1 are an error.
func (d *Decoder) Bool() bool {
	v := d.Uint32()
	if v > 1 {
		d.Fail(fmt.Errorf("%w: %d at offset %d", ErrBadBool, v, d.off-4))
		return false
	}
	return v == 1
}

// Opaque reads variable-length opaque data of at most max bytes. The result
// aliases the input.
func (d *Decoder) Opaque(max int) []byte {
	n := d.Uint32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		d.Fail(fmt.Errorf("%w: %d bytes, maximum %d", ErrTooLong, n, max))
		return nil
	}
	return d.FixedOpaque(int(n))
}

// FixedOpaque reads n bytes of opaque data and their padding. The result
// aliases the input.
func (d *Decoder) FixedOpaque(n int) []byte {
	b := d.take(n)
	if b == nil {
		return nil
	}
	d.take(Pad(n))
	if d.err != nil {
		return nil
	}
	return b
}

// String reads a string of at most max bytes (copied out of the input).
func (d *Decoder) String(max int) string {
	return string(d.Opaque(max))
}
