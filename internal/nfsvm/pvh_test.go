package nfsvm

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/testenv/require"
)

// fakeBzImage wraps payload the way a bzImage does: the boot sector and
// sects setup sectors, with the header fields pvhKernel reads (setup_sects
// says header), then the payload.
func fakeBzImage(header byte, sects int, payload []byte) []byte {
	img := make([]byte, (sects+1)*512)
	img[0x1f1] = header
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x206:], 0x20f)
	binary.LittleEndian.PutUint32(img[0x248:], 16) // payload after 16 bytes of code
	binary.LittleEndian.PutUint32(img[0x24c:], uint32(len(payload)+4))
	img = append(img, make([]byte, 16)...)
	img = append(img, payload...)
	img = append(img, 1, 2, 3, 4)           // the uncompressed size ends the payload
	return append(img, make([]byte, 64)...) // and code follows it
}

// elfNotes is a minimal ELF64 file with one PT_NOTE segment holding notes.
func elfNotes(notes []byte) []byte {
	const ehSize, phSize = 64, 56
	b := make([]byte, ehSize+phSize)
	copy(b, "\x7fELF\x02\x01\x01")
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)  // ET_EXEC
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[32:], ehSize) // phoff
	le.PutUint16(b[52:], ehSize)
	le.PutUint16(b[54:], phSize)
	le.PutUint16(b[56:], 1) // phnum
	ph := b[ehSize:]
	le.PutUint32(ph[0:], 4)                     // PT_NOTE
	le.PutUint64(ph[8:], uint64(ehSize+phSize)) // offset
	le.PutUint64(ph[32:], uint64(len(notes)))   // filesz
	le.PutUint64(ph[40:], uint64(len(notes)))   // memsz
	return append(b, notes...)
}

func note(name string, typ uint32, desc []byte) []byte {
	var b bytes.Buffer
	n := append([]byte(name), 0)
	binary.Write(&b, binary.LittleEndian, [3]uint32{uint32(len(n)), uint32(len(desc)), typ})
	b.Write(n)
	b.Write(make([]byte, align4(uint32(len(n)))-uint32(len(n))))
	b.Write(desc)
	b.Write(make([]byte, align4(uint32(len(desc)))-uint32(len(desc))))
	return b.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestPVHKernel(t *testing.T) {
	entry := []byte{0, 0, 0, 1}
	withPVH := elfNotes(append(note("Xen", 6, []byte("linux\x00")), note("Xen", 18, entry)...))
	withoutPVH := elfNotes(note("Xen", 6, []byte("linux\x00")))
	otherOwner := elfNotes(note("GNU", 18, entry))
	tests := []struct {
		name  string
		image []byte
		want  []byte // nil: an error
	}{
		{"gzip with PVH", fakeBzImage(27, 27, gz(withPVH)), withPVH},
		{"zero setup sectors mean 4", fakeBzImage(0, 4, gz(withPVH)), withPVH},
		{"payload where the header says", fakeBzImage(4, 5, gz(withPVH)), nil},
		{"no PVH note", fakeBzImage(27, 27, gz(withoutPVH)), nil},
		{"type 18 of another owner", fakeBzImage(27, 27, gz(otherOwner)), nil},
		{"not a bzImage", withPVH, nil},
		{"unknown compression", fakeBzImage(27, 27, []byte("BZh91AY&SY")), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pvhKernel(context.Background(), tc.image)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("pvhKernel succeeded, want an error")
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("pvhKernel = %d bytes, %v; want the ELF", len(got), err)
			}
		})
	}
}

// TestPVHKernelOfHost unpacks this host's newest kernel, the one Setup
// boots. A host without any kernel skips it (fails it under
// ZEROFS_REQUIRE_KERNEL=1); a kernel that cannot be read or unpacked fails.
func TestPVHKernelOfHost(t *testing.T) {
	v, err := findKernel("/")
	if err != nil {
		require.Missing(t, RequireEnv, "%v", err)
	}
	img, err := os.ReadFile(filepath.Join("/boot", "vmlinuz-"+v))
	if err != nil {
		t.Fatal(err)
	}
	vmlinux, err := pvhKernel(context.Background(), img)
	if err != nil {
		t.Fatalf("pvhKernel of kernel %s: %v", v, err)
	}
	if len(vmlinux) < len(img) {
		t.Fatalf("unpacked kernel of %d bytes is smaller than the bzImage (%d)", len(vmlinux), len(img))
	}
}
