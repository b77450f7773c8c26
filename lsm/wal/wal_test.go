package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
)

type entry struct {
	kind       Kind
	key, value string
}

func encode(h Header, batches [][]entry, firstSeq uint64) []byte {
	b := AppendHeader(nil, h)
	seq := firstSeq
	for _, batch := range batches {
		var es []byte
		for _, e := range batch {
			es = AppendEntry(es, e.kind, []byte(e.key), []byte(e.value))
		}
		b = AppendRecord(b, seq, len(batch), es)
		seq += uint64(len(batch))
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		batches [][]entry
	}{
		{"empty object", nil},
		{"one put", [][]entry{{{KindSet, "k", "v"}}}},
		{"mixed", [][]entry{
			{{KindSet, "a", "1"}, {KindDelete, "b", ""}},
			{{KindSet, "", ""}, {KindSet, "c", string(bytes.Repeat([]byte{7}, 5000))}},
		}},
		{"compressed", [][]entry{{{KindSetCompressed, "k", "\x01stored form"}, {KindDelete, "k2", ""}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := Header{WriterEpoch: 4, WALID: 17}
			data := encode(h, tc.batches, 100)
			gh, recs, err := Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if gh != h {
				t.Fatalf("header %+v, want %+v", gh, h)
			}
			if len(recs) != len(tc.batches) {
				t.Fatalf("%d records, want %d", len(recs), len(tc.batches))
			}
			seq := uint64(100)
			for i, r := range recs {
				if r.FirstSeq != seq {
					t.Fatalf("record %d first seq %d, want %d", i, r.FirstSeq, seq)
				}
				var got []entry
				if err := r.ForEach(func(k Kind, key, value []byte) error {
					got = append(got, entry{k, string(key), string(value)})
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.batches[i]) {
					t.Fatalf("record %d = %v, want %v", i, got, tc.batches[i])
				}
				seq += uint64(len(tc.batches[i]))
			}
		})
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	good := encode(Header{1, 2}, [][]entry{{{KindSet, "key", "value"}}, {{KindDelete, "x", ""}}}, 1)
	for i := 0; i < len(good); i++ {
		bad := append([]byte(nil), good...)
		bad[i] ^= 0x10
		if _, _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipping byte %d: Decode = %v, want ErrCorrupt", i, err)
		}
	}
	for n := 0; n < len(good); n++ {
		if n == HeaderSize || n == len(good) {
			continue // record boundaries are valid objects
		}
		_, recs, err := Decode(good[:n])
		if err == nil && n != HeaderSize {
			// A cut exactly at a record boundary is a valid, shorter object.
			if len(recs) == 1 {
				continue
			}
			t.Fatalf("truncating to %d bytes decoded without error", n)
		}
	}
}

// TestFormatVersions: an object of version 1 (written before compressed
// values, built here byte by byte) still decodes; an unknown version does
// not.
func TestFormatVersions(t *testing.T) {
	v1 := []byte{1}
	v1 = binary.LittleEndian.AppendUint64(v1, 3) // writer epoch
	v1 = binary.LittleEndian.AppendUint64(v1, 8) // WAL id
	v1 = binary.LittleEndian.AppendUint32(v1, crc32c.Checksum(v1))
	payload := []byte{5, 1, byte(KindSet), 1, 'k', 2, 'v', '1'} // firstSeq 5, one entry
	v1 = binary.LittleEndian.AppendUint32(v1, uint32(len(payload)))
	v1 = binary.LittleEndian.AppendUint32(v1, crc32c.Checksum(payload))
	v1 = append(v1, payload...)
	h, recs, err := Decode(v1)
	if err != nil || h != (Header{WriterEpoch: 3, WALID: 8}) || len(recs) != 1 || recs[0].FirstSeq != 5 {
		t.Fatalf("version 1 object: %+v, %d records, %v", h, len(recs), err)
	}
	if err := recs[0].ForEach(func(kind Kind, key, value []byte) error {
		if kind != KindSet || string(key) != "k" || string(value) != "v1" {
			t.Fatalf("entry %v %q %q", kind, key, value)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := AppendHeader(nil, Header{WriterEpoch: 3, WALID: 8}); got[0] != FormatVersion || FormatVersion != 2 {
		t.Fatalf("writes version %d", got[0])
	}
	v3 := bytes.Clone(v1[:HeaderSize])
	v3[0] = 3
	binary.LittleEndian.PutUint32(v3[HeaderSize-4:], crc32c.Checksum(v3[:HeaderSize-4]))
	if _, _, err := Decode(v3); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("version 3: %v, want ErrCorrupt naming the version", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(Header{1, 2}, [][]entry{{{KindSet, "key", "value"}, {KindDelete, "x", ""}}}, 9))
	f.Add(encode(Header{1, 2}, nil, 0))
	f.Add(encode(Header{1, 2}, [][]entry{{{KindSetCompressed, "key", "\x02zstd"}}}, 9))
	f.Add([]byte("not a wal object at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, recs, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		// Re-encoding what was decoded must reproduce the input exactly.
		out := AppendHeader(nil, h)
		for _, r := range recs {
			out = AppendRecord(out, r.FirstSeq, r.Count, r.Entries)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("re-encode differs from input")
		}
	})
}

// TestValueOffsets checks that ForEachAt's offsets, added to a decoded
// record's EntriesOff, locate each value in the object itself.
func TestValueOffsets(t *testing.T) {
	batches := [][]entry{
		{{KindSet, "a", "first"}, {KindDelete, "b", ""}, {KindSet, "c", string(bytes.Repeat([]byte{7}, 300))}},
		{{KindSet, "", ""}, {KindSet, "long-key-" + string(bytes.Repeat([]byte{'k'}, 200)), "x"}},
		{{KindSetCompressed, "z", "\x01compressed"}},
	}
	obj := encode(Header{WriterEpoch: 1, WALID: 2}, batches, 10)
	_, recs, err := Decode(obj)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, r := range recs {
		j := 0
		err := r.ForEachAt(func(kind Kind, key, value []byte, off int) error {
			want := batches[i][j]
			j++
			n++
			if kind != KindDelete && string(obj[r.EntriesOff+off:r.EntriesOff+off+len(value)]) != want.value {
				t.Errorf("record %d entry %d: offset %d does not hold its value", i, j, r.EntriesOff+off)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != 6 {
		t.Fatalf("visited %d entries, want 6", n)
	}
}

// TestEntrySize: EntrySize is the size AppendEntry encodes, at every
// varint length boundary of keys and values.
func TestEntrySize(t *testing.T) {
	for _, kind := range []Kind{KindSet, KindDelete, KindSetCompressed} {
		for _, kl := range []int{0, 1, 127, 128, 16383, 16384} {
			for _, vl := range []int{0, 1, 127, 128, 4096, 16384, 1 << 21} {
				key, value := make([]byte, kl), make([]byte, vl)
				if got, want := EntrySize(kind, key, value), len(AppendEntry(nil, kind, key, value)); got != want {
					t.Errorf("kind %d, key %d bytes, value %d: EntrySize %d, encoded %d", kind, kl, vl, got, want)
				}
			}
		}
	}
}
