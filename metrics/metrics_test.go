package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/metrics"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/objstore"
)

func TestStatusName(t *testing.T) {
	tests := []struct {
		name string
		ci   nfs.CallInfo
		want string
	}{
		{"ok", nfs.CallInfo{Program: nfs.ProgramNFS, Accept: rpc.Success}, "NFS3_OK"},
		{"io error", nfs.CallInfo{Program: nfs.ProgramNFS, Accept: rpc.Success, Status: 5}, "NFS3ERR_IO"},
		{"stale", nfs.CallInfo{Program: nfs.ProgramNFS, Accept: rpc.Success, Status: 70}, "NFS3ERR_STALE"},
		{"mount access", nfs.CallInfo{Program: nfs.ProgramMount, Accept: rpc.Success, Status: 13}, "MNT3ERR_ACCES"},
		{"auth refused", nfs.CallInfo{Program: nfs.ProgramNFS, AuthFailed: true}, "AUTH_ERROR"},
		{"rpc version refused", nfs.CallInfo{RPCMismatch: true, Accept: rpc.SystemErr}, "RPC_MISMATCH"},
		{"garbage args", nfs.CallInfo{Program: nfs.ProgramNFS, Accept: rpc.GarbageArgs}, rpc.GarbageArgs.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := metrics.StatusName(tt.ci); got != tt.want {
				t.Errorf("StatusName = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestScrape serves the metrics of a registry with one export on a memory
// store and checks the families an operator reads: call counters with
// status names, latency histograms of calls and object-store requests, the
// packages' own counters, and the Go runtime and process collectors.
func TestScrape(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "zerofs.toml")
	if err := os.WriteFile(path, []byte("[cache]\ndir = \"cache\"\nsize_gb = 1\n[[exports]]\nname = \"team-a\"\npath = \"/team-a\"\nstore = \"memory://team-a\"\nsnapshot_every = \"1h\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New()
	reg, err := exports.Open(ctx, cfg, exports.Options{Logger: log, StoreLatency: m.StoreLatency})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(ctx) })
	m.SetSources(metrics.Sources{Exports: reg})

	m.CallDone(nfs.CallInfo{Export: "team-a", Program: nfs.ProgramNFS, Proc: "GETATTR", Accept: rpc.Success, Duration: time.Millisecond})
	m.CallDone(nfs.CallInfo{Export: "team-a", Program: nfs.ProgramNFS, Proc: "READ", Accept: rpc.Success, Status: 5, Duration: 2 * time.Millisecond})
	if fs, ok := reg.FS("team-a"); !ok {
		t.Fatal("no filesystem team-a")
	} else {
		f, err := fs.Create(ctx, kvfs.Cred{}, kvfs.RootIno, "f", kvfs.CreateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Write(ctx, kvfs.Cred{}, f.Attr.Ino, 0, make([]byte, 5000)); err != nil {
			t.Fatal(err)
		}
		if err := fs.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}

	srv, err := metrics.Serve("127.0.0.1:0", m, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	resp, err := http.Get("http://" + srv.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`zerofs_nfs_calls_total{export="team-a",proc="GETATTR",status="NFS3_OK"} 1`,
		`zerofs_nfs_calls_total{export="team-a",proc="READ",status="NFS3ERR_IO"} 1`,
		`zerofs_nfs_call_duration_seconds_count{export="team-a",proc="READ"} 1`,
		`zerofs_nfs_call_duration_seconds_bucket{export="team-a",proc="GETATTR",le="+Inf"} 1`,
		`zerofs_objstore_request_duration_seconds_count{export="team-a",op="put_if_absent"}`,
		`zerofs_objstore_requests_total{export="team-a",op="put_if_absent"}`,
		`zerofs_lsm_fenced{export="team-a"} 0`,
		`zerofs_lsm_stored_bytes{export="team-a"}`,
		`zerofs_lsm_unreadable_values_total{export="team-a"} 0`,
		`zerofs_export_live_bytes{export="team-a"} 5000`,
		`zerofs_readahead_served_bytes_total{export="team-a"} 0`,
		`zerofs_readahead_held_bytes{export="team-a"} `,
		`zerofs_readahead_dropped_segments_total{export="team-a"} `,
		`zerofs_snapshots_taken_total{export="team-a"} `,
		`zerofs_snapshots_failed_total{export="team-a"} 0`,
		`zerofs_snapshot_readers_open{export="team-a"} 0`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "zerofs_objstore_request_duration_seconds"); err != nil || n == 0 {
		t.Errorf("object-store latency series: %d, %v; want some", n, err)
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

// TestReplicaScrape: a replica export's filesystem gauges and read-ahead
// counters come from the state it serves, not from the filesystem it
// opened at start: a file read from start to end on the replica shows as
// read-ahead served, its bytes count as live, and the counters never go
// down when the replica moves to a newer state of the writer.
func TestReplicaScrape(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	openReg := func(name, extra string) *exports.Registry {
		path := filepath.Join(dir, name+".toml")
		toml := "[cache]\ndir = \"" + name + "-cache\"\nsize_gb = 1\nread_ahead_mb = 16\n[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file://" + filepath.Join(dir, "store") + "\"\n" + extra
		if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		reg, err := exports.Open(ctx, cfg, exports.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close(ctx) })
		return reg
	}
	w := openReg("writer", "")
	live, _ := w.FS("a")
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	writeAndFlush := func(name string, b []byte) {
		t.Helper()
		f, err := live.Create(ctx, kvfs.Cred{}, kvfs.RootIno, name, kvfs.CreateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := live.Write(ctx, kvfs.Cred{}, f.Attr.Ino, 0, b); err != nil {
			t.Fatal(err)
		}
		if err := live.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	writeAndFlush("big", data)

	r := openReg("replica", "replica = true\nreplica_poll = \"10ms\"\n")
	m := metrics.New()
	m.SetSources(metrics.Sources{Exports: r})
	exp, ok := r.ByPath("/a")
	if !ok {
		t.Fatal("no replica export /a")
	}
	// waitFor looks name up on the replica until the replica serves it
	// with its size (its creation and its data are separate batches, which
	// the replica may see apart; the space counters change with the data).
	waitFor := func(name string, size int) kvfs.Attr {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			a, err := exp.FS.Lookup(ctx, kvfs.Cred{}, kvfs.RootIno, name)
			if err == nil && a.Size == uint64(size) {
				return a
			}
			if time.Now().After(deadline) {
				t.Fatalf("the replica does not serve %s with %d bytes: %+v, %v", name, size, a, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	big := waitFor("big", len(data))
	buf := make([]byte, 256<<10)
	for off := 0; off < len(data); off += len(buf) {
		n, _, err := exp.FS.Read(ctx, kvfs.Cred{}, big.Ino, uint64(off), buf)
		if err != nil || n != len(buf) {
			t.Fatalf("replica read at %d: %d bytes, %v", off, n, err)
		}
	}
	scrape := func() map[string]float64 {
		t.Helper()
		out := map[string]float64{}
		for _, name := range []string{"zerofs_readahead_served_bytes_total", "zerofs_readahead_fetched_bytes_total", "zerofs_export_live_bytes"} {
			out[name] = gatheredValue(t, m, name, "a")
		}
		return out
	}
	before := scrape()
	if before["zerofs_readahead_served_bytes_total"] == 0 || before["zerofs_readahead_fetched_bytes_total"] == 0 {
		t.Errorf("a whole file read on the replica: read-ahead %v, want bytes served", before)
	}
	if before["zerofs_export_live_bytes"] < float64(len(data)) {
		t.Errorf("replica live bytes %v, want at least the %d bytes of big", before["zerofs_export_live_bytes"], len(data))
	}
	writeAndFlush("later", data[:1<<20])
	waitFor("later", 1<<20)
	after := scrape()
	for name, v := range before {
		if after[name] < v {
			t.Errorf("%s went from %v to %v when the replica moved to a newer state", name, v, after[name])
		}
	}
	if after["zerofs_export_live_bytes"] < float64(len(data)+1<<20) {
		t.Errorf("replica live bytes %v after the writer added 1 MiB, want at least %d", after["zerofs_export_live_bytes"], len(data)+1<<20)
	}
}

// gatheredValue is the value of family name's series for export, as m
// serves it.
func gatheredValue(t *testing.T, m *metrics.Metrics, name, export string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "export" && l.GetValue() == export {
					if c := s.GetCounter(); c != nil {
						return c.GetValue()
					}
					return s.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{export=%q}", name, export)
	return 0
}

// TestForgetExport deletes every series of one export, and only its.
func TestForgetExport(t *testing.T) {
	m := metrics.New()
	for _, export := range []string{"a", "b"} {
		m.CallDone(nfs.CallInfo{Export: export, Program: nfs.ProgramNFS, Proc: "GETATTR", Accept: rpc.Success, Duration: time.Millisecond})
		m.StoreLatency(export)(objstore.OpGet, time.Millisecond, nil)
	}
	m.ForgetExport("a")
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]int{}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "export" {
					exported[l.GetValue()]++
				}
			}
		}
	}
	if exported["a"] != 0 || exported["b"] == 0 {
		t.Fatalf("series by export after forgetting a: %v; want none of a, some of b", exported)
	}
}
