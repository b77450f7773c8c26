package nfsvm

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
)

// pvhKernel unpacks the ELF kernel (vmlinux) inside a bzImage and returns
// it if it has a PVH entry point, which QEMU boots directly.
//
// The bzImage's setup header (Documentation/arch/x86/boot.rst) gives the
// number of 512-byte setup sectors at 0x1f1 (0 means 4), and, from boot
// protocol 2.08, the compressed payload's offset (from the end of the setup
// sectors) at 0x248 and its length at 0x24c, both 32-bit little-endian.
func pvhKernel(ctx context.Context, bzImage []byte) ([]byte, error) {
	if len(bzImage) < 0x250 || string(bzImage[0x202:0x206]) != "HdrS" {
		return nil, errors.New("not a bzImage")
	}
	if version := binary.LittleEndian.Uint16(bzImage[0x206:]); version < 0x208 {
		return nil, fmt.Errorf("boot protocol %#x has no payload fields", version)
	}
	setupSects := int(bzImage[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	start := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(bzImage[0x248:]))
	end := start + int(binary.LittleEndian.Uint32(bzImage[0x24c:]))
	if start >= end || end > len(bzImage) {
		return nil, errors.New("payload outside the bzImage")
	}
	// The payload ends with the 4-byte uncompressed size, which is not part
	// of the compressed stream.
	if end-start < 8 {
		return nil, errors.New("payload too short")
	}
	vmlinux, err := decompress(ctx, bzImage[start:end-4])
	if err != nil {
		return nil, err
	}
	if !hasPVHNote(vmlinux) {
		return nil, errors.New("the kernel has no PVH entry point")
	}
	return vmlinux, nil
}

// decompress unpacks a kernel payload: gzip here, xz and zstd with the host's
// tools.
func decompress(ctx context.Context, payload []byte) ([]byte, error) {
	var tool []string
	switch {
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		zr.Multistream(false)
		return io.ReadAll(zr)
	case bytes.HasPrefix(payload, []byte("\xfd7zXZ\x00")):
		tool = []string{"xz", "-dc"}
	case bytes.HasPrefix(payload, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		tool = []string{"zstd", "-dcq"}
	default:
		return nil, errors.New("unknown kernel compression")
	}
	cmd := exec.CommandContext(ctx, tool[0], tool[1:]...)
	cmd.Stdin = bytes.NewReader(payload)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tool[0], err)
	}
	return out, nil
}

// hasPVHNote reports whether an ELF kernel has the Xen note
// XEN_ELFNOTE_PHYS32_ENTRY (type 18): its 32-bit PVH entry point.
func hasPVHNote(vmlinux []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return false
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		data, err := io.ReadAll(p.Open())
		if err != nil {
			return false
		}
		for len(data) >= 12 {
			nameSize := binary.LittleEndian.Uint32(data[0:])
			descSize := binary.LittleEndian.Uint32(data[4:])
			typ := binary.LittleEndian.Uint32(data[8:])
			nameEnd := 12 + align4(nameSize)
			next := nameEnd + align4(descSize)
			if uint64(next) > uint64(len(data)) {
				break
			}
			if typ == 18 && bytes.Equal(bytes.TrimRight(data[12:12+nameSize], "\x00"), []byte("Xen")) {
				return true
			}
			data = data[next:]
		}
	}
	return false
}

func align4(n uint32) uint32 { return (n + 3) &^ 3 }
