package nfs

import (
	"math"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// fattr3Size is the encoded size of a fattr3.
const fattr3Size = 84

// postOpAttrSize is the encoded size of a post_op_attr carrying attributes.
const postOpAttrSize = 4 + fattr3Size

// ftype3 maps a kvfs file type to its ftype3 value.
func ftype3(t kvfs.FileType) uint32 {
	switch t {
	case kvfs.TypeRegular:
		return nf3Reg
	case kvfs.TypeDir:
		return nf3Dir
	case kvfs.TypeSymlink:
		return nf3Lnk
	case kvfs.TypeBlock:
		return nf3Blk
	case kvfs.TypeChar:
		return nf3Chr
	case kvfs.TypeSocket:
		return nf3Sock
	case kvfs.TypeFIFO:
		return nf3Fifo
	}
	return nf3Reg
}

// putTime appends an nfstime3: unsigned 32-bit seconds and nanoseconds
// since the epoch (RFC 1813 sections 2.5 and 2.6). A time it cannot hold is
// clamped to the nearest one it can: before the epoch to the epoch, at or
// after 2^32 seconds to 4294967295.999999999 (2106-02-07 06:28:15.999999999
// UTC), so that the order of times is kept.
func putTime(e *xdr.Encoder, t time.Time) {
	sec, nsec := t.Unix(), uint32(t.Nanosecond())
	switch {
	case sec < 0:
		sec, nsec = 0, 0
	case sec > math.MaxUint32:
		sec, nsec = math.MaxUint32, 999_999_999
	}
	e.Uint32(uint32(sec))
	e.Uint32(nsec)
}

// getTime reads an nfstime3.
func getTime(d *xdr.Decoder) time.Time {
	sec := d.Uint32()
	nsec := d.Uint32()
	if nsec >= 1e9 {
		d.Fail(xdr.ErrBadValue)
	}
	return time.Unix(int64(sec), int64(nsec))
}

// putFattr3 appends a fattr3 for a, with fsid as the filesystem id (or
// a.FSID, for a mount point of another filesystem).
func putFattr3(e *xdr.Encoder, a *kvfs.Attr, fsid uint64) {
	if a.FSID != 0 {
		fsid = a.FSID
	}
	e.Uint32(ftype3(a.Type))
	e.Uint32(a.Mode & 0o7777)
	e.Uint32(a.Nlink)
	e.Uint32(a.UID)
	e.Uint32(a.GID)
	e.Uint64(a.Size)
	e.Uint64(a.Used)
	e.Uint32(a.Major)
	e.Uint32(a.Minor)
	e.Uint64(fsid)
	e.Uint64(a.Ino)
	putTime(e, a.Atime)
	putTime(e, a.Mtime)
	putTime(e, a.Ctime)
}

// putPostOpAttr appends a post_op_attr: a's attributes, or none if a is nil.
func putPostOpAttr(e *xdr.Encoder, a *kvfs.Attr, fsid uint64) {
	if a == nil {
		e.Bool(false)
		return
	}
	e.Bool(true)
	putFattr3(e, a, fsid)
}

// putPreOpAttr appends a pre_op_attr (wcc_attr: size, mtime, ctime).
func putPreOpAttr(e *xdr.Encoder, a *kvfs.Attr) {
	if a == nil {
		e.Bool(false)
		return
	}
	e.Bool(true)
	e.Uint64(a.Size)
	putTime(e, a.Mtime)
	putTime(e, a.Ctime)
}

// putWcc appends wcc_data.
func putWcc(e *xdr.Encoder, pre, post *kvfs.Attr, fsid uint64) {
	putPreOpAttr(e, pre)
	putPostOpAttr(e, post, fsid)
}

// putChange appends the wcc_data of a change the filesystem made: its
// before and after attributes were read under the lock of the change, so
// a client whose cache matches Before knows that nobody else changed the
// object in between.
func putChange(e *xdr.Encoder, c *kvfs.Change, fsid uint64) {
	putWcc(e, &c.Before, &c.After, fsid)
}

// putPostOpFH appends a post_op_fh3 naming a's inode.
func putPostOpFH(e *xdr.Encoder, a *kvfs.Attr, fsid uint64) {
	if a == nil {
		e.Bool(false)
		return
	}
	e.Bool(true)
	putFH(e, a, fsid)
}

// putFH appends an nfs_fh3 naming a's inode, in filesystem fsid (or
// a.FSID, for a mount point of another filesystem).
func putFH(e *xdr.Encoder, a *kvfs.Attr, fsid uint64) {
	if a.FSID != 0 {
		fsid = a.FSID
	}
	e.Uint32(HandleSize)
	e.Buf = Handle{FSID: fsid, Ino: a.Ino, Gen: a.Gen}.Append(e.Buf)
	// HandleSize is 21: three bytes of padding.
	e.Buf = append(e.Buf, 0, 0, 0)
}

// getFH reads an nfs_fh3 (opaque<64>).
func getFH(d *xdr.Decoder) []byte { return d.Opaque(MaxHandleSize) }

// getSattr3 reads a sattr3 into a kvfs.SetAttrRequest.
func getSattr3(d *xdr.Decoder) kvfs.SetAttrRequest {
	var r kvfs.SetAttrRequest
	if d.Bool() {
		v := d.Uint32()
		r.Mode = &v
	}
	if d.Bool() {
		v := d.Uint32()
		r.UID = &v
	}
	if d.Bool() {
		v := d.Uint32()
		r.GID = &v
	}
	if d.Bool() {
		v := d.Uint64()
		r.Size = &v
	}
	r.Atime, r.AtimeTo = getSetTime(d)
	r.Mtime, r.MtimeTo = getSetTime(d)
	return r
}

func getSetTime(d *xdr.Decoder) (kvfs.SetTime, time.Time) {
	switch how := d.Uint32(); how {
	case timeDontChange:
		return kvfs.TimeDontChange, time.Time{}
	case timeServer:
		return kvfs.TimeServer, time.Time{}
	case timeClient:
		return kvfs.TimeClient, getTime(d)
	default:
		d.Fail(xdr.ErrBadValue)
		return kvfs.TimeDontChange, time.Time{}
	}
}

// diropArgs is a diropargs3: a directory handle and a name in it.
type diropArgs struct {
	dir  []byte
	name string
}

func getDiropArgs(d *xdr.Decoder) diropArgs {
	return diropArgs{dir: getFH(d), name: d.String(maxNameWire)}
}
