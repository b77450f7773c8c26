package nfsvm

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/testenv/require"
)

func TestCPIOHeader(t *testing.T) {
	var buf bytes.Buffer
	c := &cpioWriter{w: &buf}
	c.File("init", 0o755, []byte("hi\n"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// magic, ino 1, mode 0100755, uid, gid, nlink 1, mtime, size 3, dev
	// major/minor, rdev major/minor, name size 5, check; the name padded so
	// that header and name take 112 bytes; the data padded to 4.
	want := "070701" + "00000001" + "000081ed" + "00000000" + "00000000" + "00000001" + "00000000" + "00000003" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000005" + "00000000" + "init\x00\x00" + "hi\n\x00"
	got := buf.String()
	if !strings.HasPrefix(got, want) {
		t.Fatalf("first entry:\n%q\nwant\n%q", got[:min(len(got), len(want))], want)
	}
	if len(got)%4 != 0 || !strings.Contains(got[len(want):], "TRAILER!!!\x00") {
		t.Fatalf("trailer missing or archive unaligned: %q", got[len(want):])
	}
}

// TestCPIOReadable lists an archive with GNU cpio (skipped when it is not
// installed, failed then under ZEROFS_REQUIRE_HOST=1).
func TestCPIOReadable(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		require.Missing(t, require.Host, "cpio is not installed (Debian package cpio; scripts/test-deps.sh installs it)")
	}
	var buf bytes.Buffer
	c := &cpioWriter{w: &buf}
	c.Dir("bin", 0o755)
	c.File("bin/busybox", 0o755, bytes.Repeat([]byte{1}, 1001))
	c.Symlink("bin/sh", "busybox")
	c.CharDev("console", 0o600, 5, 1)
	c.File("odd-name.x", 0o644, []byte("12345"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("cpio", "-itv", "--quiet")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -itv: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	wants := []string{"drwxr-xr-x", "-rwxr-xr-x", "lrwxrwxrwx", "crw-------", "-rw-r--r--"}
	names := []string{"bin", "bin/busybox", "bin/sh -> busybox", "console", "odd-name.x"}
	if len(lines) != len(wants) {
		t.Fatalf("cpio listed %d entries, want %d:\n%s", len(lines), len(wants), out)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, wants[i]) || !strings.HasSuffix(l, names[i]) {
			t.Errorf("entry %d = %q, want %s ... %s", i, l, wants[i], names[i])
		}
	}
	if f := strings.Fields(lines[1]); f[4] != "1001" {
		t.Errorf("size of bin/busybox: %q", lines[1])
	}
	if f := strings.Fields(lines[3]); f[4] != "5," || f[5] != "1" {
		t.Errorf("device numbers of console: %q", lines[3])
	}
}
