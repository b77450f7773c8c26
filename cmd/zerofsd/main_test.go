package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDispatch(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // in stdout
		wantErr  string // in stderr
	}{
		{"version", []string{"version"}, 0, "zerofsd ", ""},
		{"help", []string{"help"}, 0, "check-config", ""},
		{"--help", []string{"--help"}, 0, "check-config", ""},
		{"-h", []string{"-h"}, 0, "check-config", ""},
		{"-help", []string{"-help"}, 0, "check-config", ""},
		{"run --help", []string{"run", "--help"}, 0, "", "config file"},
		{"fsck -h", []string{"fsck", "-h"}, 0, "", "-export"},
		{"checkpoint -h", []string{"checkpoint", "-h"}, 0, "create|list|delete|restore", ""},
		{"checkpoint create -h", []string{"checkpoint", "create", "-h"}, 0, "", "-export"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"missing config", []string{"check-config", "-c", "/nonexistent/zerofs.toml"}, 1, "", "/nonexistent/zerofs.toml"},
		{"stray argument", []string{"check-config", "extra"}, 1, "", `unexpected argument "extra"`},
		{"fsck without export", []string{"fsck", "-c", "x.toml"}, 1, "", "--export is required"},
		{"du -h", []string{"du", "-h"}, 0, "", "-export"},
		{"du without export", []string{"du", "-c", "x.toml"}, 1, "", "--export is required"},
		{"checkpoint without action", []string{"checkpoint"}, 1, "", "create, list, delete or restore"},
		{"checkpoint bad action", []string{"checkpoint", "rename", "--export", "a"}, 1, "", `unknown checkpoint action "rename" (want create, list, delete or restore)`},
		{"checkpoint delete without name", []string{"checkpoint", "delete", "--export", "a"}, 1, "", "needs --name"},
		{"checkpoint restore without name", []string{"checkpoint", "restore", "--export", "a"}, 1, "", "needs --name"},
		{"checkpoint undo without restore", []string{"checkpoint", "create", "--export", "a", "--undo", "u"}, 1, "", "--undo is for checkpoint restore"},
		{"checkpoint create with a scheduled name", []string{"checkpoint", "create", "--export", "a", "--name", "auto-x"}, 1, "", "scheduled snapshots"},
		{"checkpoint restore with a scheduled undo name", []string{"checkpoint", "restore", "--export", "a", "--name", "c1", "--undo", "auto-20260130T150405Z"}, 1, "", `--undo: names starting with "auto-" are the scheduled snapshots'`},
		{"journal -h", []string{"journal", "-h"}, 0, "journal list|extract", ""},
		{"journal help", []string{"journal", "help"}, 0, "journal list|extract", ""},
		{"journal list -h", []string{"journal", "list", "-h"}, 0, "", "-export"},
		{"journal without action", []string{"journal"}, 1, "", "list or extract"},
		{"journal bad action", []string{"journal", "replay", "--export", "a"}, 1, "", `unknown journal action "replay"`},
		{"journal extract without tail", []string{"journal", "extract", "--export", "a"}, 1, "", "needs --tail"},
		{"key -h", []string{"key", "-h"}, 0, "key rotate", ""},
		{"key without action", []string{"key"}, 1, "", "needs an action: rotate"},
		{"key rotate without new key", []string{"key", "rotate", "--export", "a"}, 1, "", "exactly one of --new-key-file and --new-passphrase-env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantOut)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantErr)
			}
		})
	}
}

func TestNotifySystemd(t *testing.T) {
	next := fakeSystemd(t)
	notifySystemd(slog.Default(), "READY=1\nSTATUS=serving")
	if got := next(); got != "READY=1\nSTATUS=serving" {
		t.Fatalf("notification %q", got)
	}

	t.Setenv("NOTIFY_SOCKET", "")
	notifySystemd(slog.Default(), "READY=1") // not under systemd: a no-op
}

// fakeSystemd listens on a notification socket named by NOTIFY_SOCKET for
// the rest of the test, and returns what reads its next message.
func fakeSystemd(t *testing.T) func() string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return func() string {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		buf := make([]byte, 256)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification received: %v", err)
		}
		return string(buf[:n])
	}
}

// TestExtendStartTimeout: the start's extensions go out at once and then
// at every interval until stopped; stopping twice is harmless.
func TestExtendStartTimeout(t *testing.T) {
	next := fakeSystemd(t)
	stop := extendStartTimeout(slog.Default(), time.Millisecond, 30*time.Second, "opening 2 export(s)")
	for range 3 {
		if got := next(); got != "EXTEND_TIMEOUT_USEC=30000000\nSTATUS=opening 2 export(s)" {
			t.Fatalf("notification %q", got)
		}
	}
	stop()
	stop()
}

// TestStartExtendedUntilReady: zerofsd run tells systemd its start goes on
// (EXTEND_TIMEOUT_USEC) from before its exports open, and not after
// READY=1. Before, a start longer than the unit's TimeoutStartSec (a
// journal tail to ship, S3 retrying) was killed by systemd.
func TestStartExtendedUntilReady(t *testing.T) {
	next := fakeSystemd(t)
	s := startServing(t, "")
	if got, want := next(), fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d\nSTATUS=opening 1 export(s)", startExtension.Microseconds()); got != want {
		t.Fatalf("first notification %q, want %q", got, want)
	}
	for {
		got := next()
		if got == "READY=1\nSTATUS=serving" {
			break
		}
		if !strings.HasPrefix(got, "EXTEND_TIMEOUT_USEC=") {
			t.Fatalf("notification %q before READY=1", got)
		}
	}
	if err := s.shutdown(); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "STOPPING=1" {
		t.Fatalf("notification %q after READY=1, want STOPPING=1", got)
	}
}
