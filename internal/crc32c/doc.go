// Package crc32c is the one CRC-32C (Castagnoli) of the module, the
// checksum of every block, record and object format it writes (WAL
// segments, SST blocks, manifests, disk cache entries, kvfs records) and
// of the NFS reply cache's argument digests. Spans gives the checksum of
// any span of a slice without reading the span (for scans that look for a
// record at every offset of damaged data).
//
// It is a leaf: it imports nothing of the module, and every package may
// import it. Its values are stored on disk: they are exactly hash/crc32's
// with the Castagnoli polynomial and must never change.
package crc32c
