// Package kvfstest holds test suites for kvfs that run on any KV: RunModel,
// a model-based randomized test with crashes. kvfs runs it on MemKV; the
// same suite runs on an lsm-backed KV through a Store that can crash it.
package kvfstest
