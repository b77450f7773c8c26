package nfsclient

import (
	"context"
	"fmt"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// MountCall sends one MOUNT v3 call with raw arguments.
func (c *Client) MountCall(ctx context.Context, proc uint32, args []byte) ([]byte, error) {
	return c.RPC.Call(ctx, nfs.ProgramMount, nfs.VersionMount, proc, c.Cred, args)
}

// Mount calls MNT and returns the root handle and the auth flavors offered.
func (c *Client) Mount(ctx context.Context, path string) ([]byte, []uint32, error) {
	var e xdr.Encoder
	e.String(path)
	res, err := c.MountCall(ctx, nfs.MountProcMnt, e.Buf)
	if err != nil {
		return nil, nil, err
	}
	d := xdr.NewDecoder(res)
	if st := d.Uint32(); st != 0 || d.Err() != nil {
		if d.Err() != nil {
			return nil, nil, d.Err()
		}
		return nil, nil, &StatusError{Proc: "MNT", Status: st}
	}
	fh := clone(d.Opaque(nfs.MaxHandleSize))
	n := d.Uint32()
	var flavors []uint32
	for i := uint32(0); i < n && d.Err() == nil; i++ {
		flavors = append(flavors, d.Uint32())
	}
	if d.Err() != nil {
		return nil, nil, fmt.Errorf("nfsclient: MNT: %w", d.Err())
	}
	return fh, flavors, nil
}

// Umnt calls UMNT.
func (c *Client) Umnt(ctx context.Context, path string) error {
	var e xdr.Encoder
	e.String(path)
	_, err := c.MountCall(ctx, nfs.MountProcUmnt, e.Buf)
	return err
}

// Umntall calls UMNTALL.
func (c *Client) Umntall(ctx context.Context) error {
	_, err := c.MountCall(ctx, nfs.MountProcUmntall, nil)
	return err
}

// MountEntry is an entry of DUMP.
type MountEntry struct{ Host, Path string }

// Dump calls DUMP.
func (c *Client) Dump(ctx context.Context) ([]MountEntry, error) {
	res, err := c.MountCall(ctx, nfs.MountProcDump, nil)
	if err != nil {
		return nil, err
	}
	d := xdr.NewDecoder(res)
	var out []MountEntry
	for d.Bool() {
		out = append(out, MountEntry{Host: d.String(255), Path: d.String(1024)})
	}
	return out, d.Err()
}

// ExportEntry is an entry of EXPORT.
type ExportEntry struct {
	Path   string
	Groups []string
}

// Exports calls EXPORT.
func (c *Client) Exports(ctx context.Context) ([]ExportEntry, error) {
	res, err := c.MountCall(ctx, nfs.MountProcExport, nil)
	if err != nil {
		return nil, err
	}
	d := xdr.NewDecoder(res)
	var out []ExportEntry
	for d.Bool() {
		ex := ExportEntry{Path: d.String(1024)}
		for d.Bool() {
			ex.Groups = append(ex.Groups, d.String(255))
		}
		out = append(out, ex)
	}
	return out, d.Err()
}
