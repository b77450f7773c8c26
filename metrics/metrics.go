package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/objstore"
)

// latencyBuckets span a loopback call (tens of microseconds) to a slow
// object-store round trip under retries (tens of seconds).
var latencyBuckets = prometheus.ExponentialBucketsRange(50e-6, 30, 20)

// Metrics is one daemon's metric registry.
type Metrics struct {
	reg *prometheus.Registry

	calls       *prometheus.CounterVec
	callSeconds *prometheus.CounterVec
	callLatency *prometheus.HistogramVec
	storeLat    *prometheus.HistogramVec
}

// Sources are what the scrape-time collector reads. Any may be nil until
// set with SetSources (the registry opens after the metrics exist, so that
// store latencies are observed from the first request).
type Sources struct {
	Exports *exports.Registry
	Disk    *cache.Disk
	Server  *nfs.Server
}

// New returns the metrics of one daemon, with the Go runtime and process
// collectors registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zerofs_nfs_calls_total",
			Help: "Answered NFS and MOUNT calls by export, procedure and status.",
		}, []string{"export", "proc", "status"}),
		callSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zerofs_nfs_call_seconds_total",
			Help: "Time spent answering calls, by export, procedure and status.",
		}, []string{"export", "proc", "status"}),
		callLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zerofs_nfs_call_duration_seconds",
			Help:    "Time from a call's arrival to its reply, by export and procedure.",
			Buckets: latencyBuckets,
		}, []string{"export", "proc"}),
		storeLat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zerofs_objstore_request_duration_seconds",
			Help:    "Object-store request durations by export and operation (retries included).",
			Buckets: latencyBuckets,
		}, []string{"export", "op"}),
	}
	m.reg.MustRegister(m.calls, m.callSeconds, m.callLatency, m.storeLat,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the Prometheus registry (for the HTTP handler and tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetSources registers the collector of the daemon's own counters. Call it
// once, when the export registry, disk cache and server exist.
func (m *Metrics) SetSources(src Sources) {
	m.reg.MustRegister(&stateCollector{src: src})
}

// ForgetExport deletes every series of the named export (its calls and its
// store's request latencies): the daemon calls it for each export a reload
// removed or renamed, whose series would otherwise stay, frozen, until it
// stops. A call still running on that export when it is forgotten is
// counted anew when it ends.
func (m *Metrics) ForgetExport(name string) {
	labels := prometheus.Labels{"export": name}
	m.calls.DeletePartialMatch(labels)
	m.callSeconds.DeletePartialMatch(labels)
	m.callLatency.DeletePartialMatch(labels)
	m.storeLat.DeletePartialMatch(labels)
}

// CallDone records one answered call; Metrics is the NFS server's Observer.
func (m *Metrics) CallDone(ci nfs.CallInfo) {
	proc := ci.Proc
	if proc == "" {
		proc = "refused"
	}
	status := StatusName(ci)
	m.calls.WithLabelValues(ci.Export, proc, status).Inc()
	m.callSeconds.WithLabelValues(ci.Export, proc, status).Add(ci.Duration.Seconds())
	m.callLatency.WithLabelValues(ci.Export, proc).Observe(ci.Duration.Seconds())
}

var _ nfs.Observer = (*Metrics)(nil)

// StatusName is the status label of a call: the RPC-level refusal when the
// procedure did not run, else the procedure's status by its RFC 1813 name
// (a MOUNT status for the MOUNT program).
func StatusName(ci nfs.CallInfo) string {
	switch {
	case ci.AuthFailed:
		return "AUTH_ERROR"
	case ci.RPCMismatch:
		return "RPC_MISMATCH"
	case ci.Accept != rpc.Success:
		return ci.Accept.String()
	case ci.Program == nfs.ProgramMount:
		return nfs.MountStatus(ci.Status).String()
	default:
		return nfs.Status(ci.Status).String()
	}
}

// StoreLatency returns the latency observer of one export's object store
// (exports.Options.StoreLatency).
func (m *Metrics) StoreLatency(export string) objstore.LatencyObserver {
	var byOp [objstore.NumOps]prometheus.Observer
	for op := range byOp {
		byOp[op] = m.storeLat.WithLabelValues(export, objstore.Op(op).String())
	}
	return func(op objstore.Op, d time.Duration, _ error) {
		if int(op) < len(byOp) {
			byOp[op].Observe(d.Seconds())
		}
	}
}

// stateCollector reads the counters the packages keep themselves, at scrape time.
type stateCollector struct{ src Sources }

type family struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
}

func newFamily(name, help string, kind prometheus.ValueType, labels ...string) family {
	return family{desc: prometheus.NewDesc(name, help, labels, nil), kind: kind}
}

var (
	storeFamilies = []struct {
		family
		value func(objstore.OpStats) int64
	}{
		{newFamily("zerofs_objstore_requests_total", "Object-store requests by export and operation.", prometheus.CounterValue, "export", "op"), func(s objstore.OpStats) int64 { return s.Requests }},
		{newFamily("zerofs_objstore_failures_total", "Object-store requests that failed.", prometheus.CounterValue, "export", "op"), func(s objstore.OpStats) int64 { return s.Failures }},
		{newFamily("zerofs_objstore_read_bytes_total", "Object bytes read.", prometheus.CounterValue, "export", "op"), func(s objstore.OpStats) int64 { return s.BytesRead }},
		{newFamily("zerofs_objstore_written_bytes_total", "Object bytes written.", prometheus.CounterValue, "export", "op"), func(s objstore.OpStats) int64 { return s.BytesWritten }},
	}
	lsmFamilies = []struct {
		family
		value func(lsm.Stats) float64
	}{
		{newFamily("zerofs_lsm_memtable_bytes", "Bytes in memtables not yet written as SSTs.", prometheus.GaugeValue, "export"), func(s lsm.Stats) float64 { return float64(s.MemtableBytes + s.ImmutableBytes) }},
		{newFamily("zerofs_lsm_l0_tables", "L0 SSTs.", prometheus.GaugeValue, "export"), func(s lsm.Stats) float64 { return float64(s.L0Tables) }},
		{newFamily("zerofs_lsm_sorted_runs", "Sorted runs.", prometheus.GaugeValue, "export"), func(s lsm.Stats) float64 { return float64(s.SortedRuns) }},
		{newFamily("zerofs_lsm_tables", "SSTs of the current version.", prometheus.GaugeValue, "export"), func(s lsm.Stats) float64 { return float64(s.Tables) }},
		{newFamily("zerofs_lsm_table_bytes", "Bytes of the SSTs of the current version.", prometheus.GaugeValue, "export"), func(s lsm.Stats) float64 { return float64(s.TableBytes) }},
		{newFamily("zerofs_lsm_wal_puts_total", "WAL objects written.", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.WALPuts) }},
		{newFamily("zerofs_lsm_wal_bytes_total", "WAL bytes written.", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.WALBytes) }},
		{newFamily("zerofs_lsm_l0_flushes_total", "Memtables written as L0 SSTs.", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.L0Flushes) }},
		{newFamily("zerofs_lsm_l0_flush_seconds_total", "Time spent writing L0 SSTs.", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return s.L0FlushTime.Seconds() }},
		{newFamily("zerofs_lsm_compactions_total", "Compactions finished.", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.Compactions) }},
		{newFamily("zerofs_lsm_compaction_seconds_total", "Time spent compacting.", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return s.CompactionTime.Seconds() }},
		{newFamily("zerofs_lsm_block_cache_hits_total", "Memory block cache hits.", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.BlockCache.Hits) }},
		{newFamily("zerofs_lsm_block_cache_misses_total", "Memory block cache misses.", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.BlockCache.Misses) }},
		{newFamily("zerofs_lsm_value_cache_hits_total", "Memory value cache hits (file data of an unencrypted export).", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.ValueCache.Hits) }},
		{newFamily("zerofs_lsm_value_cache_misses_total", "Memory value cache misses (file data of an unencrypted export).", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.ValueCache.Misses) }},
		{newFamily("zerofs_lsm_backpressure_waits_total", "Writes that waited for memtables to be flushed.", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.BackpressureWaits) }},
		{newFamily("zerofs_lsm_fenced", "1 when a newer writer fenced this server out of the export.", prometheus.GaugeValue, "export"), func(s lsm.Stats) float64 {
			if s.Fenced {
				return 1
			}
			return 0
		}},
		{newFamily("zerofs_lsm_unshipped_bytes", "Committed bytes not yet in a WAL object in the store (with durability local: what losing the journal's disk would lose).", prometheus.GaugeValue, "export"), func(s lsm.Stats) float64 { return float64(s.UnshippedBytes) }},
		{newFamily("zerofs_lsm_unshipped_age_seconds", "Age of the oldest committed write not yet in the store.", prometheus.GaugeValue, "export"), func(s lsm.Stats) float64 { return s.UnshippedAge.Seconds() }},
		{newFamily("zerofs_lsm_journal_fsyncs_total", "Local journal write+fdatasync rounds (durability local).", prometheus.CounterValue, "export"), journalStat(func(j journal.Stats) int64 { return j.Fsyncs })},
		{newFamily("zerofs_lsm_journal_fsync_failures_total", "Failed local journal writes or fsyncs (each retried).", prometheus.CounterValue, "export"), journalStat(func(j journal.Stats) int64 { return j.FsyncFailures })},
		{newFamily("zerofs_lsm_journal_bytes", "Bytes of local journal files on disk.", prometheus.GaugeValue, "export"), journalStat(func(j journal.Stats) int64 { return j.DiskBytes })},
		{newFamily("zerofs_lsm_stored_bytes", "Bytes of every object of the export's store, as the last GC round left it (compare zerofs_export_live_bytes).", prometheus.GaugeValue, "export"), func(s lsm.Stats) float64 { return float64(s.StoredBytes) }},
		{newFamily("zerofs_lsm_value_compactions_total", "Value compactions (GC relocating the live separated values of mostly-dead objects).", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.ValueCompactions) }},
		{newFamily("zerofs_lsm_value_relocated_bytes_total", "Bytes of live values value compactions copied.", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.ValueBytesRelocated) }},
		{newFamily("zerofs_lsm_unreadable_values_total", "Live values a value compaction could not read (damaged or missing objects, or a failing store) and left where they are; the log names the object.", prometheus.CounterValue, "export"), func(s lsm.Stats) float64 { return float64(s.UnreadableValues) }},
	}
	readAheadFamilies = []struct {
		family
		value func(kvfs.ReadAheadStats) float64
	}{
		{newFamily("zerofs_readahead_held_bytes", "Bytes of file data read ahead and held in memory, or being fetched (bounded by cache.read_ahead_mb).", prometheus.GaugeValue, "export"), func(s kvfs.ReadAheadStats) float64 { return float64(s.HeldBytes) }},
		{newFamily("zerofs_readahead_fetched_bytes_total", "Bytes of file data fetched ahead of sequential readers.", prometheus.CounterValue, "export"), func(s kvfs.ReadAheadStats) float64 { return float64(s.FetchedBytes) }},
		{newFamily("zerofs_readahead_served_bytes_total", "Bytes of reads served from data fetched ahead (compare the fetched bytes: what read-ahead saved, and what it wasted).", prometheus.CounterValue, "export"), func(s kvfs.ReadAheadStats) float64 { return float64(s.ServedBytes) }},
		{newFamily("zerofs_readahead_dropped_segments_total", "Read-ahead segments dropped before they were read whole (the reader moved, the file changed, eviction).", prometheus.CounterValue, "export"), func(s kvfs.ReadAheadStats) float64 { return float64(s.Dropped) }},
	}
	liveBytes        = newFamily("zerofs_export_live_bytes", "Bytes of file data the export's filesystem holds (what its store would hold without overhead or garbage).", prometheus.GaugeValue, "export")
	snapshotFamilies = []struct {
		family
		value func(exports.SnapshotStats) float64
	}{
		{newFamily("zerofs_snapshots_taken_total", "Scheduled snapshots (snapshot_every) taken since the export's store was opened.", prometheus.CounterValue, "export"), func(s exports.SnapshotStats) float64 { return float64(s.Taken) }},
		{newFamily("zerofs_snapshots_failed_total", "Scheduled snapshots that failed (each retried within a minute).", prometheus.CounterValue, "export"), func(s exports.SnapshotStats) float64 { return float64(s.Failed) }},
		{newFamily("zerofs_snapshots_deleted_total", "Scheduled snapshots deleted beyond snapshot_keep.", prometheus.CounterValue, "export"), func(s exports.SnapshotStats) float64 { return float64(s.Deleted) }},
		{newFamily("zerofs_snapshot_readers_open", "Snapshots open for reading under snapshot_dir.", prometheus.GaugeValue, "export"), func(s exports.SnapshotStats) float64 { return float64(s.OpenReaders) }},
	}
	replicaFamilies = []struct {
		family
		value func(lsm.ReplicaStats) float64
	}{
		{newFamily("zerofs_replica_lag_seconds", "Time since a replica export's last successful refresh began: it serves everything that was in the store then.", prometheus.GaugeValue, "export"), func(s lsm.ReplicaStats) float64 { return s.Lag.Seconds() }},
		{newFamily("zerofs_replica_refreshes_total", "Successful refreshes of a replica export.", prometheus.CounterValue, "export"), func(s lsm.ReplicaStats) float64 { return float64(s.Refreshes) }},
		{newFamily("zerofs_replica_refresh_failures_total", "Failed refreshes of a replica export (it serves its previous state).", prometheus.CounterValue, "export"), func(s lsm.ReplicaStats) float64 { return float64(s.Failures) }},
	}
	diskFamilies = []struct {
		family
		value func(cache.DiskStats) int64
	}{
		{newFamily("zerofs_disk_cache_hits_total", "Pages served from the disk cache.", prometheus.CounterValue), func(s cache.DiskStats) int64 { return s.Hits }},
		{newFamily("zerofs_disk_cache_misses_total", "Pages fetched from the object store.", prometheus.CounterValue), func(s cache.DiskStats) int64 { return s.Misses }},
		{newFamily("zerofs_disk_cache_bytes", "Bytes resident in the disk cache.", prometheus.GaugeValue), func(s cache.DiskStats) int64 { return s.Bytes }},
		{newFamily("zerofs_disk_cache_evictions_total", "Cache files evicted.", prometheus.CounterValue), func(s cache.DiskStats) int64 { return s.Evictions }},
		{newFamily("zerofs_disk_cache_corrupt_total", "Cache files dropped after failing verification.", prometheus.CounterValue), func(s cache.DiskStats) int64 { return s.Corrupt }},
	}
	connections = newFamily("zerofs_nfs_connections", "Open client connections.", prometheus.GaugeValue)
	inFlight    = newFamily("zerofs_nfs_calls_in_flight", "Calls being handled.", prometheus.GaugeValue)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range storeFamilies {
		ch <- f.desc
	}
	for _, f := range lsmFamilies {
		ch <- f.desc
	}
	for _, f := range snapshotFamilies {
		ch <- f.desc
	}
	for _, f := range replicaFamilies {
		ch <- f.desc
	}
	for _, f := range diskFamilies {
		ch <- f.desc
	}
	for _, f := range readAheadFamilies {
		ch <- f.desc
	}
	ch <- liveBytes.desc
	ch <- connections.desc
	ch <- inFlight.desc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if reg := c.src.Exports; reg != nil {
		for name, st := range reg.StoreStats() {
			for _, f := range storeFamilies {
				for op := range objstore.NumOps {
					ch <- prometheus.MustNewConstMetric(f.desc, f.kind, float64(f.value(st[op])), name, objstore.Op(op).String())
				}
			}
			db, ok := reg.DB(name)
			if !ok {
				continue
			}
			s := db.Stats()
			for _, f := range lsmFamilies {
				ch <- prometheus.MustNewConstMetric(f.desc, f.kind, f.value(s), name)
			}
			if fs, ok := reg.FSStats(name); ok {
				ch <- prometheus.MustNewConstMetric(liveBytes.desc, liveBytes.kind, float64(fs.DataBytes), name)
				for _, f := range readAheadFamilies {
					ch <- prometheus.MustNewConstMetric(f.desc, f.kind, f.value(fs.ReadAhead), name)
				}
			}
		}
		for name, st := range reg.SnapshotStats() {
			for _, f := range snapshotFamilies {
				ch <- prometheus.MustNewConstMetric(f.desc, f.kind, f.value(st), name)
			}
		}
		for name, st := range reg.ReplicaStats() {
			for _, f := range replicaFamilies {
				ch <- prometheus.MustNewConstMetric(f.desc, f.kind, f.value(st), name)
			}
		}
	}
	if c.src.Disk != nil {
		s := c.src.Disk.Stats()
		for _, f := range diskFamilies {
			ch <- prometheus.MustNewConstMetric(f.desc, f.kind, float64(f.value(s)))
		}
	}
	if c.src.Server != nil {
		s := c.src.Server.Stats()
		ch <- prometheus.MustNewConstMetric(connections.desc, connections.kind, float64(s.Connections))
		ch <- prometheus.MustNewConstMetric(inFlight.desc, inFlight.kind, float64(s.InFlight))
	}
}

// journalStat reads one of the local journal's counters (0 without a journal).
func journalStat(f func(journal.Stats) int64) func(lsm.Stats) float64 {
	return func(s lsm.Stats) float64 {
		if s.Journal == nil {
			return 0
		}
		return float64(f(*s.Journal))
	}
}
