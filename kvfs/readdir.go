package kvfs

import (
	"context"
	"encoding/binary"
	"fmt"
	"syscall"
)

// ReadDir returns up to max entries after cookie (0 = from the start), in
// cookie order. Cookies are handed out in increasing order by each directory
// and never change while the entry exists, so a listing resumed by cookie
// never repeats or skips an entry that existed throughout; a cookie that no
// longer exists resumes at the next entry. "." and ".." are not included.
// Listing needs read permission on dir. withAttr fills DirEntry.Attr
// when cred may also search dir, as looking each name up would need
// (Linux's server sends names only otherwise). eof is true when no
// entries follow.
func (fs *FS) ReadDir(ctx context.Context, cred Cred, dir uint64, cookie uint64, max int, withAttr bool) ([]DirEntry, bool, error) {
	d, err := fs.getInode(ctx, dir)
	if err != nil {
		return nil, false, err
	}
	if d.typ != TypeDir {
		return nil, false, errIno("readdir", dir, syscall.ENOTDIR)
	}
	if !permits(cred, d, permRead) {
		return nil, false, errIno("readdir", dir, syscall.EACCES)
	}
	if max <= 0 {
		max = 1
	}
	start := cookie + 1
	if cookie == ^uint64(0) {
		return nil, true, nil
	}
	it, err := fs.kv.NewIterator(ctx, cookieKey(dir, start), prefixEnd(inoPrefix(prefixCookie, dir)))
	if err != nil {
		return nil, false, fmt.Errorf("kvfs: readdir %d: %w", dir, err)
	}
	defer it.Close()
	var out []DirEntry
	eof := true
	for it.Next() {
		if len(out) == max {
			eof = false
			break
		}
		k := it.Key()
		if len(k) != 17 {
			return nil, false, fmt.Errorf("kvfs: readdir %d: %w: cookie key of %d bytes", dir, ErrCorrupt, len(k))
		}
		typ, ino, name, err := decodeCookie(it.Value())
		if err != nil {
			return nil, false, fmt.Errorf("kvfs: readdir %d: %w", dir, err)
		}
		out = append(out, DirEntry{Name: name, Ino: ino, Type: typ, Cookie: binary.BigEndian.Uint64(k[9:])})
	}
	if err := it.Err(); err != nil {
		return nil, false, fmt.Errorf("kvfs: readdir %d: %w", dir, err)
	}
	if withAttr && permits(cred, d, permExec) {
		for i := range out {
			n, err := fs.getInode(ctx, out[i].Ino)
			if isStale(err) {
				continue // removed since the snapshot
			}
			if err != nil {
				return nil, false, err
			}
			a := n.attr(out[i].Ino)
			out[i].Attr = &a
		}
	}
	return out, eof, nil
}
