// Package memtable is the in-memory write buffer of an lsm database: an
// ordered skiplist of internal entries (user key, sequence number, kind,
// value) sorted by user key ascending, then sequence number descending, so
// the newest version of a key comes first.
//
// Concurrency: one writer at a time (the database's commit pipeline
// serializes Add) and any number of concurrent readers without locks.
// Towers are linked with atomic pointers and a node is fully built before
// it is published, so a reader sees either the whole new entry or none of
// it. Readers choose what they see by sequence number: Get and iterators
// ignore entries newer than the snapshot they are given.
//
// A memtable never shrinks and never deletes entries; the database freezes
// it when it is large enough and writes it out as an SST.
package memtable
