// Package metrics exposes zerofsd's Prometheus metrics with the standard
// client library (prometheus/client_golang): NFS and MOUNT calls by export,
// procedure and status (RFC 1813 names such as NFS3ERR_IO) with latency
// histograms per procedure, object-store requests, bytes and latency
// histograms per export and operation, LSM state per export, the disk
// cache, server connections, and the Go runtime and process collectors.
//
// Counters kept by the packages themselves (objstore.Counting, lsm.Stats,
// cache.DiskStats, nfs.ServerStats) are read at scrape time by a collector,
// so the data path pays nothing for them; only call and request latencies
// are observed as they happen (one histogram observation each).
//
// Serve starts the HTTP endpoint: /metrics, and Go's profiles under
// /debug/pprof/ on the same operator-only address.
package metrics
