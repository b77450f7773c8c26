package xdr

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var e Encoder
	e.Uint32(7)
	e.Int32(-2)
	e.Uint64(1 << 40)
	e.Bool(true)
	e.Bool(false)
	e.Opaque([]byte("abcde"))
	e.String("xy")
	e.FixedOpaque([]byte{1, 2, 3})
	r := e.Reserve(5)
	copy(r, "hello")
	if e.Len()%4 != 0 {
		t.Fatalf("encoded length %d is not a multiple of 4", e.Len())
	}
	d := NewDecoder(e.Buf)
	if v := d.Uint32(); v != 7 {
		t.Errorf("Uint32 = %d", v)
	}
	if v := d.Int32(); v != -2 {
		t.Errorf("Int32 = %d", v)
	}
	if v := d.Uint64(); v != 1<<40 {
		t.Errorf("Uint64 = %d", v)
	}
	if !d.Bool() || d.Bool() {
		t.Errorf("Bool mismatch")
	}
	if v := d.Opaque(5); string(v) != "abcde" {
		t.Errorf("Opaque = %q", v)
	}
	if v := d.String(10); v != "xy" {
		t.Errorf("String = %q", v)
	}
	if v := d.FixedOpaque(3); !bytes.Equal(v, []byte{1, 2, 3}) {
		t.Errorf("FixedOpaque = %v", v)
	}
	if v := d.FixedOpaque(5); string(v) != "hello" {
		t.Errorf("Reserve/FixedOpaque = %q", v)
	}
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("err %v, remaining %d", d.Err(), d.Remaining())
	}
}

func TestEncodingBytes(t *testing.T) {
	tests := []struct {
		name string
		enc  func(e *Encoder)
		want []byte
	}{
		{"uint32", func(e *Encoder) { e.Uint32(0x01020304) }, []byte{1, 2, 3, 4}},
		{"uint64", func(e *Encoder) { e.Uint64(0x0102030405060708) }, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{"bool", func(e *Encoder) { e.Bool(true) }, []byte{0, 0, 0, 1}},
		{"opaque1", func(e *Encoder) { e.Opaque([]byte{9}) }, []byte{0, 0, 0, 1, 9, 0, 0, 0}},
		{"opaque4", func(e *Encoder) { e.Opaque([]byte{1, 2, 3, 4}) }, []byte{0, 0, 0, 4, 1, 2, 3, 4}},
		{"string3", func(e *Encoder) { e.String("abc") }, []byte{0, 0, 0, 3, 'a', 'b', 'c', 0}},
		{"empty", func(e *Encoder) { e.Opaque(nil) }, []byte{0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Encoder
			tt.enc(&e)
			if !bytes.Equal(e.Buf, tt.want) {
				t.Fatalf("got %v, want %v", e.Buf, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		dec  func(d *Decoder)
		want error
	}{
		{"short uint32", []byte{1, 2}, func(d *Decoder) { d.Uint32() }, ErrShort},
		{"short uint64", []byte{1, 2, 3, 4}, func(d *Decoder) { d.Uint64() }, ErrShort},
		{"bad bool", []byte{0, 0, 0, 2}, func(d *Decoder) { d.Bool() }, ErrBadBool},
		{"too long", []byte{0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 0}, func(d *Decoder) { d.Opaque(8) }, ErrTooLong},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff}, func(d *Decoder) { d.Opaque(1 << 30) }, ErrTooLong},
		{"missing pad", []byte{0, 0, 0, 1, 7}, func(d *Decoder) { d.Opaque(8) }, ErrShort},
		{"sticky", []byte{0, 0}, func(d *Decoder) { d.Uint32(); d.Fail(ErrBadValue) }, ErrShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(tt.in)
			tt.dec(d)
			if !errors.Is(d.Err(), tt.want) {
				t.Fatalf("err = %v, want %v", d.Err(), tt.want)
			}
			if v := d.Uint32(); v != 0 {
				t.Fatalf("read after error returned %d", v)
			}
		})
	}
}

func TestPool(t *testing.T) {
	p := NewPool(16, 64)
	b := p.Get()
	if len(*b) != 0 || cap(*b) < 16 {
		t.Fatalf("Get: len %d cap %d", len(*b), cap(*b))
	}
	*b = append(*b, make([]byte, 100)...)
	p.Put(b) // dropped: too big
	b2 := p.Get()
	if len(*b2) != 0 {
		t.Fatalf("recycled slice not empty")
	}
}

// FuzzDecoder drives a decoder with a program taken from the input itself:
// it must never panic nor read past its input.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(in)
		for i := 0; d.Err() == nil && d.Remaining() > 0 && i < 64; i++ {
			switch in[i%len(in)] % 6 {
			case 0:
				d.Uint32()
			case 1:
				d.Uint64()
			case 2:
				d.Bool()
			case 3:
				if b := d.Opaque(1024); len(b) > 1024 {
					t.Fatalf("opaque of %d bytes exceeds max", len(b))
				}
			case 4:
				d.String(16)
			case 5:
				d.FixedOpaque(int(in[0] % 9))
			}
			if d.Remaining() < 0 || d.Offset() > len(in) {
				t.Fatalf("offset %d beyond input %d", d.Offset(), len(in))
			}
		}
	})
}

// A Reserve that grows the buffer allocates what it needs and no more: a
// 1 MiB READ reply must not hold a quarter more.
func TestReserveGrowsExactly(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		prefix   int
		n        int
		wantCap  int
	}{
		{"1 MiB into a small buffer", 4 << 10, 120, 1 << 20, 120 + 1<<20},
		{"unaligned size is padded", 0, 8, 1001, 8 + 1004},
		{"fits: no growth", 64, 4, 32, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEncoder(make([]byte, 0, tt.capacity))
			for range tt.prefix / 4 {
				e.Uint32(0xffffffff)
			}
			r := e.Reserve(tt.n)
			if len(r) != tt.n {
				t.Fatalf("Reserve(%d) returned %d bytes", tt.n, len(r))
			}
			if cap(e.Buf) != tt.wantCap {
				t.Fatalf("capacity %d after Reserve(%d) on %d bytes, want %d", cap(e.Buf), tt.n, tt.prefix, tt.wantCap)
			}
			if e.Len() != tt.prefix+tt.n+Pad(tt.n) {
				t.Fatalf("length %d", e.Len())
			}
		})
	}
}
