// Package faultstore is a test tool: an objstore.Store wrapper that injects
// errors, latency, torn writes (applied but answered with an error),
// corrupted or truncated data and a "crash" into chosen operations,
// deterministically from a seed. Tests of every layer use it to prove what
// survives a failing object store.
//
// It is kept out of package objstore (as Pebble keeps vfs/errorfs out of
// vfs) so that production code cannot reach it; internal/layering's test
// refuses any production import of it.
package faultstore
