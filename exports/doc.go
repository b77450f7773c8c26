// Package exports is the export registry: it turns the [[exports]] of a
// config into served filesystems — one object store, one lsm database and
// one kvfs filesystem per export — and answers the NFS server's questions
// (which export has this mount path, which has this file-system id).
//
// Every export is independent: its own bucket/prefix or directory, its own
// database (so its own WAL, fencing and durability), its own file-handle
// namespace (the filesystem's FSID, kept in its database). Lookups take no
// lock: the set of exports is an immutable snapshot swapped atomically on
// Reload.
//
// Reload applies a new config: new exports are opened, removed ones flushed
// and closed, changed options (read_only, secure, allowed_clients, squash,
// anon_uid, anon_gid, sync) take effect for the next request; an export
// whose store changed is closed and reopened. If opening a new export fails, nothing changes and the error is
// returned: the old set keeps serving.
//
// Close flushes every export at once, each retrying failed WAL writes until
// its context ends, then closes them. An export it could not flush entirely
// is logged at ERROR, with its name, the writes not made durable (none of
// them acknowledged as durable: they are lost) or the memtables not written
// as SSTs (replayed from the WAL at the next start).
//
// It does not speak NFS (package nfs does) and knows nothing of file formats.
package exports
