package nfsvm

import (
	"fmt"
	"io"
	"io/fs"
)

// cpioWriter writes the "newc" cpio format the kernel unpacks as an
// initramfs: per entry a header of the magic "070701" and 13 fields of 8
// hex digits (inode, mode, uid, gid, nlink, mtime, size, dev major/minor,
// rdev major/minor, name size, check), the NUL-terminated name, the data,
// each padded to 4 bytes; the archive ends with an entry "TRAILER!!!".
type cpioWriter struct {
	w   io.Writer
	ino uint32
	err error
}

// Unix mode bits of the entry kinds the image holds.
const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

func (c *cpioWriter) entry(name string, mode uint32, rdevMajor, rdevMinor uint32, data []byte) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := uint32(1)
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	buf := make([]byte, 0, len(hdr)+len(name)+8+len(data))
	buf = append(buf, hdr...)
	buf = append(buf, name...)
	buf = append(buf, 0)
	buf = pad4(buf)
	buf = append(buf, data...)
	buf = pad4(buf)
	_, c.err = c.w.Write(buf)
}

// pad4 pads b with NULs to a multiple of 4 bytes; every entry starts aligned,
// so aligning the running length of one entry aligns the archive offset too.
func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Dir adds a directory.
func (c *cpioWriter) Dir(name string, perm fs.FileMode) {
	c.entry(name, modeDir|uint32(perm.Perm()), 0, 0, nil)
}

// File adds a regular file.
func (c *cpioWriter) File(name string, perm fs.FileMode, data []byte) {
	c.entry(name, modeFile|uint32(perm.Perm()), 0, 0, data)
}

// Symlink adds a symbolic link to target.
func (c *cpioWriter) Symlink(name, target string) {
	c.entry(name, modeSymlink|0o777, 0, 0, []byte(target))
}

// CharDev adds a character device node.
func (c *cpioWriter) CharDev(name string, perm fs.FileMode, major, minor uint32) {
	c.entry(name, modeCharDev|uint32(perm.Perm()), major, minor, nil)
}

// Close writes the trailer and reports the first error of any write.
func (c *cpioWriter) Close() error {
	c.entry("TRAILER!!!", 0, 0, 0, nil)
	return c.err
}
