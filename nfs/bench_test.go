package nfs_test

import (
	"context"

	"bytes"
	"github.com/zerofs-go/zerofsd/kvfs"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// pipelined runs b.N calls of op over one connection from depth goroutines
// and reports calls per second.
func pipelined(b *testing.B, depth int, op func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, depth)
	b.ResetTimer()
	for range depth {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := op(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

func benchSetup(b *testing.B) (*nfsclient.Client, []byte) {
	fs, _ := newFS(b)
	ts := startServer(b, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(b, ts.addr)
	return c, mount(b, c, "/a")
}

func BenchmarkGetattr(b *testing.B) {
	for _, depth := range []int{1, 16, 64} {
		b.Run("depth="+itoa(depth), func(b *testing.B) {
			c, root := benchSetup(b)
			cx := ctx(b)
			pipelined(b, depth, func() error { _, err := c.Getattr(cx, root); return err })
		})
	}
}

func BenchmarkRead4K(b *testing.B) {
	for _, depth := range []int{1, 16, 64} {
		b.Run("depth="+itoa(depth), func(b *testing.B) {
			c, root := benchSetup(b)
			cx := ctx(b)
			f := must[nfsclient.CreateResult](b)(c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
			data := bytes.Repeat([]byte{7}, 1<<20)
			must[nfsclient.WriteResult](b)(c.Write(cx, f.FH, 0, data, nfsclient.FileSync))
			var off atomic.Uint64
			b.SetBytes(4096)
			pipelined(b, depth, func() error {
				o := (off.Add(4096) - 4096) % (1 << 20)
				r, err := c.Read(cx, f.FH, o, 4096)
				if err == nil && len(r.Data) != 4096 {
					b.Errorf("read %d bytes", len(r.Data))
				}
				return err
			})
		})
	}
}

func BenchmarkWrite4K(b *testing.B) {
	c, root := benchSetup(b)
	cx := ctx(b)
	f := must[nfsclient.CreateResult](b)(c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	data := bytes.Repeat([]byte{7}, 4096)
	var off atomic.Uint64
	b.SetBytes(4096)
	pipelined(b, 16, func() error {
		o := (off.Add(4096) - 4096) % (64 << 20)
		_, err := c.Write(cx, f.FH, o, data, nfsclient.Unstable)
		return err
	})
}

// zeroReadFS answers every Read with zeros without touching the store, to
// measure the protocol layer alone.
type zeroReadFS struct{ nfs.Filesystem }

func (zeroReadFS) Read(_ context.Context, _ kvfs.Cred, _ uint64, _ uint64, buf []byte) (int, bool, error) {
	clear(buf)
	return len(buf), false, nil
}

// BenchmarkRead4KProtocol is BenchmarkRead4K without the filesystem's cost
// of reading (kvfs on MemKV copies a whole 64 KiB chunk per read).
func BenchmarkRead4KProtocol(b *testing.B) {
	fs, _ := newFS(b)
	ts := startServer(b, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: zeroReadFS{fs}})
	c := dial(b, ts.addr)
	root := mount(b, c, "/a")
	cx := ctx(b)
	f := must[nfsclient.CreateResult](b)(c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	b.SetBytes(4096)
	pipelined(b, 16, func() error {
		_, err := c.Read(cx, f.FH, 0, 4096)
		return err
	})
}

// BenchmarkRead1MProtocol measures 1 MiB READs (the rtmax) without the
// filesystem's cost, over one connection with 4 in flight.
func BenchmarkRead1MProtocol(b *testing.B) {
	fs, _ := newFS(b)
	ts := startServer(b, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: zeroReadFS{fs}})
	c := dial(b, ts.addr)
	root := mount(b, c, "/a")
	cx := ctx(b)
	f := must[nfsclient.CreateResult](b)(c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	b.SetBytes(1 << 20)
	pipelined(b, 4, func() error {
		_, err := c.Read(cx, f.FH, 0, 1<<20)
		return err
	})
}
