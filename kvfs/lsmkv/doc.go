// Package lsmkv runs kvfs on an lsm database: KV adapts an *lsm.DB to the
// kvfs.KV interface. It is the one adapter, used by the daemon's exports
// and by kvfs's own tests on lsm, so those tests exercise it.
//
// What it guarantees:
//   - A missing key is kvfs.ErrNoKey itself, unwrapped (negative lookups
//     are frequent and must stay cheap).
//   - A database that is fenced (another writer took over its store) or
//     opened read-only makes every failing call match kvfs.ErrKVReadOnly
//     (and so syscall.EROFS), so the layers above answer "read-only
//     filesystem" (NFS3ERR_ROFS); the lsm error stays in the chain
//     (errors.Is(err, lsm.ErrFenced)). Any other error is passed up as the
//     storage's failure, which kvfs marks (kvfs.StorageError).
//   - A kvfs batch is one lsm batch, atomic; a durable write returns once
//     the batch is in a WAL object in the store.
//
// It does not own the database: closing the filesystem leaves the
// database open.
package lsmkv
