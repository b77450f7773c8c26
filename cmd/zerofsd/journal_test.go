package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/crypt"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/lsm/compress"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// journalConfig writes a config of one export "a" with local durability
// (and the given extra lines) and returns its path and the loaded config.
func journalConfig(t *testing.T, dir, extra string) (string, *config.Config) {
	t.Helper()
	cfgPath := filepath.Join(dir, "zerofs.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
[cache]
dir = %q
size_gb = 0.1
[[exports]]
name = "a"
path = "/a"
store = "file://%s"
durability = "local"
%s`, filepath.Join(dir, "cache"), filepath.Join(dir, "store"), extra)), 0o644)
	cfg, err := config.Load(cfgPath, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfgPath, cfg
}

// compressibleValue is the value the set-aside tail holds compressed.
func compressibleValue() []byte { return bytes.Repeat([]byte("compressible "), 100) }

// setAsideTail writes a journal with a set and a delete (sealed with c
// unless nil) into jdir and sets it aside as recovery would.
func setAsideTail(t *testing.T, jdir string, c journal.Cipher) {
	t.Helper()
	d, err := journal.OpenDir(nil, jdir, c)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := journal.Header{DBID: [16]byte{9}, Epoch: 4}
	num, err := d.Begin(h)
	if err != nil {
		t.Fatal(err)
	}
	w, err := d.NewWriter(h, num, 10, journal.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var entries []byte
	entries = wal.AppendEntry(entries, wal.KindSet, []byte("key-1"), []byte("value-1"))
	entries = wal.AppendEntry(entries, wal.KindDelete, []byte("key-2"), nil)
	comp := compress.NewCompressor(compress.Zstd, nil)
	stored, ok, err := vlog.AppendCompressed(nil, &comp, compressibleValue())
	if !ok || err != nil {
		t.Fatalf("not compressed: %v", err)
	}
	entries = wal.AppendEntry(entries, wal.KindSetCompressed, []byte("key-3"), stored)
	w.Append(wal.AppendRecord(nil, 11, 3, entries), 13)
	if err := w.Sync(context.Background(), 13); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c2, err := d.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SetAside(c2.Groups[0], true, "test: taken over"); err != nil {
		t.Fatal(err)
	}
}

// listAndExtract runs journal list and extract on export a and checks what
// they print.
func listAndExtract(t *testing.T, cfgPath, jdir string, c journal.Cipher) {
	t.Helper()
	orphans, _ := journal.ListOrphans(nil, jdir, c)
	if len(orphans) != 1 {
		t.Fatalf("%d orphans", len(orphans))
	}
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"journal", "list", "-c", cfgPath, "--export", "a"}, &stdout, &stderr); code != 0 {
		t.Fatalf("journal list: exit %d: %s", code, stderr.String())
	}
	if out := stdout.String(); !strings.Contains(out, orphans[0].Name) || !strings.Contains(out, "1 records") ||
		!strings.Contains(out, "seq 11-13") || !strings.Contains(out, "test: taken over") {
		t.Fatalf("journal list printed:\n%s", out)
	}

	stdout.Reset()
	args := []string{"journal", "extract", "-c", cfgPath, "--export", "a", "--tail", orphans[0].Name}
	if code := dispatch(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("journal extract: exit %d: %s", code, stderr.String())
	}
	var got []extractedEntry
	dec := json.NewDecoder(&stdout)
	for dec.More() {
		var e extractedEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	want := []extractedEntry{
		{Seq: 11, Op: "set", Key: []byte("key-1"), Value: []byte("value-1"), Epoch: 4},
		{Seq: 12, Op: "delete", Key: []byte("key-2"), Epoch: 4},
		{Seq: 13, Op: "set", Key: []byte("key-3"), Value: compressibleValue(), Epoch: 4},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("extracted %v, want %v", got, want)
	}
}

// TestJournalListExtract: a tail set aside in an export's journal directory
// is listed, and extracted as one JSON line per entry.
func TestJournalListExtract(t *testing.T) {
	dir := t.TempDir()
	cfgPath, cfg := journalConfig(t, dir, "")
	jdir, err := exports.JournalDir(cfg, cfg.Exports[0])
	if err != nil {
		t.Fatal(err)
	}
	setAsideTail(t, jdir, nil)
	listAndExtract(t, cfgPath, jdir, nil)
}

// TestJournalListExtractSealed: the sealed journal of an encrypted export
// is listed and extracted with the export's key, read from its config;
// without encryption in the config, or with another key, both commands
// fail and say why.
func TestJournalListExtractSealed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeKey := func(name string, b byte) string {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(strings.Repeat(fmt.Sprintf("%02x", b), crypt.KeyLen)+"\n"), 0o600)
		return path
	}
	keyFile, otherKey := writeKey("a.key", 0x11), writeKey("other.key", 0x22)
	cfgPath, cfg := journalConfig(t, dir, fmt.Sprintf("encryption = true\nkey_file = %q\n", keyFile))
	ec := cfg.Exports[0]
	store, err := exports.OpenStore(ctx, ec, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := exports.UnlockKeys(ctx, ec, store, false) // creates the keyring
	if err != nil {
		t.Fatal(err)
	}
	sealer := crypt.NewSealer(keys, crypt.Options{})
	jdir, err := exports.JournalDir(cfg, ec)
	if err != nil {
		t.Fatal(err)
	}
	setAsideTail(t, jdir, sealer)
	listAndExtract(t, cfgPath, jdir, sealer)

	// The tail's files show neither keys nor values.
	tails, _ := filepath.Glob(filepath.Join(jdir, "orphaned", "*", "*.journal"))
	if len(tails) == 0 {
		t.Fatal("no set-aside journal file")
	}
	for _, f := range tails {
		data, _ := os.ReadFile(f)
		if bytes.Contains(data, []byte("key-1")) || bytes.Contains(data, []byte("value-1")) {
			t.Fatalf("%s holds plaintext", f)
		}
	}

	orphans, err := journal.ListOrphans(nil, jdir, sealer)
	if err != nil || len(orphans) != 1 {
		t.Fatalf("ListOrphans = %v, %v", orphans, err)
	}
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"no encryption in the config", "", "configured without encryption"},
		{"another key", fmt.Sprintf("encryption = true\nkey_file = %q\n", otherKey), "wrong key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Another config file for the same store and journal.
			sub := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			os.MkdirAll(sub, 0o755)
			path := filepath.Join(sub, "zerofs.toml")
			text, _ := os.ReadFile(cfgPath)
			text = bytes.Replace(text, []byte(fmt.Sprintf("encryption = true\nkey_file = %q\n", keyFile)), []byte(tc.extra), 1)
			os.WriteFile(path, text, 0o644)
			for _, args := range [][]string{
				{"journal", "list", "-c", path, "--export", "a"},
				{"journal", "extract", "-c", path, "--export", "a", "--tail", orphans[0].Name},
			} {
				var stdout, stderr bytes.Buffer
				if code := dispatch(ctx, args, &stdout, &stderr); code == 0 {
					t.Fatalf("%v succeeded: %s", args[:2], stdout.String())
				}
				t.Logf("%v: %s", args[:2], stderr.String())
				if !strings.Contains(stderr.String(), tc.want) || strings.Contains(stdout.String(), "key-1") {
					t.Fatalf("%v: stderr %q, want %q", args[:2], stderr.String(), tc.want)
				}
			}
		})
	}
}
