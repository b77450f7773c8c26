package manifest

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
)

func sample() *Manifest {
	return &Manifest{
		ID: 7, WriterEpoch: 3, WALIDFlushed: 42, LastSeq: 1000, CreatedUnixNano: 1234567,
		L0: []Table{{ID: "01A", Size: 100, Smallest: []byte("a"), Largest: []byte("m"), MinSeq: 5, MaxSeq: 9, NumEntries: 4}},
		Runs: []Run{{ID: 2, Tables: []Table{
			{ID: "01B", Size: 10, Smallest: []byte("a"), Largest: []byte("c"), MinSeq: 1, MaxSeq: 2, NumEntries: 2},
			{ID: "01C", Size: 11, Smallest: []byte("d"), Largest: []byte("z"), MinSeq: 1, MaxSeq: 3, NumEntries: 3},
		}}},
		Checkpoints:  []Checkpoint{{Name: "snap", ManifestID: 6, CreatedUnixNano: 99}},
		DBID:         [16]byte{0xde, 0xad, 15: 0xef},
		JournalOwner: "host:/var/cache/zerofs/journal/a",
	}
}

// v1Sample is sample() without DBID and JournalOwner, as the version 1
// encoder wrote it.
const v1Sample = "0107032ae8078eda96010103303141640161016d050904010202033031420a01610163010202033031430b0164017a0103030104736e617006c6011cf0ffed"

// TestDecodeVersion1: manifests written before version 2 still decode.
func TestDecodeVersion1(t *testing.T) {
	data, err := hex.DecodeString(v1Sample)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	want := sample()
	want.DBID, want.JournalOwner = [16]byte{}, ""
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Fatalf("version 1 manifest decoded as %+v, want %+v", got, want)
	}
	if Encode(got)[0] != FormatVersion {
		t.Fatal("Encode does not write the current version")
	}
}

// v2Sample is sample() as the version 2 encoder wrote it.
const v2Sample = "0207032ae8078eda96010103303141640161016d050904010202033031420a01610163010202033031430b0164017a0103030104736e617006c601dead00000000000000000000000000ef20686f73743a2f7661722f63616368652f7a65726f66732f6a6f75726e616c2f6161ff18bb"

// TestDecodeVersion2: manifests written before version 3 still decode.
func TestDecodeVersion2(t *testing.T) {
	data, err := hex.DecodeString(v2Sample)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(sample())) {
		t.Fatalf("version 2 manifest decoded as %+v, want %+v", got, sample())
	}
	if enc := Encode(got); enc[0] != FormatVersion || string(enc[1:len(enc)-4]) != string(data[1:len(data)-4]) {
		t.Fatal("the current version is not version 2's body under a new version byte")
	}
}

// v3Sample is sample() as the version 3 encoder wrote it.
const v3Sample = "0307032ae8078eda96010103303141640161016d050904010202033031420a01610163010202033031430b0164017a0103030104736e617006c601dead00000000000000000000000000ef20686f73743a2f7661722f63616368652f7a65726f66732f6a6f75726e616c2f61ac9e262d"

// TestDecodeVersion3: manifests written before version 4 (compressed
// values) still decode, and are written again as version 4 with the same
// body.
func TestDecodeVersion3(t *testing.T) {
	data, err := hex.DecodeString(v3Sample)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(sample())) {
		t.Fatalf("version 3 manifest decoded as %+v, want %+v", got, sample())
	}
	if enc := Encode(got); enc[0] != 4 || string(enc[1:len(enc)-4]) != string(data[1:len(data)-4]) {
		t.Fatal("version 4 is not version 3's body under a new version byte")
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Manifest
	}{
		{"empty", &Manifest{}},
		{"full", sample()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(Encode(tc.m))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(tc.m)) {
				t.Fatalf("round trip mismatch:\n got %+v\nwant %+v", got, tc.m)
			}
		})
	}
}

// normalize maps nil and empty slices to the same thing for comparison.
func normalize(m *Manifest) *Manifest {
	c := m.Clone()
	if len(c.L0) == 0 {
		c.L0 = nil
	}
	if len(c.Runs) == 0 {
		c.Runs = nil
	}
	if len(c.Checkpoints) == 0 {
		c.Checkpoints = nil
	}
	fix := func(ts []Table) {
		for i := range ts {
			if len(ts[i].Smallest) == 0 {
				ts[i].Smallest = nil
			}
			if len(ts[i].Largest) == 0 {
				ts[i].Largest = nil
			}
		}
	}
	fix(c.L0)
	for _, r := range c.Runs {
		fix(r.Tables)
	}
	return c
}

func TestDecodeRejectsDamage(t *testing.T) {
	good := Encode(sample())
	cases := map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-3],
		"bitflip":   flip(good, 10),
		"version":   withVersion(good, 9),
		// A newer version than this program knows, checksum intact.
		"version 5": resum(withVersion(good, 5)),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(data); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode = %v, want ErrCorrupt", err)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}

// resum recomputes the checksum at the end of a manifest.
func resum(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32c.Checksum(b[:len(b)-4]))
	return b
}

func withVersion(b []byte, v byte) []byte {
	c := append([]byte(nil), b...)
	c[0] = v
	return c
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(sample()))
	f.Add(Encode(&Manifest{}))
	f.Add([]byte{1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Decode(Encode(m))
		if err != nil {
			t.Fatalf("re-decode of a decoded manifest failed: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(m)) {
			t.Fatalf("re-encode changed the manifest")
		}
	})
}
