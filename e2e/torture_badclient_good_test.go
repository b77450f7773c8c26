package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// bcGoodClient writes, reads back and checks files on the good export until
// deadline; every call must succeed with the right answer.
func bcGoodClient(addr string, id int, rng *rand.Rand, deadline time.Time, stats *bcStats) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline)+2*time.Minute)
	defer cancel()
	c, err := nfsclient.Dial(ctx, addr)
	if err != nil {
		return fmt.Errorf("good client %d: %w", id, err)
	}
	defer c.Close()
	call := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("good client %d: %s failed while bad clients ran: %w", id, what, err)
		}
		stats.goodOps.Add(1)
		return nil
	}
	root, _, err := c.Mount(ctx, "/good")
	if err := call("MNT /good", err); err != nil {
		return err
	}
	dres, err := c.Mkdir(ctx, root, fmt.Sprintf("g%d", id), nfsclient.Sattr{Mode: nfsclient.U32(0o700)})
	if err := call("MKDIR", err); err != nil {
		return err
	}
	dir := dres.FH
	type file struct {
		name string
		fh   []byte
		data []byte
	}
	var files []file
	for i := 0; time.Now().Before(deadline); i++ {
		// A new file, written UNSTABLE + COMMIT or FILE_SYNC.
		name := fmt.Sprintf("f%05d", i)
		data := suiteRandomBytes(rng, rng.IntN(200<<10))
		cres, err := c.Create(ctx, dir, name, nfsclient.Guarded, nfsclient.Sattr{Mode: nfsclient.U32(0o600)}, [8]byte{})
		if err := call("CREATE "+name, err); err != nil {
			return err
		}
		stable := uint32(nfsclient.FileSync)
		if rng.IntN(2) == 0 {
			stable = nfsclient.Unstable
		}
		for off := 0; off < len(data); off += 64 << 10 {
			end := min(off+64<<10, len(data))
			res, err := c.Write(ctx, cres.FH, uint64(off), data[off:end], stable)
			if err := call("WRITE "+name, err); err != nil {
				return err
			}
			if int(res.Count) != end-off {
				return fmt.Errorf("good client %d: WRITE %s wrote %d of %d bytes", id, name, res.Count, end-off)
			}
		}
		if stable == nfsclient.Unstable {
			_, err := c.Commit(ctx, cres.FH, 0, 0)
			if err := call("COMMIT "+name, err); err != nil {
				return err
			}
		}
		files = append(files, file{name, cres.FH, data})
		stats.goodBytes.Add(int64(len(data)))

		// Check a file: GETATTR size, LOOKUP handle, READ content.
		f := files[rng.IntN(len(files))]
		attr, err := c.Getattr(ctx, f.fh)
		if err := call("GETATTR "+f.name, err); err != nil {
			return err
		}
		if attr.Size != uint64(len(f.data)) {
			return fmt.Errorf("good client %d: GETATTR %s: size %d, want %d", id, f.name, attr.Size, len(f.data))
		}
		fh, _, err := c.Lookup(ctx, dir, f.name)
		if err := call("LOOKUP "+f.name, err); err != nil {
			return err
		}
		if !bytes.Equal(fh, f.fh) {
			return fmt.Errorf("good client %d: LOOKUP %s returned another handle", id, f.name)
		}
		got, err := suiteReadAll(ctx, c, f.fh)
		if err := call("READ "+f.name, err); err != nil {
			return err
		}
		if !bytes.Equal(got, f.data) {
			return fmt.Errorf("good client %d: READ %s: %d bytes, want %d (content differs)", id, f.name, len(got), len(f.data))
		}
		stats.goodBytes.Add(int64(len(got)))

		// Now and then: the directory lists exactly our files; remove one.
		if i%8 == 7 {
			ents, err := c.ReaddirAll(ctx, dir, rng.IntN(2) == 0)
			if err := call("READDIR", err); err != nil {
				return err
			}
			names := map[string]bool{}
			for _, e := range ents {
				if e.Name != "." && e.Name != ".." {
					names[e.Name] = true
				}
			}
			if len(names) != len(files) {
				return fmt.Errorf("good client %d: READDIR lists %d names, want %d", id, len(names), len(files))
			}
			for _, f := range files {
				if !names[f.name] {
					return fmt.Errorf("good client %d: READDIR does not list %s", id, f.name)
				}
			}
			j := rng.IntN(len(files))
			_, err = c.Remove(ctx, dir, files[j].name)
			if err := call("REMOVE "+files[j].name, err); err != nil {
				return err
			}
			_, _, err = c.Lookup(ctx, dir, files[j].name)
			var se *nfsclient.StatusError
			if !errors.As(err, &se) || se.Status != 2 {
				return fmt.Errorf("good client %d: LOOKUP of removed %s = %v, want NFS3ERR_NOENT", id, files[j].name, err)
			}
			files = append(files[:j], files[j+1:]...)
		}
		_, err = c.Getattr(ctx, root)
		if err := call("GETATTR root", err); err != nil {
			return err
		}
	}
	return nil
}
