package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReload changes the config of a running daemon with SIGHUP: a new export
// appears, a removed one is flushed and closed, a broken config is refused
// while the old exports keep serving.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{
		{Name: "team-a", Store: "file://" + filepath.Join(dir, "team-a"), Extra: `squash = "none"`},
		{Name: "team-b", Store: "file://" + filepath.Join(dir, "team-b"), Extra: `squash = "none"`},
	})
	d.Start()
	b, _ := mountGo(t, d.addr, "/team-b")
	writeFile(t, b, "kept.txt", []byte("team-b data"))

	original, err := os.ReadFile(d.config)
	if err != nil {
		t.Fatal(err)
	}
	// Drop team-b, add team-c.
	cfg := string(original)
	cut := strings.Index(cfg, "[[exports]]\nname = \"team-b\"")
	if cut < 0 {
		t.Fatalf("unexpected generated config:\n%s", cfg)
	}
	next := cfg[:cut] + fmt.Sprintf("[[exports]]\nname = \"team-c\"\npath = \"/team-c\"\nstore = %q\nsquash = \"none\"\n",
		"file://"+filepath.Join(dir, "team-c"))
	hup(t, d, next, "config reloaded")

	if _, err := mountGoQuiet(d.addr, "/team-b"); err == nil {
		t.Fatalf("/team-b is still mountable after it was removed from the config")
	}
	c, _ := mountGo(t, d.addr, "/team-c")
	writeFile(t, c, "new.txt", []byte("team-c data"))
	a, _ := mountGo(t, d.addr, "/team-a")
	writeFile(t, a, "a.txt", []byte("team-a still serves"))

	// A broken config is refused; the running exports keep serving.
	hup(t, d, next+"\nbogus_key = 1\n", "reload refused")
	if got := string(readFile(t, c, "new.txt")); got != "team-c data" {
		t.Fatalf("team-c after a refused reload: %q", got)
	}

	// team-b comes back with its data: it was flushed and closed cleanly.
	hup(t, d, cfg, "config reloaded")
	b2, _ := mountGo(t, d.addr, "/team-b")
	if got := string(readFile(t, b2, "kept.txt")); got != "team-b data" {
		t.Fatalf("team-b after being removed and added again: %q", got)
	}
	d.Stop()
}

// hup writes a new config, sends SIGHUP and waits for a log line.
func hup(t *testing.T, d *daemon, config, want string) {
	t.Helper()
	before := strings.Count(d.Logs(), want)
	if err := os.WriteFile(d.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	proc := d.cmd.Process
	d.mu.Unlock()
	if err := proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(d.Logs(), want) > before {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in the log after SIGHUP:\n%s", want, tail(d.Logs(), 30))
}
