package nfsclient

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// StatusError is a procedure that answered a status other than OK.
type StatusError struct {
	Proc   string
	Status uint32 // nfsstat3 or mountstat3
	// Wcc, Attr carry what the failure result included, when it did.
	Wcc  *WccData
	Attr *Fattr
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("nfsclient: %s: status %d", e.Proc, e.Status)
}

// Client is an NFSv3 + MOUNT v3 client over one connection.
type Client struct {
	RPC *rpc.Client
	// Cred is sent with every call (default AUTH_SYS uid 0 gid 0).
	Cred rpc.OpaqueAuth
}

// Dial connects to an NFS server at addr (host:port).
func Dial(ctx context.Context, addr string) (*Client, error) {
	c, err := rpc.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return newClient(c), nil
}

// NewClient runs a client over conn, which it owns from now on (for
// connections dialed by the caller, e.g. from a chosen source address or port).
func NewClient(conn net.Conn) *Client {
	return newClient(rpc.NewClient(conn))
}

func newClient(c *rpc.Client) *Client {
	return &Client{RPC: c, Cred: rpc.AuthSysCred{MachineName: "nfsclient"}.Encode()}
}

// SetAuthSys makes further calls use an AUTH_SYS credential.
func (c *Client) SetAuthSys(uid, gid uint32, groups ...uint32) {
	c.Cred = rpc.AuthSysCred{MachineName: "nfsclient", UID: uid, GID: gid, GIDs: groups}.Encode()
}

// Close closes the connection.
func (c *Client) Close() error { return c.RPC.Close() }

// Call sends one NFSv3 call with raw arguments and returns the raw results.
func (c *Client) Call(ctx context.Context, proc uint32, args []byte) ([]byte, error) {
	return c.RPC.Call(ctx, nfs.ProgramNFS, nfs.VersionNFS, proc, c.Cred, args)
}

// call encodes arguments with enc, calls proc, and decodes the results
// with dec (after the status, which it checks).
func (c *Client) call(ctx context.Context, name string, proc uint32, enc func(e *xdr.Encoder), dec func(d *xdr.Decoder), fail func(d *xdr.Decoder, se *StatusError)) error {
	var e xdr.Encoder
	if enc != nil {
		enc(&e)
	}
	res, err := c.Call(ctx, proc, e.Buf)
	if err != nil {
		return err
	}
	d := xdr.NewDecoder(res)
	st := d.Uint32()
	if d.Err() != nil {
		return fmt.Errorf("nfsclient: %s: %w", name, d.Err())
	}
	if st != 0 {
		se := &StatusError{Proc: name, Status: st}
		if fail != nil {
			fail(d, se)
		}
		return se
	}
	if dec != nil {
		dec(d)
	}
	if d.Err() != nil {
		return fmt.Errorf("nfsclient: %s: malformed result: %w", name, d.Err())
	}
	return nil
}

func failAttr(d *xdr.Decoder, se *StatusError) { se.Attr = getPostOpAttr(d) }
func failWcc(d *xdr.Decoder, se *StatusError) {
	w := getWcc(d)
	se.Wcc = &w
}

// Fattr is a fattr3.
type Fattr struct {
	Type, Mode, Nlink, UID, GID uint32
	Size, Used                  uint64
	Major, Minor                uint32
	FSID, FileID                uint64
	Atime, Mtime, Ctime         time.Time
}

// WccAttr is a wcc_attr (pre-operation attributes).
type WccAttr struct {
	Size         uint64
	Mtime, Ctime time.Time
}

// WccData is wcc_data.
type WccData struct {
	Before *WccAttr
	After  *Fattr
}

func getTime(d *xdr.Decoder) time.Time {
	s, ns := d.Uint32(), d.Uint32()
	return time.Unix(int64(s), int64(ns))
}

func putTime(e *xdr.Encoder, t time.Time) {
	e.Uint32(uint32(t.Unix()))
	e.Uint32(uint32(t.Nanosecond()))
}

func getFattr(d *xdr.Decoder) Fattr {
	var a Fattr
	a.Type, a.Mode, a.Nlink, a.UID, a.GID = d.Uint32(), d.Uint32(), d.Uint32(), d.Uint32(), d.Uint32()
	a.Size, a.Used = d.Uint64(), d.Uint64()
	a.Major, a.Minor = d.Uint32(), d.Uint32()
	a.FSID, a.FileID = d.Uint64(), d.Uint64()
	a.Atime, a.Mtime, a.Ctime = getTime(d), getTime(d), getTime(d)
	return a
}

func getPostOpAttr(d *xdr.Decoder) *Fattr {
	if !d.Bool() {
		return nil
	}
	a := getFattr(d)
	return &a
}

func getWcc(d *xdr.Decoder) WccData {
	var w WccData
	if d.Bool() {
		w.Before = &WccAttr{Size: d.Uint64(), Mtime: getTime(d), Ctime: getTime(d)}
	}
	w.After = getPostOpAttr(d)
	return w
}

func getPostOpFH(d *xdr.Decoder) []byte {
	if !d.Bool() {
		return nil
	}
	return clone(d.Opaque(nfs.MaxHandleSize))
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// Time settings of Sattr.
const (
	DontChange = 0
	ServerTime = 1
	ClientTime = 2
)

// Sattr is a sattr3; nil fields are not set.
type Sattr struct {
	Mode, UID, GID *uint32
	Size           *uint64
	AtimeHow       uint32
	Atime          time.Time
	MtimeHow       uint32
	Mtime          time.Time
}

func putSattr(e *xdr.Encoder, s Sattr) {
	for _, v := range []*uint32{s.Mode, s.UID, s.GID} {
		e.Bool(v != nil)
		if v != nil {
			e.Uint32(*v)
		}
	}
	e.Bool(s.Size != nil)
	if s.Size != nil {
		e.Uint64(*s.Size)
	}
	e.Uint32(s.AtimeHow)
	if s.AtimeHow == ClientTime {
		putTime(e, s.Atime)
	}
	e.Uint32(s.MtimeHow)
	if s.MtimeHow == ClientTime {
		putTime(e, s.Mtime)
	}
}

// U32 returns a pointer to v (for Sattr).
func U32(v uint32) *uint32 { return &v }

// U64 returns a pointer to v (for Sattr).
func U64(v uint64) *uint64 { return &v }

func putDirop(e *xdr.Encoder, dir []byte, name string) {
	e.Opaque(dir)
	e.String(name)
}
