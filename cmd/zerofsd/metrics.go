package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"sync"
	"time"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/objstore"
)

// Metrics are served in Prometheus' text exposition format on /metrics. The
// few families we export do not justify a client library. The same address
// serves Go's profiles under /debug/pprof/.

// callKey identifies one series of NFS call counters.
type callKey struct {
	export, proc string
	status       uint32
}

type callCounter struct {
	calls   int64
	seconds float64
}

// callMetrics counts answered NFS and MOUNT calls; it is the server's Observer.
type callMetrics struct {
	mu    sync.Mutex
	calls map[callKey]*callCounter
}

var _ nfs.Observer = (*callMetrics)(nil)

func newCallMetrics() *callMetrics {
	return &callMetrics{calls: make(map[callKey]*callCounter)}
}

// CallDone records one answered call.
func (m *callMetrics) CallDone(ci nfs.CallInfo) {
	proc := ci.Proc
	if proc == "" {
		proc = "refused"
	}
	k := callKey{export: ci.Export, proc: proc, status: ci.Status}
	m.mu.Lock()
	c := m.calls[k]
	if c == nil {
		c = &callCounter{}
		m.calls[k] = c
	}
	c.calls++
	c.seconds += ci.Duration.Seconds()
	m.mu.Unlock()
}

func (m *callMetrics) snapshot() map[callKey]callCounter {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[callKey]callCounter, len(m.calls))
	for k, c := range m.calls {
		out[k] = *c
	}
	return out
}

// metricsSource is everything /metrics reports on.
type metricsSource struct {
	reg   *exports.Registry
	disk  *cache.Disk
	calls *callMetrics
	srv   *nfs.Server
}

type metricsServer struct {
	srv *http.Server
}

func startMetrics(addr string, src metricsSource, log *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s (server.metrics_listen): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		writeMetrics(w, src)
	})
	// Profiles of the running daemon, on the same (operator-only) address.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return &metricsServer{srv: srv}, nil
}

func (m *metricsServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = m.srv.Shutdown(ctx)
}

// promWriter writes metric families in Prometheus text format.
type promWriter struct{ w io.Writer }

func (p promWriter) family(name, kind, help string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}

func (p promWriter) sample(name, labels string, v any) {
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(p.w, "%s%s %v\n", name, labels, v)
}

