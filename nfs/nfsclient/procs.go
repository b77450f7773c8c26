package nfsclient

import (
	"context"
	"time"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// Null calls NFSPROC3_NULL.
func (c *Client) Null(ctx context.Context) error {
	_, err := c.Call(ctx, nfs.ProcNull, nil)
	return err
}

// Getattr calls GETATTR.
func (c *Client) Getattr(ctx context.Context, fh []byte) (Fattr, error) {
	var a Fattr
	err := c.call(ctx, "GETATTR", nfs.ProcGetattr, func(e *xdr.Encoder) { e.Opaque(fh) },
		func(d *xdr.Decoder) { a = getFattr(d) }, nil)
	return a, err
}

// Setattr calls SETATTR; guard, when set, is the expected ctime.
func (c *Client) Setattr(ctx context.Context, fh []byte, s Sattr, guard *time.Time) (WccData, error) {
	var w WccData
	err := c.call(ctx, "SETATTR", nfs.ProcSetattr, func(e *xdr.Encoder) {
		e.Opaque(fh)
		putSattr(e, s)
		e.Bool(guard != nil)
		if guard != nil {
			putTime(e, *guard)
		}
	}, func(d *xdr.Decoder) { w = getWcc(d) }, failWcc)
	return w, err
}

// Lookup calls LOOKUP and returns the handle and attributes of dir/name.
func (c *Client) Lookup(ctx context.Context, dir []byte, name string) ([]byte, *Fattr, error) {
	var fh []byte
	var a *Fattr
	err := c.call(ctx, "LOOKUP", nfs.ProcLookup, func(e *xdr.Encoder) { putDirop(e, dir, name) },
		func(d *xdr.Decoder) {
			fh = clone(d.Opaque(nfs.MaxHandleSize))
			a = getPostOpAttr(d)
			getPostOpAttr(d)
		}, failAttr)
	return fh, a, err
}

// Access calls ACCESS and returns the granted bits.
func (c *Client) Access(ctx context.Context, fh []byte, mask uint32) (uint32, error) {
	var granted uint32
	err := c.call(ctx, "ACCESS", nfs.ProcAccess, func(e *xdr.Encoder) { e.Opaque(fh); e.Uint32(mask) },
		func(d *xdr.Decoder) { getPostOpAttr(d); granted = d.Uint32() }, failAttr)
	return granted, err
}

// Readlink calls READLINK.
func (c *Client) Readlink(ctx context.Context, fh []byte) (string, error) {
	var s string
	err := c.call(ctx, "READLINK", nfs.ProcReadlink, func(e *xdr.Encoder) { e.Opaque(fh) },
		func(d *xdr.Decoder) { getPostOpAttr(d); s = d.String(1 << 16) }, failAttr)
	return s, err
}

// ReadResult is the result of READ.
type ReadResult struct {
	Attr *Fattr
	Data []byte
	EOF  bool
}

// Read calls READ.
func (c *Client) Read(ctx context.Context, fh []byte, off uint64, count uint32) (ReadResult, error) {
	var r ReadResult
	err := c.call(ctx, "READ", nfs.ProcRead, func(e *xdr.Encoder) { e.Opaque(fh); e.Uint64(off); e.Uint32(count) },
		func(d *xdr.Decoder) {
			r.Attr = getPostOpAttr(d)
			n := d.Uint32()
			r.EOF = d.Bool()
			r.Data = d.Opaque(1 << 30)
			if int(n) != len(r.Data) {
				d.Fail(xdr.ErrBadValue)
			}
		}, failAttr)
	return r, err
}

// Stable levels of WRITE.
const (
	Unstable = 0
	DataSync = 1
	FileSync = 2
)

// WriteResult is the result of WRITE.
type WriteResult struct {
	Wcc       WccData
	Count     uint32
	Committed uint32
	Verf      [8]byte
}

// Write calls WRITE.
func (c *Client) Write(ctx context.Context, fh []byte, off uint64, data []byte, stable uint32) (WriteResult, error) {
	var r WriteResult
	err := c.call(ctx, "WRITE", nfs.ProcWrite, func(e *xdr.Encoder) {
		e.Opaque(fh)
		e.Uint64(off)
		e.Uint32(uint32(len(data)))
		e.Uint32(stable)
		e.Opaque(data)
	}, func(d *xdr.Decoder) {
		r.Wcc = getWcc(d)
		r.Count = d.Uint32()
		r.Committed = d.Uint32()
		copy(r.Verf[:], d.FixedOpaque(8))
	}, failWcc)
	return r, err
}

// CreateResult is the result of CREATE, MKDIR, SYMLINK and MKNOD.
type CreateResult struct {
	FH   []byte
	Attr *Fattr
	Dir  WccData
}

func decodeCreated(r *CreateResult) func(d *xdr.Decoder) {
	return func(d *xdr.Decoder) {
		r.FH = getPostOpFH(d)
		r.Attr = getPostOpAttr(d)
		r.Dir = getWcc(d)
	}
}

// Create modes.
const (
	Unchecked = 0
	Guarded   = 1
	Exclusive = 2
)

// Create calls CREATE with mode Unchecked or Guarded and attributes s, or
// Exclusive and verifier verf.
func (c *Client) Create(ctx context.Context, dir []byte, name string, mode uint32, s Sattr, verf [8]byte) (CreateResult, error) {
	var r CreateResult
	err := c.call(ctx, "CREATE", nfs.ProcCreate, func(e *xdr.Encoder) {
		putDirop(e, dir, name)
		e.Uint32(mode)
		if mode == Exclusive {
			e.FixedOpaque(verf[:])
		} else {
			putSattr(e, s)
		}
	}, decodeCreated(&r), failWcc)
	return r, err
}

// Mkdir calls MKDIR.
func (c *Client) Mkdir(ctx context.Context, dir []byte, name string, s Sattr) (CreateResult, error) {
	var r CreateResult
	err := c.call(ctx, "MKDIR", nfs.ProcMkdir, func(e *xdr.Encoder) { putDirop(e, dir, name); putSattr(e, s) },
		decodeCreated(&r), failWcc)
	return r, err
}

// Symlink calls SYMLINK.
func (c *Client) Symlink(ctx context.Context, dir []byte, name, target string, s Sattr) (CreateResult, error) {
	var r CreateResult
	err := c.call(ctx, "SYMLINK", nfs.ProcSymlink, func(e *xdr.Encoder) {
		putDirop(e, dir, name)
		putSattr(e, s)
		e.String(target)
	}, decodeCreated(&r), failWcc)
	return r, err
}

// File types for Mknod (ftype3).
const (
	TypeReg  = 1
	TypeDir  = 2
	TypeBlk  = 3
	TypeChr  = 4
	TypeLnk  = 5
	TypeSock = 6
	TypeFifo = 7
)

// Mknod calls MKNOD.
func (c *Client) Mknod(ctx context.Context, dir []byte, name string, ftype uint32, s Sattr, major, minor uint32) (CreateResult, error) {
	var r CreateResult
	err := c.call(ctx, "MKNOD", nfs.ProcMknod, func(e *xdr.Encoder) {
		putDirop(e, dir, name)
		e.Uint32(ftype)
		switch ftype {
		case TypeChr, TypeBlk:
			putSattr(e, s)
			e.Uint32(major)
			e.Uint32(minor)
		case TypeSock, TypeFifo:
			putSattr(e, s)
		}
	}, decodeCreated(&r), failWcc)
	return r, err
}

// Remove calls REMOVE.
func (c *Client) Remove(ctx context.Context, dir []byte, name string) (WccData, error) {
	var w WccData
	err := c.call(ctx, "REMOVE", nfs.ProcRemove, func(e *xdr.Encoder) { putDirop(e, dir, name) },
		func(d *xdr.Decoder) { w = getWcc(d) }, failWcc)
	return w, err
}

// Rmdir calls RMDIR.
func (c *Client) Rmdir(ctx context.Context, dir []byte, name string) (WccData, error) {
	var w WccData
	err := c.call(ctx, "RMDIR", nfs.ProcRmdir, func(e *xdr.Encoder) { putDirop(e, dir, name) },
		func(d *xdr.Decoder) { w = getWcc(d) }, failWcc)
	return w, err
}

// RenameResult is the result of RENAME: the wcc_data of both directories.
type RenameResult struct {
	From, To WccData
}

// Rename calls RENAME.
func (c *Client) Rename(ctx context.Context, fromDir []byte, fromName string, toDir []byte, toName string) (RenameResult, error) {
	var r RenameResult
	err := c.call(ctx, "RENAME", nfs.ProcRename, func(e *xdr.Encoder) {
		putDirop(e, fromDir, fromName)
		putDirop(e, toDir, toName)
	}, func(d *xdr.Decoder) { r.From, r.To = getWcc(d), getWcc(d) }, failWcc)
	return r, err
}

// LinkResult is the result of LINK: the file's attributes and the wcc_data
// of the directory.
type LinkResult struct {
	Attr *Fattr
	Dir  WccData
}

// Link calls LINK.
func (c *Client) Link(ctx context.Context, fh, dir []byte, name string) (LinkResult, error) {
	var r LinkResult
	err := c.call(ctx, "LINK", nfs.ProcLink, func(e *xdr.Encoder) { e.Opaque(fh); putDirop(e, dir, name) },
		func(d *xdr.Decoder) { r.Attr, r.Dir = getPostOpAttr(d), getWcc(d) }, failAttr)
	return r, err
}

// DirEntry is an entry of READDIR or READDIRPLUS.
type DirEntry struct {
	FileID uint64
	Name   string
	Cookie uint64
	Attr   *Fattr // READDIRPLUS
	FH     []byte // READDIRPLUS
}

// Readdir calls READDIR once.
func (c *Client) Readdir(ctx context.Context, dir []byte, cookie uint64, count uint32) ([]DirEntry, bool, error) {
	var ents []DirEntry
	var eof bool
	err := c.call(ctx, "READDIR", nfs.ProcReaddir, func(e *xdr.Encoder) {
		e.Opaque(dir)
		e.Uint64(cookie)
		e.Uint64(0)
		e.Uint32(count)
	}, func(d *xdr.Decoder) {
		getPostOpAttr(d)
		d.Uint64()
		for d.Bool() {
			ents = append(ents, DirEntry{FileID: d.Uint64(), Name: d.String(1 << 16), Cookie: d.Uint64()})
		}
		eof = d.Bool()
	}, failAttr)
	return ents, eof, err
}

// Readdirplus calls READDIRPLUS once.
func (c *Client) Readdirplus(ctx context.Context, dir []byte, cookie uint64, dircount, maxcount uint32) ([]DirEntry, bool, error) {
	var ents []DirEntry
	var eof bool
	err := c.call(ctx, "READDIRPLUS", nfs.ProcReaddirplus, func(e *xdr.Encoder) {
		e.Opaque(dir)
		e.Uint64(cookie)
		e.Uint64(0)
		e.Uint32(dircount)
		e.Uint32(maxcount)
	}, func(d *xdr.Decoder) {
		getPostOpAttr(d)
		d.Uint64()
		for d.Bool() {
			ent := DirEntry{FileID: d.Uint64(), Name: d.String(1 << 16), Cookie: d.Uint64()}
			ent.Attr = getPostOpAttr(d)
			ent.FH = getPostOpFH(d)
			ents = append(ents, ent)
		}
		eof = d.Bool()
	}, failAttr)
	return ents, eof, err
}

// ReaddirAll lists a whole directory with READDIR (plus when plus is set).
func (c *Client) ReaddirAll(ctx context.Context, dir []byte, plus bool) ([]DirEntry, error) {
	var all []DirEntry
	var cookie uint64
	for {
		var ents []DirEntry
		var eof bool
		var err error
		if plus {
			ents, eof, err = c.Readdirplus(ctx, dir, cookie, 4096, 32768)
		} else {
			ents, eof, err = c.Readdir(ctx, dir, cookie, 8192)
		}
		if err != nil {
			return all, err
		}
		all = append(all, ents...)
		if eof || len(ents) == 0 {
			return all, nil
		}
		cookie = ents[len(ents)-1].Cookie
	}
}

// Fsstat is the result of FSSTAT.
type Fsstat struct {
	Attr                   *Fattr
	TBytes, FBytes, ABytes uint64
	TFiles, FFiles, AFiles uint64
	Invarsec               uint32
}

// Fsstat calls FSSTAT.
func (c *Client) Fsstat(ctx context.Context, fh []byte) (Fsstat, error) {
	var s Fsstat
	err := c.call(ctx, "FSSTAT", nfs.ProcFsstat, func(e *xdr.Encoder) { e.Opaque(fh) }, func(d *xdr.Decoder) {
		s.Attr = getPostOpAttr(d)
		s.TBytes, s.FBytes, s.ABytes = d.Uint64(), d.Uint64(), d.Uint64()
		s.TFiles, s.FFiles, s.AFiles = d.Uint64(), d.Uint64(), d.Uint64()
		s.Invarsec = d.Uint32()
	}, failAttr)
	return s, err
}

// Fsinfo is the result of FSINFO.
type Fsinfo struct {
	Attr                  *Fattr
	RtMax, RtPref, RtMult uint32
	WtMax, WtPref, WtMult uint32
	DtPref                uint32
	MaxFileSize           uint64
	TimeDelta             time.Duration
	Properties            uint32
}

// Fsinfo calls FSINFO.
func (c *Client) Fsinfo(ctx context.Context, fh []byte) (Fsinfo, error) {
	var s Fsinfo
	err := c.call(ctx, "FSINFO", nfs.ProcFsinfo, func(e *xdr.Encoder) { e.Opaque(fh) }, func(d *xdr.Decoder) {
		s.Attr = getPostOpAttr(d)
		s.RtMax, s.RtPref, s.RtMult = d.Uint32(), d.Uint32(), d.Uint32()
		s.WtMax, s.WtPref, s.WtMult = d.Uint32(), d.Uint32(), d.Uint32()
		s.DtPref = d.Uint32()
		s.MaxFileSize = d.Uint64()
		s.TimeDelta = time.Duration(d.Uint32())*time.Second + time.Duration(d.Uint32())
		s.Properties = d.Uint32()
	}, failAttr)
	return s, err
}

// Pathconf is the result of PATHCONF.
type Pathconf struct {
	Attr                                                      *Fattr
	LinkMax, NameMax                                          uint32
	NoTrunc, ChownRestricted, CaseInsensitive, CasePreserving bool
}

// Pathconf calls PATHCONF.
func (c *Client) Pathconf(ctx context.Context, fh []byte) (Pathconf, error) {
	var p Pathconf
	err := c.call(ctx, "PATHCONF", nfs.ProcPathconf, func(e *xdr.Encoder) { e.Opaque(fh) }, func(d *xdr.Decoder) {
		p.Attr = getPostOpAttr(d)
		p.LinkMax, p.NameMax = d.Uint32(), d.Uint32()
		p.NoTrunc, p.ChownRestricted, p.CaseInsensitive, p.CasePreserving = d.Bool(), d.Bool(), d.Bool(), d.Bool()
	}, failAttr)
	return p, err
}

// Commit calls COMMIT and returns the write verifier.
func (c *Client) Commit(ctx context.Context, fh []byte, off uint64, count uint32) ([8]byte, error) {
	var verf [8]byte
	err := c.call(ctx, "COMMIT", nfs.ProcCommit, func(e *xdr.Encoder) { e.Opaque(fh); e.Uint64(off); e.Uint32(count) },
		func(d *xdr.Decoder) { getWcc(d); copy(verf[:], d.FixedOpaque(8)) }, failWcc)
	return verf, err
}
