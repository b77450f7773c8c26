package exports_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
)

// TestRootOwnerAndMode: root_owner and root_mode shape the root of a new
// export; an existing export keeps its root, and the difference is logged
// at INFO with the current and configured owner and mode.
func TestRootOwnerAndMode(t *testing.T) {
	ctx := context.Background()
	store := "file://" + filepath.Join(t.TempDir(), "team")
	exportTOML := func(keys string) string {
		return "[[exports]]\nname = \"team\"\npath = \"/team\"\nstore = \"" + store + "\"\n" + keys
	}
	open := func(keys string) (kvfs.Attr, string) {
		t.Helper()
		var logs testenv.SyncBuffer
		reg, err := exports.Open(ctx, loadConfig(t, exportTOML(keys)), exports.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close(ctx)
		e, ok := reg.ByPath("/team")
		if !ok {
			t.Fatal("no export at /team")
		}
		a, err := e.FS.GetAttr(ctx, kvfs.RootIno)
		if err != nil {
			t.Fatal(err)
		}
		return a, logs.String()
	}
	const kept = "export root kept as it is"

	a, logs := open("root_owner = \"0:1000\"\nroot_mode = \"2775\"\n")
	if a.UID != 0 || a.GID != 1000 || a.Mode != 0o2775 {
		t.Fatalf("new export root %d:%d %04o, want 0:1000 2775", a.UID, a.GID, a.Mode)
	}
	if strings.Contains(logs, kept) {
		t.Errorf("a new export logged %q:\n%s", kept, logs)
	}

	// Same settings again: nothing to say.
	if _, logs := open("root_owner = \"0:1000\"\nroot_mode = \"2775\"\n"); strings.Contains(logs, kept) {
		t.Errorf("unchanged settings logged %q:\n%s", kept, logs)
	}

	// Other settings: the root stays, and INFO says so with both sides.
	a, logs = open("root_owner = \"2000:2000\"\nroot_mode = \"0700\"\n")
	if a.UID != 0 || a.GID != 1000 || a.Mode != 0o2775 {
		t.Fatalf("existing root changed to %d:%d %04o", a.UID, a.GID, a.Mode)
	}
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, kept) {
			line = l
		}
	}
	for _, want := range []string{"level=INFO", "export=team", "owner=0:1000", "mode=2775", "root_owner=2000:2000", "root_mode=0700"} {
		if !strings.Contains(line, want) {
			t.Errorf("no %q in the log line %q", want, line)
		}
	}

	// No root settings at all: nothing to compare, nothing said.
	if _, logs := open(""); strings.Contains(logs, kept) {
		t.Errorf("an export without root settings logged %q:\n%s", kept, logs)
	}
}