// writeMetrics writes every metric family.
func writeMetrics(w io.Writer, src metricsSource) {
	p := promWriter{w}

	stores := src.reg.StoreStats()
	names := make([]string, 0, len(stores))
	for n := range stores {
		names = append(names, n)
	}
	slices.Sort(names)
	storeFamilies := []struct {
		name, help string
		value      func(objstore.OpStats) int64
	}{
		{"zerofs_objstore_requests_total", "Object-store requests by export and operation.", func(s objstore.OpStats) int64 { return s.Requests }},
		{"zerofs_objstore_failures_total", "Object-store requests that failed.", func(s objstore.OpStats) int64 { return s.Failures }},
		{"zerofs_objstore_read_bytes_total", "Object bytes read.", func(s objstore.OpStats) int64 { return s.BytesRead }},
		{"zerofs_objstore_written_bytes_total", "Object bytes written.", func(s objstore.OpStats) int64 { return s.BytesWritten }},
	}
	for _, f := range storeFamilies {
		p.family(f.name, "counter", f.help)
		for _, n := range names {
			for op := 0; op < objstore.NumOps; op++ {
				p.sample(f.name, fmt.Sprintf("export=%q,op=%q", n, objstore.Op(op).String()), f.value(stores[n][op]))
			}
		}
	}

	lsmStats := make(map[string]lsm.Stats, len(names))
	for _, n := range names {
		if db, ok := src.reg.DB(n); ok {
			lsmStats[n] = db.Stats()
		}
	}
	fenced := func(s lsm.Stats) any {
		if s.Fenced {
			return 1
		}
		return 0
	}
	for _, f := range []struct {
		name, kind, help string
		value            func(lsm.Stats) any
	}{
		{"zerofs_lsm_memtable_bytes", "gauge", "Bytes in memtables not yet written as SSTs.", func(s lsm.Stats) any { return s.MemtableBytes + s.ImmutableBytes }},
		{"zerofs_lsm_l0_tables", "gauge", "L0 SSTs.", func(s lsm.Stats) any { return s.L0Tables }},
		{"zerofs_lsm_sorted_runs", "gauge", "Sorted runs.", func(s lsm.Stats) any { return s.SortedRuns }},
		{"zerofs_lsm_tables", "gauge", "SSTs of the current version.", func(s lsm.Stats) any { return s.Tables }},
		{"zerofs_lsm_table_bytes", "gauge", "Bytes of the SSTs of the current version.", func(s lsm.Stats) any { return s.TableBytes }},
		{"zerofs_lsm_wal_puts_total", "counter", "WAL objects written.", func(s lsm.Stats) any { return s.WALPuts }},
		{"zerofs_lsm_wal_bytes_total", "counter", "WAL bytes written.", func(s lsm.Stats) any { return s.WALBytes }},
		{"zerofs_lsm_l0_flushes_total", "counter", "Memtables written as L0 SSTs.", func(s lsm.Stats) any { return s.L0Flushes }},
		{"zerofs_lsm_l0_flush_seconds_total", "counter", "Time spent writing L0 SSTs.", func(s lsm.Stats) any { return s.L0FlushTime.Seconds() }},
		{"zerofs_lsm_compactions_total", "counter", "Compactions finished.", func(s lsm.Stats) any { return s.Compactions }},
		{"zerofs_lsm_compaction_seconds_total", "counter", "Time spent compacting.", func(s lsm.Stats) any { return s.CompactionTime.Seconds() }},
		{"zerofs_lsm_block_cache_hits_total", "counter", "Memory block cache hits.", func(s lsm.Stats) any { return s.BlockCache.Hits }},
		{"zerofs_lsm_block_cache_misses_total", "counter", "Memory block cache misses.", func(s lsm.Stats) any { return s.BlockCache.Misses }},
		{"zerofs_lsm_backpressure_waits_total", "counter", "Writes that waited for memtables to be flushed.", func(s lsm.Stats) any { return s.BackpressureWaits }},
		{"zerofs_lsm_fenced", "gauge", "1 when a newer writer fenced this server out of the export.", fenced},
	} {
		p.family(f.name, f.kind, f.help)
		for _, n := range names {
			if s, ok := lsmStats[n]; ok {
				p.sample(f.name, fmt.Sprintf("export=%q", n), f.value(s))
			}
		}
	}

	if src.calls != nil {
		snap := src.calls.snapshot()
		keys := make([]callKey, 0, len(snap))
		for k := range snap {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b callKey) int {
			return cmp.Or(cmp.Compare(a.export, b.export), cmp.Compare(a.proc, b.proc), cmp.Compare(a.status, b.status))
		})
		p.family("zerofs_nfs_calls_total", "counter", "Answered NFS and MOUNT calls by export, procedure and status.")
		for _, k := range keys {
			p.sample("zerofs_nfs_calls_total", fmt.Sprintf("export=%q,proc=%q,status=\"%d\"", k.export, k.proc, k.status), snap[k].calls)
		}
		p.family("zerofs_nfs_call_seconds_total", "counter", "Time spent answering calls.")
		for _, k := range keys {
			p.sample("zerofs_nfs_call_seconds_total", fmt.Sprintf("export=%q,proc=%q,status=\"%d\"", k.export, k.proc, k.status), snap[k].seconds)
		}
	}
	if src.srv != nil {
		st := src.srv.Stats()
		p.family("zerofs_nfs_connections", "gauge", "Open client connections.")
		p.sample("zerofs_nfs_connections", "", st.Connections)
		p.family("zerofs_nfs_calls_in_flight", "gauge", "Calls being answered.")
		p.sample("zerofs_nfs_calls_in_flight", "", st.InFlight)
	}

	if src.disk != nil {
		ds := src.disk.Stats()
		for _, m := range []struct {
			name, kind, help string
			v                int64
		}{
			{"zerofs_disk_cache_hits_total", "counter", "Pages served from the disk cache.", ds.Hits},
			{"zerofs_disk_cache_misses_total", "counter", "Pages fetched from the object store.", ds.Misses},
			{"zerofs_disk_cache_bytes", "gauge", "Bytes resident in the disk cache.", ds.Bytes},
			{"zerofs_disk_cache_evictions_total", "counter", "Cache files evicted.", ds.Evictions},
			{"zerofs_disk_cache_corrupt_total", "counter", "Cache files dropped after failing verification.", ds.Corrupt},
		} {
			p.family(m.name, m.kind, m.help)
			p.sample(m.name, "", m.v)
		}
	}
}
