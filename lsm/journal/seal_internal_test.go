package journal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

type fixedCipher struct{}

func (fixedCipher) JournalKey(salt []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(make([]byte, 32))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// TestSealInPlace: records laid out by Append and sealed where they lie
// read back as written, exactly fill their room, and sealing them
// allocates nothing.
func TestSealInPlace(t *testing.T) {
	_, cd, err := newSealedFile(fixedCipher{}, Header{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sizes := range [][]int{{0}, {1}, {4096}, {100, 70000, 3}, {1 << 20, 1 << 20, 1 << 20}} {
		var recs [][]byte
		var chunk []byte
		for i, n := range sizes {
			rec := wal.AppendRecord(nil, uint64(i+1), 1, wal.AppendEntry(nil, wal.KindSet, []byte("key"), make([]byte, n)))
			recs = append(recs, rec)
			chunk = appendLaidOut(chunk, rec)
		}
		laidOut := slices.Clone(chunk)
		allocs := testing.AllocsPerRun(1, func() {
			copy(chunk, laidOut)
			cd.sealInPlace(chunk)
		})
		if allocs != 0 {
			t.Errorf("records of %v: sealing in place allocated %v times", sizes, allocs)
		}
		if want := referenceSealed(t, cd, recs); !bytes.Equal(chunk, want) {
			t.Errorf("records of %v: sealed in place, they differ from the file format", sizes)
		}
		rest := chunk
		for i, rec := range recs {
			r, size, _, err := cd.decode(rest)
			if err != nil {
				t.Fatalf("records of %v: record %d: %v", sizes, i, err)
			}
			want, _, err := wal.DecodeRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Entries, want.Entries) || r.Count != want.Count {
				t.Fatalf("records of %v: record %d reads back other entries than were sealed", sizes, i)
			}
			if size != laidOutSize(len(rec), true) || r.FirstSeq != uint64(i+1) {
				t.Fatalf("records of %v: record %d is %d bytes with sequence number %d; want %d and %d",
					sizes, i, size, r.FirstSeq, laidOutSize(len(rec), true), i+1)
			}
			rest = rest[size:]
		}
		if len(rest) != 0 {
			t.Errorf("records of %v: %d bytes after the last record", sizes, len(rest))
		}
	}
}

// referenceSealed encodes recs as a sealed file stores its records, drawn
// from the format in the package comment: length (sequence number,
// ciphertext and tag), crc32c of those, sequence number, the record sealed
// with nonce 'R' || 3 x 0 || seq and associated data header || 'R' || seq.
func referenceSealed(t *testing.T, cd *codec, recs [][]byte) []byte {
	t.Helper()
	var out []byte
	for _, rec := range recs {
		seq, k := binary.Uvarint(rec[wal.RecordHeaderSize:])
		if k <= 0 {
			t.Fatal("record without a sequence number")
		}
		nonce := make([]byte, 12)
		nonce[0] = 'R'
		binary.LittleEndian.PutUint64(nonce[4:], seq)
		ad := binary.LittleEndian.AppendUint64(append(slices.Clone(cd.ad[:sealedHeaderAD]), 'R'), seq)
		body := binary.LittleEndian.AppendUint64(nil, seq)
		body = cd.aead.Seal(body, nonce, rec, ad)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(body)))
		out = binary.LittleEndian.AppendUint32(out, crc32c.Checksum(body))
		out = append(out, body...)
	}
	return out
}

// TestFramedAtSkipsOnlyTornOffsets: the scans past damage skip an offset
// whose framing does not check (framedAt) without decoding it; that must
// be an offset decode calls torn, or a record (or a sealed record failing
// authentication) would be missed. Every offset of files of whole,
// damaged and garbage records, in the clear and sealed.
func TestFramedAtSkipsOnlyTornOffsets(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		cd := plainCodec
		if sealed {
			var err error
			if _, cd, err = newSealedFile(fixedCipher{}, Header{}); err != nil {
				t.Fatal(err)
			}
		}
		for seed := range uint64(40) {
			r := rand.New(rand.NewPCG(seed, 3))
			var data []byte
			for seq := uint64(1); len(data) < 8<<10; seq++ {
				rec := wal.AppendRecord(nil, seq, 1, wal.AppendEntry(nil, wal.KindSet, []byte("k"), make([]byte, r.IntN(300))))
				if sealed {
					rec = appendLaidOut(nil, rec)
					cd.sealInPlace(rec)
				}
				switch r.IntN(5) {
				case 0: // a flipped bit
					rec[r.IntN(len(rec))] ^= 1 << r.IntN(8)
				case 1: // garbage
					for i := range rec {
						rec[i] = byte(r.Uint32())
					}
				case 2: // a flipped bit under a checksum that matches
					rec[8+r.IntN(len(rec)-8)] ^= 1 << r.IntN(8)
					binary.LittleEndian.PutUint32(rec[4:], crc32c.Checksum(rec[8:]))
				}
				data = append(data, rec...)
			}
			spans := crc32c.NewSpans(data)
			framed := 0
			for i := range len(data) - wal.RecordHeaderSize {
				if framedAt(data, spans, i) {
					framed++
					continue
				}
				if _, _, torn, err := cd.decode(data[i:]); err == nil || !torn {
					t.Fatalf("sealed %v, seed %d: offset %d skipped, but decode gives err %v, torn %v", sealed, seed, i, err, torn)
				}
			}
			if framed == 0 {
				t.Fatalf("sealed %v, seed %d: no offset framed", sealed, seed)
			}
		}
	}
}
