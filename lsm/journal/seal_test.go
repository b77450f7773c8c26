package journal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// TestSealedRevealsNothing: the keys and values of sealed records are not
// in the journal files; in the clear they are (so the check can see them).
func TestSealedRevealsNothing(t *testing.T) {
	const key, value = "SECRET-FILE-NAME", "SECRET-FILE-CONTENT"
	forFormats(t, func(t *testing.T, f format) {
		dir := t.TempDir()
		d, w := f.begin(t, nil, dir, journal.WriterOptions{Interval: time.Hour, FileBytes: 4 << 10})
		for seq := uint64(1); seq <= 50; seq++ {
			entries := wal.AppendEntry(nil, wal.KindSet, []byte(key), bytes.Repeat([]byte(value), int(seq)))
			w.Append(wal.AppendRecord(nil, seq, 1, entries), seq)
		}
		if err := w.Sync(context.Background(), 50); err != nil {
			t.Fatal(err)
		}
		w.Close()
		d.Close()
		files, _ := filepath.Glob(filepath.Join(dir, "*.journal"))
		if len(files) < 2 {
			t.Fatalf("%d files: want several", len(files))
		}
		var found []string
		for _, name := range files {
			data, _ := os.ReadFile(name)
			for _, needle := range []string{key, value} {
				if bytes.Contains(data, []byte(needle)) {
					found = append(found, filepath.Base(name)+": "+needle)
				}
			}
		}
		if sealed := f.cipher != nil; sealed && len(found) > 0 {
			t.Fatalf("sealed journal holds plaintext: %v", found)
		} else if !sealed && len(found) == 0 {
			t.Fatal("control: the journal in the clear does not show the plaintext: the check cannot see it")
		}
	})
}

