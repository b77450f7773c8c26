package exports

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

func loadConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "zerofs.toml")
	text := "[cache]\ndir = \"cache\"\nsize_gb = 0.01\n\n[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"memory://a\"\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openOn(t *testing.T, cfg *config.Config, store objstore.Store, log *slog.Logger) *Registry {
	t.Helper()
	reg, err := Open(context.Background(), cfg, Options{
		Logger:    log,
		OpenStore: func(context.Context, config.Export) (objstore.Store, error) { return store, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestCloseFlushesUntilDeadline: Close keeps retrying failed WAL writes
// until its context ends, so a store that fails for a while loses nothing;
// one that stays down past the deadline makes Close return in time, with
// an ERROR line naming the export and what was not made durable, and
// every write acknowledged before is still there.
func TestCloseFlushesUntilDeadline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int // failing WAL PUT attempts; 0 = all of them
		timeout  time.Duration
		wantLost bool
	}{
		{name: "store fails for a while", failures: 8, timeout: 30 * time.Second},
		{name: "store down past the deadline", timeout: time.Second, wantLost: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := loadConfig(t)
			mem := objstore.NewMemory()
			faulty := faultstore.New(mem, faultstore.Options{})
			var logs testenv.SyncBuffer
			reg := openOn(t, cfg, faulty, slog.New(slog.NewTextHandler(&logs, nil)))
			db, _ := reg.DB("a")
			acked := []byte("\x10acked")
			if err := db.Put(ctx, acked, []byte("v"), lsm.WriteOptions{AwaitDurable: true}); err != nil {
				t.Fatal(err)
			}
			faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: func(k string) bool { return strings.HasPrefix(k, "wal/") },
				Times: tc.failures})
			unacked := []byte("\x10unacked")
			if err := db.Put(ctx, unacked, []byte("v"), lsm.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithTimeout(ctx, tc.timeout)
			defer cancel()
			start := time.Now()
			err := reg.Close(cctx)
			if took := time.Since(start); took > tc.timeout+5*time.Second {
				t.Fatalf("Close took %v with a %v context", took, tc.timeout)
			}
			var line string
			for l := range strings.SplitSeq(logs.String(), "\n") {
				if strings.Contains(l, "level=ERROR") && strings.Contains(l, "export=a") && strings.Contains(l, "lost_wal_bytes=") {
					line = l
				}
			}
			if !tc.wantLost {
				if err != nil || line != "" {
					t.Fatalf("Close with a store failing %d times = %v; logged %q", tc.failures, err, line)
				}
			} else {
				var ue *lsm.UnflushedError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), "export a") {
					t.Fatalf("Close with the store down = %v, want an UnflushedError naming export a", err)
				}
				m := regexp.MustCompile(`lost_wal_bytes=(\d+)`).FindStringSubmatch(line)
				if m == nil {
					t.Fatalf("no ERROR line naming the export and its lost bytes in:\n%s", logs.String())
				}
				if n, _ := strconv.Atoi(m[1]); n == 0 || !strings.Contains(line, "lost_writes=1 ") {
					t.Fatalf("ERROR line does not report the one unacknowledged write: %s", line)
				}
			}
			faulty.ClearFaults()
			reg2 := openOn(t, cfg, mem, slog.New(slog.DiscardHandler))
			defer reg2.Close(ctx)
			db2, _ := reg2.DB("a")
			if _, err := db2.Get(ctx, acked); err != nil {
				t.Fatalf("acknowledged write after reopening: %v", err)
			}
			_, err = db2.Get(ctx, unacked)
			if tc.wantLost != errors.Is(err, lsm.ErrNotFound) {
				t.Fatalf("unacknowledged write after reopening: %v (reported lost: %v)", err, tc.wantLost)
			}
		})
	}
}

// TestMemoryCaches checks how cache.memory_mb is split between the block
// cache and a cache of file data: the decrypted frames of an encrypted
// export, the values of an unencrypted one.
func TestMemoryCaches(t *testing.T) {
	for _, tc := range []struct {
		memoryMB                 int
		encrypted                bool
		blocks, decrypted, value int64
	}{
		{0, false, -1, 0, 0},
		{0, true, -1, 0, 0},
		{256, false, 128 << 20, 0, 128 << 20},
		{256, true, 128 << 20, 128 << 20, 0},
		{1, true, 1 << 19, 1 << 19, 0},
	} {
		blocks, decrypted, value := memoryCaches(tc.memoryMB, tc.encrypted)
		if blocks != tc.blocks || decrypted != tc.decrypted || value != tc.value {
			t.Errorf("memoryCaches(%d, %v) = %d, %d, %d; want %d, %d, %d", tc.memoryMB, tc.encrypted, blocks, decrypted, value, tc.blocks, tc.decrypted, tc.value)
		}
	}
}
