// Package compress is the compression of an lsm database: the codecs SST
// data blocks (package sstable) and separated values (package vlog) are
// stored with, and the one payload format both use.
//
// # Payload
//
//	+---------------------------+------------------------------------+
//	| decoded length (uvarint)  | compressed bytes (snappy block, or |
//	|                           | one zstd frame)                    |
//	+---------------------------+------------------------------------+
//
// The codec is not in the payload: the caller records it beside (a block
// trailer's compression byte, a compressed value's codec byte). Codec
// numbers are part of those formats: 0 none, 1 snappy, 2 zstd.
//
// # Guarantees
//
// Compress keeps a payload only when it saves at least an eighth of the
// input: the caller then stores the input as it is, so incompressible data
// costs nothing but the attempt. Decompress refuses a decoded length above
// its caller's limit before allocating, and returns exactly that many
// bytes or an error; it never panics on arbitrary input. It checks no
// checksum: callers check theirs over the stored bytes first.
//
// Codecs holds the state worth sharing (a zstd encoder and decoder, each
// costly to build) and is safe for concurrent use; a Compressor is one
// goroutine's scratch buffer.
package compress