// TestSealedNeedsItsKey: a sealed journal read without a cipher fails
// with ErrSealed (scan, listing, reading a set-aside tail); read with
// another export's cipher, nothing of it verifies and nothing is returned.
func TestSealedNeedsItsKey(t *testing.T) {
	dir := t.TempDir()
	sealedFormat.writeJournal(t, dir, 10, 1<<20)
	d, err := journal.OpenDir(nil, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Scan(); !errors.Is(err, journal.ErrSealed) || !strings.Contains(err.Error(), ".journal") {
		t.Fatalf("Scan without a key = %v, want ErrSealed naming the file", err)
	}
	d.Close()

	other := format{"other export", testCipher{"export b"}}
	d, err = journal.OpenDir(nil, dir, other.cipher)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Groups) != 1 || len(c.Groups[0].Records) != 0 || len(c.Torn) != 0 ||
		c.Groups[0].Damage == nil || !errors.Is(c.Groups[0].Damage.Err, journal.ErrTampered) {
		t.Fatalf("scan with another export's key: %+v, torn %+v", c.Groups, c.Torn)
	}
	// Set aside, it is still the original export's and no other's.
	if _, err := d.SetAside(c.Groups[0], true, "test"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if _, err := journal.ListOrphans(nil, dir, nil); !errors.Is(err, journal.ErrSealed) {
		t.Fatalf("ListOrphans without a key = %v, want ErrSealed", err)
	}
	orphans, err := journal.ListOrphans(nil, dir, sealedFormat.cipher)
	if err != nil || len(orphans) != 1 || orphans[0].Records != 10 || orphans[0].Damaged != 0 {
		t.Fatalf("ListOrphans with the key = %+v, %v", orphans, err)
	}
	read := func(c journal.Cipher) (int, error) {
		n := 0
		err := journal.ReadOrphan(nil, dir, orphans[0].Name, c, func(journal.Header, wal.Record) error { n++; return nil }, func(string, int64, int64) {})
		return n, err
	}
	if _, err := read(nil); !errors.Is(err, journal.ErrSealed) {
		t.Fatalf("ReadOrphan without a key = %v, want ErrSealed", err)
	}
	if n, err := read(other.cipher); err != nil || n != 0 {
		t.Fatalf("ReadOrphan with another export's key read %d records, %v", n, err)
	}
	if n, err := read(sealedFormat.cipher); err != nil || n != 10 {
		t.Fatalf("ReadOrphan with the key read %d records, %v", n, err)
	}
}

// TestClearFileWithCipher: a journal written in the clear reads with a
// cipher too, as a group that says it is not sealed (the database decides
// what to do with it).
func TestClearFileWithCipher(t *testing.T) {
	dir := t.TempDir()
	clearFormat.writeJournal(t, dir, 10, 1<<20)
	c := sealedFormat.scan(t, nil, dir)
	if len(c.Groups) != 1 || c.Groups[0].Sealed || c.Groups[0].Damage != nil {
		t.Fatalf("groups %+v", c.Groups)
	}
	checkRecords(t, c.Groups[0], 10)
}

// sealedRecords returns the offsets of the records of a sealed file.
func sealedRecords(t *testing.T, data []byte) []int {
	t.Helper()
	var offs []int
	for off := journal.SealedHeaderSize; off < len(data); off += recordAt(t, data, off) {
		offs = append(offs, off)
	}
	return offs
}

// fixChecksum recomputes the checksum of the sealed record at off, as
// someone who changes a record on purpose would.
func fixChecksum(data []byte, off int) {
	n := int(binary.LittleEndian.Uint32(data[off:]))
	binary.LittleEndian.PutUint32(data[off+4:], crc32c.Checksum(data[off+8:off+8+n]))
}

// TestSealedTampering: a sealed record changed with its checksum fixed,
// taken from another export's journal or another file, or moved, and a
// header changed, are damage: never returned, never taken for a torn tail
// (even at the end of the newest file), and the records before them are.
func TestSealedTampering(t *testing.T) {
	// another writes records 1..10 with the given cipher into a fresh
	// directory and returns its file.
	another := func(t *testing.T, c journal.Cipher) []byte {
		dir := t.TempDir()
		files := format{"", c}.writeJournal(t, dir, 10, 1<<20)
		data, _ := os.ReadFile(files[0])
		return data
	}
	for _, tc := range []struct {
		name string
		// tamper changes the file (records 1..10 at offs).
		tamper func(t *testing.T, data []byte, offs []int)
		// good is how many records stay; header: the header fails.
		good     uint64
		header   bool
		tampered bool // the damage is ErrTampered (else a sequence error)
	}{
		{"byte flipped, checksum fixed", func(t *testing.T, data []byte, offs []int) {
			data[offs[4]+20] ^= 0x01
			fixChecksum(data, offs[4])
		}, 4, false, true},
		{"last record flipped, checksum fixed", func(t *testing.T, data []byte, offs []int) {
			data[len(data)-1] ^= 0x80
			fixChecksum(data, offs[9])
		}, 9, false, true},
		{"sequence number changed, checksum fixed", func(t *testing.T, data []byte, offs []int) {
			binary.LittleEndian.PutUint64(data[offs[4]+8:], 4)
			fixChecksum(data, offs[4])
		}, 4, false, true},
		{"record of another export's journal", func(t *testing.T, data []byte, offs []int) {
			other := another(t, testCipher{"export b"})
			copy(data[offs[4]:offs[5]], other[offs[4]:offs[5]])
		}, 4, false, true},
		{"record of another file of the same export", func(t *testing.T, data []byte, offs []int) {
			other := another(t, sealedFormat.cipher)
			copy(data[offs[4]:offs[5]], other[offs[4]:offs[5]])
		}, 4, false, true},
		{"records swapped", func(t *testing.T, data []byte, offs []int) {
			r4 := bytes.Clone(data[offs[3]:offs[4]])
			r5 := bytes.Clone(data[offs[4]:offs[5]])
			copy(data[offs[3]:], r5)
			copy(data[offs[3]+len(r5):], r4)
		}, 3, false, false},
		{"record repeated", func(t *testing.T, data []byte, offs []int) {
			r4 := bytes.Clone(data[offs[3]:offs[4]])
			copy(data[offs[4]:], r4) // over record 5 (longer), then garbage
		}, 4, false, false},
		{"header's epoch changed, checksum fixed", func(t *testing.T, data []byte, offs []int) {
			data[21] ^= 0x01
			binary.LittleEndian.PutUint32(data[journal.SealedHeaderSize-4:], crc32c.Checksum(data[:journal.SealedHeaderSize-4]))
		}, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := sealedFormat.writeJournal(t, dir, 10, 1<<20)
			data, _ := os.ReadFile(files[0])
			offs := sealedRecords(t, data)
			if len(offs) != 10 {
				t.Fatalf("%d records", len(offs))
			}
			tc.tamper(t, data, offs)
			os.WriteFile(files[0], data, 0o644)
			c := sealedFormat.scan(t, nil, dir)
			if len(c.Torn) != 0 {
				t.Fatalf("taken for a torn tail: %+v", c.Torn)
			}
			if len(c.Groups) != 1 || c.Groups[0].Damage == nil {
				t.Fatalf("no damage reported: %+v", c.Groups)
			}
			g := c.Groups[0]
			if tc.tampered != errors.Is(g.Damage.Err, journal.ErrTampered) {
				t.Fatalf("damage %v: ErrTampered %v, want %v", g.Damage.Err, !tc.tampered, tc.tampered)
			}
			want := int64(offs[tc.good%10])
			if tc.header {
				want = 0
			}
			if g.Damage.Offset != want {
				t.Fatalf("damage at %d, want %d: %v", g.Damage.Offset, want, g.Damage.Err)
			}
			checkRecords(t, g, tc.good)
		})
	}
}
