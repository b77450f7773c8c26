package journal_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// tornFile is a journal file in the clear holding one record (sequence
// number 1), then a record cut short whose body of n bytes is full of
// lengths of about half of it (each offset of it could frame a record
// that long: the worst case for the search for a record past the damage),
// with a whole record of sequence number 2 at its middle when validAfter.
func tornFile(n int, validAfter bool) []byte {
	entry := func(key string) []byte { return wal.AppendEntry(nil, wal.KindSet, []byte(key), []byte("v")) }
	data := journal.AppendHeader(nil, testHeader)
	data = wal.AppendRecord(data, 1, 1, entry("a"))
	body := make([]byte, n)
	for i := 0; i+4 <= len(body); i += 4 {
		binary.LittleEndian.PutUint32(body[i:], uint32(n/2))
	}
	if validAfter {
		copy(body[n/2:], wal.AppendRecord(nil, 2, 1, entry("b")))
	}
	data = binary.LittleEndian.AppendUint32(data, uint32(n+100)) // runs past the end: torn
	data = binary.LittleEndian.AppendUint32(data, 12345)
	return append(append(data, body...), 1) // no zeros at the end
}

func scanOne(tb testing.TB, data []byte) *journal.Contents {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000001.journal"), data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return clearFormat.scan(tb, nil, dir)
}

// TestScanPastDamage: a record cut short at the end of the newest file is
// a torn tail, unless a whole record newer than the last one read starts
// anywhere after it: then the bytes before that record are damage.
func TestScanPastDamage(t *testing.T) {
	for _, validAfter := range []bool{false, true} {
		c := scanOne(t, tornFile(64<<10, validAfter))
		if len(c.Groups) != 1 || c.Groups[0].LastSeq() != 1 {
			t.Fatalf("valid record after: %v: groups %+v", validAfter, c.Groups)
		}
		damaged := c.Groups[0].Damage != nil
		if torn := len(c.Torn) == 1; damaged != validAfter || torn == validAfter {
			t.Fatalf("valid record after: %v: damage %+v, torn %+v", validAfter, c.Groups[0].Damage, c.Torn)
		}
	}
}

// BenchmarkScanTornTail scans a file whose last record is torn, n bytes
// of it full of plausible lengths. Reading the bytes each offset claims
// took time quadratic in n (3.5 s for 1 MiB, minutes for tens of MiB);
// each offset's checksum now costs the same whatever its length.
func BenchmarkScanTornTail(b *testing.B) {
	for _, n := range []int{1 << 20, 16 << 20} {
		b.Run(byteSize(n), func(b *testing.B) {
			data := tornFile(n, false)
			b.SetBytes(int64(n))
			for b.Loop() {
				if c := scanOne(b, data); len(c.Torn) != 1 {
					b.Fatalf("torn %+v", c.Torn)
				}
			}
		})
	}
}

func byteSize(n int) string {
	return fmt.Sprintf("%dMiB", n>>20)
}
