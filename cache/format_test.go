package cache

import (
	"bytes"
	"errors"
	"testing"
)

func encodeTestPage(id pageID, pageSize int64, payload []byte) []byte {
	return append(appendPageHeader(nil, id, pageSize, payload), payload...)
}

func TestPageRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		id      pageID
		payload []byte
	}{
		{"empty payload", pageID{"ns", "key", 0}, nil},
		{"one byte", pageID{"", "k", 7}, []byte{42}},
		{"one chunk", pageID{"export", "compacted/01J.sst", 3}, patterned(chunkSize, 1)},
		{"chunk and a bit", pageID{"export", "wal/0001.sst", 1 << 40}, patterned(chunkSize+1, 2)},
		{"full page", pageID{"x", "y", 1}, patterned(testPageSize, 3)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := encodeTestPage(c.id, testPageSize, c.payload)
			h, payload, err := decodePage(b)
			if err != nil {
				t.Fatalf("decodePage: %v", err)
			}
			if h.namespace != c.id.namespace || h.key != c.id.key || int64(h.page) != c.id.page ||
				h.pageSize != testPageSize || int(h.payloadLen) != len(c.payload) {
				t.Errorf("header %+v does not match %+v", h, c.id)
			}
			if !bytes.Equal(payload, c.payload) {
				t.Error("payload differs")
			}
			if n := pageHeaderLen(len(c.id.namespace), len(c.id.key), len(c.payload)); n != len(b)-len(c.payload) {
				t.Errorf("pageHeaderLen = %d, encoded header is %d bytes", n, len(b)-len(c.payload))
			}
		})
	}
}

func TestPageDecodeDetectsEveryByteFlip(t *testing.T) {
	b := encodeTestPage(pageID{"ns", "key", 2}, testPageSize, patterned(chunkSize+100, 4))
	for i := range b {
		b[i] ^= 0x01
		if _, _, err := decodePage(b); !errors.Is(err, errCorruptPage) {
			t.Fatalf("flipping byte %d: err %v, want errCorruptPage", i, err)
		}
		b[i] ^= 0x01
	}
	for n := range len(b) {
		if _, _, err := decodePage(b[:n]); !errors.Is(err, errCorruptPage) {
			t.Fatalf("truncated to %d bytes: err %v, want errCorruptPage", n, err)
		}
	}
	if _, _, err := decodePage(append(b, 0)); !errors.Is(err, errCorruptPage) {
		t.Fatalf("one byte appended: err %v, want errCorruptPage", err)
	}
}

// FuzzDecodePage checks that the page decoder never panics on any input and
// that whatever it accepts encodes back to the same bytes.
func FuzzDecodePage(f *testing.F) {
	f.Add(encodeTestPage(pageID{"ns", "key", 0}, testPageSize, nil))
	f.Add(encodeTestPage(pageID{"ns", "key", 1}, testPageSize, patterned(100, 1)))
	f.Add(encodeTestPage(pageID{"a", "compacted/x.sst", 9}, testPageSize, patterned(testPageSize, 2)))
	f.Add([]byte("ZCPG"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := decodePage(b)
		if err != nil {
			if !errors.Is(err, errCorruptPage) {
				t.Fatalf("error %v is not errCorruptPage", err)
			}
			return
		}
		again := encodeTestPage(pageID{h.namespace, h.key, int64(h.page)}, int64(h.pageSize), payload)
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted input does not re-encode to itself")
		}
	})
}

// FuzzDecodePageHeader checks the header decoder alone (the path used when
// reading a range of a page): no panic, and an accepted header's length is
// consistent with its fields.
func FuzzDecodePageHeader(f *testing.F) {
	f.Add(appendPageHeader(nil, pageID{"ns", "key", 0}, testPageSize, patterned(5000, 3)))
	f.Add(appendPageHeader(nil, pageID{"", "", 0}, chunkSize, nil))
	f.Add(make([]byte, fixedHeaderLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := decodePageHeader(b)
		if err != nil {
			if !errors.Is(err, errCorruptPage) {
				t.Fatalf("error %v is not errCorruptPage", err)
			}
			return
		}
		if n > len(b) || n != pageHeaderLen(len(h.namespace), len(h.key), int(h.payloadLen)) {
			t.Fatalf("header length %d inconsistent (input %d bytes)", n, len(b))
		}
		if len(h.chunkCRCs) != numChunks(int(h.payloadLen)) || h.payloadLen > h.pageSize {
			t.Fatalf("accepted header %+v is inconsistent", h)
		}
	})
}
