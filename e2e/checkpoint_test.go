package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckpointCommands creates, lists, checks and deletes a checkpoint of
// an export with the zerofsd subcommands.
func TestCheckpointCommands(t *testing.T) {
	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{
		{Name: "team-a", Store: "file://" + filepath.Join(dir, "team-a"), Extra: `squash = "none"`},
	})
	d.Start()
	a, _ := mountGo(t, d.addr, "/team-a")
	writeFile(t, a, "before.txt", []byte("in the snapshot"))
	d.Stop()

	run := func(args ...string) string {
		t.Helper()
		out, err := runBinary(t, append(args, "-c", d.config, "--export", "team-a")...)
		if err != nil {
			t.Fatalf("zerofsd %v: %v\n%s", args, err, out)
		}
		return out
	}
	run("checkpoint", "create", "--name", "snap1")
	if out := run("checkpoint", "list"); !strings.Contains(out, "snap1") {
		t.Fatalf("checkpoint list does not show snap1:\n%s", out)
	}
	if out := run("fsck", "--checkpoint", "snap1"); !strings.Contains(out, "clean") {
		t.Fatalf("fsck of the checkpoint:\n%s", out)
	}
	// The export keeps working after the checkpoint.
	d.Start()
	a2, _ := mountGo(t, d.addr, "/team-a")
	writeFile(t, a2, "after.txt", []byte("not in the snapshot"))
	// A checkpoint taken while the daemon runs does not fence it: its next
	// COMMIT still succeeds.
	run("checkpoint", "create", "--name", "live")
	writeFile(t, a2, "after-live.txt", []byte("still acknowledged"))
	if strings.Contains(d.Logs(), "fenced") {
		t.Fatalf("the daemon was fenced by a checkpoint:\n%s", tail(d.Logs(), 20))
	}
	if got := string(readFile(t, a2, "before.txt")); got != "in the snapshot" {
		t.Fatalf("before.txt = %q", got)
	}
	d.Stop()
	run("checkpoint", "delete", "--name", "snap1")
	run("checkpoint", "delete", "--name", "live")
	if out := run("checkpoint", "list"); strings.Contains(out, "snap1") {
		t.Fatalf("snap1 still listed after delete:\n%s", out)
	}
	if out, err := runBinary(t, "checkpoint", "delete", "--name", "nope", "-c", d.config, "--export", "team-a"); err == nil {
		t.Fatalf("deleting a missing checkpoint succeeded:\n%s", out)
	}
}
