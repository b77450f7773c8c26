package journal

import (
	"crypto/aes"
	"crypto/cipher"
	"testing"

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

// TestAppendRecordsSizesOnce: the sealed records of a round take exactly
// the room reserved for them, so a round's buffer grows once, not once per
// record.
func TestAppendRecordsSizesOnce(t *testing.T) {
	_, cd, err := newSealedFile(fixedCipher{}, Header{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sizes := range [][]int{{0}, {1}, {4096}, {100, 70000, 3}, {1 << 20, 1 << 20, 1 << 20}} {
		var raw []byte
		for i, n := range sizes {
			raw = wal.AppendRecord(raw, uint64(i+1), 1, wal.AppendEntry(nil, wal.KindSet, []byte("key"), make([]byte, n)))
		}
		want := sealedRecordsSize(raw)
		var out []byte
		allocs := testing.AllocsPerRun(5, func() { out = cd.appendRecords(nil, raw) })
		if len(out) != want {
			t.Errorf("records of %v: sealed into %d bytes, %d reserved", sizes, len(out), want)
		}
		if allocs > 1 {
			t.Errorf("records of %v: %v allocations per round, want 1", sizes, allocs)
		}
	}
}
