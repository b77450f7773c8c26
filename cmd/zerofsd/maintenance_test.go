package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/lsm/journal"
)

// createFilesystem writes the empty filesystem of export ec to its store.
func createFilesystem(t *testing.T, ec config.Export) {
	t.Helper()
	ctx := context.Background()
	store, err := exports.OpenStore(ctx, ec, nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := lsm.Open(ctx, store, lsm.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fsys.Close(ctx)
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestKeyCheckedOnlyForTheCommandsExport: with an encrypted export y whose
// key file is missing, the maintenance commands on the plain export x work
// (they need no key of y), while check-config, run and a reload refuse the
// config, naming y's key and its file; a command on y itself names them too.
func TestKeyCheckedOnlyForTheCommandsExport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "two.toml")
	head := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\nportmapper = \"off\"\n[cache]\ndir = %q\nsize_gb = 0.1\n", filepath.Join(dir, "cache"))
	exportX := fmt.Sprintf("[[exports]]\nname = \"x\"\npath = \"/x\"\nstore = \"file://%s\"\ndurability = \"local\"\n", filepath.Join(dir, "x"))
	exportY := fmt.Sprintf("[[exports]]\nname = \"y\"\npath = \"/y\"\nstore = \"file://%s\"\nencryption = true\nkey_file = \"y.key\"\n", filepath.Join(dir, "y"))
	writeConfig := func(content string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// x alone: its filesystem, and a tail of its journal set aside.
	writeConfig(head + exportX)
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	createFilesystem(t, cfg.Exports[0])
	jdir, err := exports.JournalDir(cfg, cfg.Exports[0])
	if err != nil {
		t.Fatal(err)
	}
	setAsideTail(t, jdir, nil)
	tails, err := journal.ListOrphans(nil, jdir, nil)
	if err != nil || len(tails) != 1 {
		t.Fatalf("ListOrphans = %v, %v", tails, err)
	}
	reg, err := exports.Open(ctx, cfg, exports.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(context.WithoutCancel(ctx))

	// Then y, its key file missing.
	writeConfig(head + exportX + exportY)
	const yKeyProblem = "exports[1].key_file: reading key file: "
	yKeyFile := filepath.Join(dir, "y.key")
	for _, tc := range []struct {
		name    string
		args    []string
		refused bool // exit 1, naming y's key and its file
	}{
		{"journal list", []string{"journal", "list", "--export", "x"}, false},
		{"journal extract", []string{"journal", "extract", "--export", "x", "--tail", tails[0].Name}, false},
		{"du", []string{"du", "--export", "x"}, false},
		{"fsck", []string{"fsck", "--export", "x"}, false},
		{"checkpoint list", []string{"checkpoint", "list", "--export", "x"}, false},
		{"key rotate of y", []string{"key", "rotate", "--export", "y", "--new-key-file", yKeyFile + ".new"}, true},
		{"check-config", []string{"check-config"}, true},
		{"run", []string{"run"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := dispatch(ctx, append(tc.args, "-c", cfgPath), &stdout, &stderr)
			switch {
			case !tc.refused && code != 0:
				t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
			case tc.refused && (code != 1 || !strings.Contains(stderr.String(), yKeyProblem) || !strings.Contains(stderr.String(), yKeyFile)):
				t.Fatalf("exit %d, want 1 and %q naming %s; stderr:\n%s", code, yKeyProblem, yKeyFile, stderr.String())
			}
		})
	}

	t.Run("reload", func(t *testing.T) {
		logs := &testenv.SyncBuffer{}
		log := slog.New(slog.NewTextHandler(logs, nil))
		if next := reload(ctx, cfgPath, reg, cfg, log); next != nil {
			t.Fatalf("reload applied the config with y's key missing; log:\n%s", logs)
		}
		if got := logs.String(); !strings.Contains(got, "reload refused") || !strings.Contains(got, yKeyProblem) {
			t.Fatalf("reload not refused for y's key (%q); log:\n%s", yKeyProblem, got)
		}
	})
}
