package exports_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// TestReadAheadSetting: cache.read_ahead_mb reaches each export's
// filesystem: a file read from start to end is served from read-ahead
// unless the setting is 0.
func TestReadAheadSetting(t *testing.T) {
	for _, tc := range []struct {
		mb     int
		served bool
	}{
		{0, false},
		{8, true},
	} {
		t.Run(map[bool]string{false: "off", true: "on"}[tc.served], func(t *testing.T) {
			ctx := context.Background()
			cfg := testConfig(fileExport("a", t.TempDir()))
			cfg.Cache.ReadAheadMB = tc.mb
			fs := fsOf(t, open(t, cfg), "a")
			f, err := fs.Create(ctx, root, kvfs.RootIno, "big", kvfs.CreateRequest{})
			if err != nil {
				t.Fatal(err)
			}
			data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
			if _, err := fs.Write(ctx, root, f.Attr.Ino, 0, data); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 256<<10)
			for off := 0; off < len(data); off += len(buf) {
				n, _, err := fs.Read(ctx, root, f.Attr.Ino, uint64(off), buf)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf[:n], data[off:off+n]) {
					t.Fatalf("read at %d differs", off)
				}
			}
			st := fs.ReadAheadStats()
			if (st.ServedBytes > 0) != tc.served {
				t.Fatalf("read_ahead_mb = %d: %d bytes served from read-ahead", tc.mb, st.ServedBytes)
			}
			if st.PeakHeldBytes > int64(tc.mb)<<20 {
				t.Fatalf("read_ahead_mb = %d: read-ahead held %d bytes", tc.mb, st.PeakHeldBytes)
			}
		})
	}
}
