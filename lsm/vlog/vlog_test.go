package vlog

import (
	"bytes"
	"errors"
	"maps"
	"testing"
)

func valueID(b byte) [16]byte {
	var id [16]byte
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

func TestPointerRoundTrip(t *testing.T) {
	for _, p := range []Pointer{
		{Obj: WAL(1), Off: 21, Len: 4096, CRC: 0xdeadbeef},
		{Obj: WAL(1 << 40), Off: 1 << 33, Len: 1, CRC: 1},
		{Obj: Value(valueID(7)), Off: HeaderSize, Len: 65536, CRC: 0},
	} {
		b := AppendPointer(nil, p)
		if len(b) > MaxPointerSize {
			t.Fatalf("%+v encodes to %d bytes, more than MaxPointerSize", p, len(b))
		}
		got, err := DecodePointer(b)
		if err != nil || got != p {
			t.Fatalf("DecodePointer(%x) = %+v, %v; want %+v", b, got, err, p)
		}
		for i := 0; i < len(b); i++ {
			if _, err := DecodePointer(b[:i]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated to %d bytes: %v, want ErrCorrupt", i, err)
			}
		}
		if _, err := DecodePointer(append(b, 0)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("with a trailing byte: %v, want ErrCorrupt", err)
		}
	}
	if _, err := DecodePointer([]byte{9, 1, 1, 1, 0, 0, 0, 0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown tag: %v, want ErrCorrupt", err)
	}
}

func TestPointerCheck(t *testing.T) {
	v := []byte("some value")
	p := Pointer{Obj: WAL(3), Off: 100, Len: uint64(len(v)), CRC: Checksum(v)}
	if err := p.Check(v); err != nil {
		t.Fatal(err)
	}
	if err := p.Check([]byte("some valuE")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("changed byte: %v", err)
	}
	if err := p.Check(v[:5]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short value: %v", err)
	}
}

func TestRefsRoundTrip(t *testing.T) {
	r := Refs{}
	r.Add(WAL(9), 4096)
	r.Add(WAL(2), 10)
	r.Add(WAL(9), 4096)
	r.Add(Value(valueID(1)), 7)
	b := EncodeRefs(r)
	got, err := DecodeRefs(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[WAL(9)] != (Count{Values: 2, Bytes: 8192}) || got[Value(valueID(1))] != (Count{1, 7}) {
		t.Fatalf("decoded %v", got)
	}
	if r.Bytes() != 8192+10+7 {
		t.Fatalf("Bytes = %d", r.Bytes())
	}
	if !bytes.Equal(EncodeRefs(got), b) {
		t.Fatal("encoding is not canonical")
	}
	if EncodeRefs(Refs{}) != nil {
		t.Fatal("empty refs encode to bytes")
	}
	if got, err := DecodeRefs(nil); err != nil || len(got) != 0 {
		t.Fatalf("DecodeRefs(nil) = %v, %v", got, err)
	}
	for i := 1; i < len(b); i++ {
		if _, err := DecodeRefs(b[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", i, err)
		}
	}
}

func TestBuilderAndHeader(t *testing.T) {
	id := valueID(40)
	b := NewBuilder(id, 0)
	if !b.Empty() || b.Object() != Value(id) {
		t.Fatal("new builder")
	}
	p1 := b.Add([]byte("first"))
	p2 := b.Add(bytes.Repeat([]byte{1}, 5000))
	obj := b.Bytes()
	if got, err := DecodeHeader(obj); err != nil || got != id {
		t.Fatalf("DecodeHeader = %x, %v", got, err)
	}
	for _, p := range []Pointer{p1, p2} {
		if err := p.Check(obj[p.Off : p.Off+p.Len]); err != nil {
			t.Fatal(err)
		}
	}
	bad := bytes.Clone(obj)
	bad[7] ^= 1
	if _, err := DecodeHeader(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged header: %v", err)
	}
	if got, ok := ParseHexID(Value(id).HexID()); !ok || got != id {
		t.Fatal("hex id does not round-trip")
	}
}

func FuzzDecodePointer(f *testing.F) {
	f.Add(AppendPointer(nil, Pointer{Obj: WAL(5), Off: 30, Len: 4096, CRC: 9}))
	f.Add(AppendPointer(nil, Pointer{Obj: Value(valueID(3)), Off: 25, Len: 1, CRC: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePointer(b)
		if err != nil {
			return
		}
		if q, err := DecodePointer(AppendPointer(nil, p)); err != nil || q != p {
			t.Fatalf("%x decodes to %+v, which does not round-trip: %+v, %v", b, p, q, err)
		}
	})
}

func FuzzDecodeRefs(f *testing.F) {
	r := Refs{}
	r.Add(WAL(5), 4096)
	r.Add(Value(valueID(3)), 100)
	f.Add(EncodeRefs(r))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRefs(b)
		if err != nil {
			return
		}
		if q, err := DecodeRefs(EncodeRefs(r)); err != nil || !maps.Equal(q, r) {
			t.Fatalf("%x decodes to %v, which does not round-trip: %v, %v", b, r, q, err)
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(AppendHeader(nil, valueID(1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := DecodeHeader(b)
		if err == nil && !bytes.Equal(AppendHeader(nil, id), b[:HeaderSize]) {
			t.Fatal("header does not round-trip")
		}
	})
}
