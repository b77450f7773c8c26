package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
)

// serving is one runServe running in this process, as `zerofsd run` does.
type serving struct {
	t    *testing.T
	path string // its config file
	logs *testenv.SyncBuffer
	stop context.CancelFunc // what SIGTERM does
	done chan struct{}      // closed when runServe has returned err
	err  error
}

// startServing writes a config with one file:// export and the given
// [server] lines, and runs runServe on it. SIGHUP is caught for the whole
// test so that one sent to this process can never kill it.
func startServing(t *testing.T, serverLines string) *serving {
	t.Helper()
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, syscall.SIGHUP)
	t.Cleanup(func() { signal.Stop(caught) })
	dir := t.TempDir()
	s := &serving{t: t, path: filepath.Join(dir, "zerofs.toml"), logs: &testenv.SyncBuffer{}, done: make(chan struct{})}
	s.writeConfig(serverLines)
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() {
		defer close(s.done)
		s.err = runServe(ctx, []string{"-c", s.path}, io.Discard, s.logs)
	}()
	t.Cleanup(func() { s.shutdown() })
	return s
}

// shutdown ends runServe's context, as SIGTERM does, and returns what
// runServe returned.
func (s *serving) shutdown() error {
	s.t.Helper()
	s.stop()
	select {
	case <-s.done:
		return s.err
	case <-time.After(time.Minute):
		s.t.Fatalf("runServe did not return after its context ended; log:\n%s", s.logs)
		return nil
	}
}

// writeConfig (re)writes the config file with these [server] lines.
func (s *serving) writeConfig(serverLines string) {
	s.t.Helper()
	s.writeConfigNaming(serverLines, "a")
}

// writeConfigNaming (re)writes the config file with these [server] lines,
// its export named name (on the same store whatever its name).
func (s *serving) writeConfigNaming(serverLines, name string) {
	s.t.Helper()
	dir := filepath.Dir(s.path)
	cfg := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\nportmapper = \"off\"\n%s\n[cache]\ndir = %q\nsize_gb = 0.1\n[[exports]]\nname = %q\npath = \"/a\"\nstore = \"file://%s\"\n",
		serverLines, filepath.Join(dir, "cache"), name, filepath.Join(dir, "a"))
	if err := os.WriteFile(s.path, []byte(cfg), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// waitLog waits until the log has more than n lines containing want,
// calling poke (if any) every 100ms meanwhile.
func (s *serving) waitLog(want string, n int, poke func()) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for strings.Count(s.logs.String(), want) <= n {
		select {
		case <-s.done:
			s.t.Fatalf("runServe returned %v before logging %q; log:\n%s", s.err, want, s.logs)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no %q in the log; log:\n%s", want, s.logs)
		}
		if poke != nil {
			poke()
		}
	}
}

// sendHUP sends SIGHUP to this process.
func sendHUP(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// TestShutdownTimeoutFollowsReload: a reload that changes
// server.shutdown_timeout bounds the shutdown that follows.
func TestShutdownTimeoutFollowsReload(t *testing.T) {
	s := startServing(t, `shutdown_timeout = "1s"`)
	s.waitLog(`msg=listening`, 0, nil)
	s.writeConfig(`shutdown_timeout = "7s"`)
	s.waitLog(`msg="config reloaded"`, 0, func() { sendHUP(t) })
	if err := s.shutdown(); err != nil {
		t.Fatalf("runServe: %v; log:\n%s", err, s.logs)
	}
	if !regexp.MustCompile(`msg="shutting down:[^"]*" timeout=7s\n`).MatchString(s.logs.String()) {
		t.Fatalf("the shutdown did not use the reloaded timeout (7s); log:\n%s", s.logs)
	}
}

// TestReloadForgetsTheMetricsOfRemovedExports: once a reload renames an
// export, /metrics has no series of its old name. Before, they stayed,
// frozen, until the daemon stopped.
func TestReloadForgetsTheMetricsOfRemovedExports(t *testing.T) {
	const serverLines = `metrics_listen = "localhost:0"` // not listen's "127.0.0.1:0"
	s := startServing(t, serverLines)
	s.waitLog(`msg=listening`, 0, nil)
	m := regexp.MustCompile(`msg="metrics listening" addr=(\S+)`).FindStringSubmatch(s.logs.String())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", s.logs)
	}
	scrape := func() string {
		t.Helper()
		resp, err := http.Get("http://" + m[1] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(body)
	}
	if got := scrape(); !strings.Contains(got, `export="a"`) {
		t.Fatalf("no series of export a before the reload:\n%s", got)
	}
	s.writeConfigNaming(serverLines, "b")
	s.waitLog(`msg="config reloaded"`, 0, func() { sendHUP(t) })
	got := scrape()
	var stale []string
	for line := range strings.SplitSeq(got, "\n") {
		if strings.Contains(line, `export="a"`) {
			stale = append(stale, line)
		}
	}
	if len(stale) > 0 {
		t.Errorf("%d series of export a, renamed b, after the reload, such as %s", len(stale), stale[0])
	}
	if !strings.Contains(got, `export="b"`) {
		t.Errorf("no series of export b after the reload:\n%s", got)
	}
}
