package exports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// TestMaxUnflushedBound: lsm.max_unflushed_mb reaches the export's
// database. With SST uploads failing, no memtable can be written out, so
// writers must wait once the memtables hold the bound: 4 MiB written
// against a bound of 2 MiB wait (and give up when their context ends),
// while the same writes against 16 MiB all go through without waiting.
func TestMaxUnflushedBound(t *testing.T) {
	for _, tc := range []struct {
		boundMB  int
		wantWait bool
	}{
		{boundMB: 2, wantWait: true},
		{boundMB: 16, wantWait: false},
	} {
		t.Run(fmt.Sprintf("%dMiB", tc.boundMB), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "zerofs.toml")
			text := fmt.Sprintf("[cache]\ndir = %q\nsize_gb = 0.01\n[lsm]\nmemtable_mb = 1\nmax_unflushed_mb = %d\n[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"memory://a\"\n",
				filepath.Join(dir, "cache"), tc.boundMB)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.LSM.MaxUnflushedMB != tc.boundMB {
				t.Fatalf("lsm.max_unflushed_mb loaded as %d, want %d", cfg.LSM.MaxUnflushedMB, tc.boundMB)
			}
			faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
			faulty.Inject(faultstore.Fault{
				Ops: []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent},
				Key: func(key string) bool {
					return strings.HasPrefix(key, "compacted/") || strings.Contains(key, "/compacted/")
				},
			})
			reg := openOn(t, cfg, faulty, slog.New(slog.NewTextHandler(io.Discard, nil)))
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				reg.Close(ctx)
			})
			fs, _ := reg.FS("a")
			db, _ := reg.DB("a")
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			f, err := fs.Create(ctx, kvfs.Cred{}, kvfs.RootIno, "f", kvfs.CreateRequest{})
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64<<10)
			for i := range buf {
				buf[i] = byte(i * 7)
			}
			var werr error
			for off := 0; off < 4<<20 && werr == nil; off += len(buf) {
				buf[0] = byte(off >> 16) // no two chunks alike
				_, werr = fs.Write(ctx, kvfs.Cred{}, f.Attr.Ino, uint64(off), buf)
			}
			waits := db.Stats().BackpressureWaits
			if tc.wantWait {
				if waits == 0 || !errors.Is(werr, context.DeadlineExceeded) {
					t.Fatalf("bound %d MiB: %d backpressure waits, write error %v; want writers held until their context ends", tc.boundMB, waits, werr)
				}
				return
			}
			if waits != 0 || werr != nil {
				t.Fatalf("bound %d MiB: %d backpressure waits, write error %v; want none", tc.boundMB, waits, werr)
			}
		})
	}
}
