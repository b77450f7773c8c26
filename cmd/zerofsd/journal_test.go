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
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/lsm/compress"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// TestJournalListExtract: a tail set aside in an export's journal directory
// is listed, and extracted as one JSON line per entry.
func TestJournalListExtract(t *testing.T) {
	dir := t.TempDir()
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
`, filepath.Join(dir, "cache"), filepath.Join(dir, "store"))), 0o644)
	cfg, err := config.Load(cfgPath, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	jdir, err := exports.JournalDir(cfg, cfg.Exports[0])
	if err != nil {
		t.Fatal(err)
	}

	// A journal with a set and a delete, set aside as recovery would.
	d, err := journal.OpenDir(nil, jdir, nil)
	if err != nil {
		t.Fatal(err)
	}
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
	big := bytes.Repeat([]byte("compressible "), 100)
	comp := compress.NewCompressor(compress.Zstd, nil)
	stored, ok, err := vlog.AppendCompressed(nil, &comp, big)
	if !ok || err != nil {
		t.Fatalf("not compressed: %v", err)
	}
	entries = wal.AppendEntry(entries, wal.KindSetCompressed, []byte("key-3"), stored)
	w.Append(wal.AppendRecord(nil, 11, 3, entries), 13)
	if err := w.Sync(context.Background(), 13); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c, err := d.Scan()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.SetAside(c.Groups[0], true, "test: taken over"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	orphans, _ := journal.ListOrphans(nil, jdir, nil)
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
		{Seq: 13, Op: "set", Key: []byte("key-3"), Value: big, Epoch: 4},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("extracted %v, want %v", got, want)
	}
}
