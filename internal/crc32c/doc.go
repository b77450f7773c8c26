// Package crc32c is the one CRC-32C (Castagnoli) of the module, the
// checksum of every block, record and object format it writes (WAL
// segments, SST blocks, manifests, disk cache entries, kvfs records) and
// of the NFS reply cache's argument digests.
//
// It is a leaf: it imports nothing of the module, and every package may
// import it. Its values are stored on disk: they are exactly hash/crc32's
// with the Castagnoli polynomial and must never change.
package crc32c
