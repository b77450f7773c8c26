// Package xdr encodes and decodes the External Data Representation of
// RFC 4506, the wire format of ONC RPC and NFS.
//
// It is written for the hot path of an NFS server: no reflection, encoding
// appends to a caller-owned byte slice (usually taken from a [Pool]), and
// decoding walks a byte slice without copying (opaque data and strings are
// returned as sub-slices of the input, valid as long as the input is).
//
// Every XDR item is a multiple of four bytes, big-endian:
//
//	unsigned int / int / enum / bool   [ b0 b1 b2 b3 ]
//	unsigned hyper (uint64)            [ b0 ... b7 ]
//	opaque<n> / string<n>              [ length (4) | bytes | zero pad to 4 ]
//	opaque[n] (fixed)                  [ bytes | zero pad to 4 ]
//	optional-data *T                   [ bool | T if true ]
//
// The [Decoder] has a sticky error: after the first short read, oversized
// length or bad boolean, every further read returns a zero value and Err
// reports the first failure, so a decoder of a whole structure checks the
// error once at the end. Padding bytes are not required to be zero on input.
//
// What it does not do: it knows nothing about RPC messages or NFS types
// (see package rpc and package nfs), and it does not validate UTF-8.
package xdr
