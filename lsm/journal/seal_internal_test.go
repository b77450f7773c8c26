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
	records := func(sizes ...int) []byte {
		var raw []byte
		for i, n := range sizes {
			raw = wal.AppendRecord(raw, uint64(i+1), 1, wal.AppendEntry(nil, wal.KindSet, []byte("key"), make([]byte, n)))
		}
		return raw
	}
	// What sealing one tiny record allocates (one buffer; the race
	// detector adds its own) is what every round may allocate.
	tiny := records(1)
	baseline := testing.AllocsPerRun(5, func() { _ = cd.appendRecords(nil, tiny) })
	for _, sizes := range [][]int{{0}, {1}, {4096}, {100, 70000, 3}, {1 << 20, 1 << 20, 1 << 20}} {
		raw := records(sizes...)
		want := sealedRecordsSize(raw)
		var out []byte
		allocs := testing.AllocsPerRun(5, func() { out = cd.appendRecords(nil, raw) })
		if len(out) != want {
			t.Errorf("records of %v: sealed into %d bytes, %d reserved", sizes, len(out), want)
		}
		if allocs > baseline {
			t.Errorf("records of %v: %v allocations per round, want %v (as for one tiny record)", sizes, allocs, baseline)
		}
	}
}
