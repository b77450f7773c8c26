package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/objstore"
)

// metricsServer serves Prometheus' text exposition format on /metrics. The
// handful of counters we export do not justify a client library.
type metricsServer struct {
	srv *http.Server
}

func startMetrics(addr string, reg *exports.Registry, disk *cache.Disk, log *slog.Logger) (*metricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s (server.metrics_listen): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		writeMetrics(w, reg, disk)
	})
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

// writeMetrics writes every counter in Prometheus text format.
func writeMetrics(w io.Writer, reg *exports.Registry, disk *cache.Disk) {
	stats := reg.StoreStats()
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	type family struct {
		name, help string
		value      func(objstore.OpStats) int64
	}
	families := []family{
		{"zerofs_objstore_requests_total", "Object-store requests by export and operation.", func(s objstore.OpStats) int64 { return s.Requests }},
		{"zerofs_objstore_failures_total", "Object-store requests that failed.", func(s objstore.OpStats) int64 { return s.Failures }},
		{"zerofs_objstore_read_bytes_total", "Object bytes read.", func(s objstore.OpStats) int64 { return s.BytesRead }},
		{"zerofs_objstore_written_bytes_total", "Object bytes written.", func(s objstore.OpStats) int64 { return s.BytesWritten }},
	}
	for _, f := range families {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", f.name, f.help, f.name)
		for _, n := range names {
			for op := 0; op < objstore.NumOps; op++ {
				fmt.Fprintf(w, "%s{export=%q,op=%q} %d\n", f.name, n, objstore.Op(op).String(), f.value(stats[n][op]))
			}
		}
	}
	if disk != nil {
		ds := disk.Stats()
		gauge := func(name, help string, v int64, kind string) {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, kind, name, v)
		}
		gauge("zerofs_disk_cache_hits_total", "Pages served from the disk cache.", ds.Hits, "counter")
		gauge("zerofs_disk_cache_misses_total", "Pages fetched from the object store.", ds.Misses, "counter")
		gauge("zerofs_disk_cache_bytes", "Bytes resident in the disk cache.", ds.Bytes, "gauge")
		gauge("zerofs_disk_cache_evictions_total", "Cache files evicted.", ds.Evictions, "counter")
		gauge("zerofs_disk_cache_corrupt_total", "Cache files dropped after failing verification.", ds.Corrupt, "counter")
	}
}
