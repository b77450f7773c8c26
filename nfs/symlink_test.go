package nfs_test

import (
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// TestSymlinkTargets: SYMLINK refuses the targets Linux refuses: an empty
// one or one holding a NUL byte is INVAL; one that does not fit in
// PATH_MAX (4096) with its terminating NUL is NAMETOOLONG.
func TestSymlinkTargets(t *testing.T) {
	_, c, root, _ := oneExport(t)
	cx := ctx(t)
	tests := []struct {
		name   string
		target string
		want   nfs.Status
	}{
		{"plain", "../some/target", nfs.StatusOK},
		{"4095 bytes", strings.Repeat("t", 4095), nfs.StatusOK},
		{"empty", "", nfs.StatusInval},
		{"NUL inside", "a\x00b", nfs.StatusInval},
		{"NUL at the end", "target\x00", nfs.StatusInval},
		{"4096 bytes", strings.Repeat("t", 4096), nfs.StatusNameTooLong},
		{"5000 bytes", strings.Repeat("t", 5000), nfs.StatusNameTooLong},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "s" + string(rune('a'+i))
			res, err := c.Symlink(cx, root, name, tt.target, nfsclient.Sattr{})
			if tt.want != nfs.StatusOK {
				wantStatus(t, err, tt.want)
				_, _, err := c.Lookup(cx, root, name)
				wantStatus(t, err, nfs.StatusNoEnt)
				return
			}
			check(t, err)
			if got := must[string](t)(c.Readlink(cx, res.FH)); got != tt.target {
				t.Fatalf("READLINK = %d bytes, want %d", len(got), len(tt.target))
			}
		})
	}
}
