// Package objstore is the object-store layer of zerofsd: the Store interface
// that everything above (cache, lsm) talks to, and its backends.
//
// Backends:
//
//   - Memory (NewMemory): a sorted map under a mutex, for unit tests.
//   - Local (NewLocal): one file per object under a directory, the embedded
//     default. Put writes a temp file, fsyncs it, renames it into place and
//     fsyncs the directory; PutIfAbsent links the temp file into place with
//     link(2), which fails when the name exists. Opening a store writes
//     nothing; Local.RemoveStaleTemps, for the store's writer, removes the
//     temp files that a crash between writing and renaming left behind,
//     once they are an hour old: another process sharing the directory may
//     still be writing a younger one (a writer stalled longer than that
//     gets an error from its rename, not a lost object).
//   - S3 (NewS3): aws-sdk-go-v2, path-style addressing for custom endpoints,
//     PutIfAbsent as PutObject with If-None-Match: *, ranged GETs, and its own
//     retry policy (exponential backoff with jitter on 5xx, throttling,
//     timeouts and connection errors; never on other 4xx answers). By
//     default an operation makes up to 12 attempts, waiting up to 100ms
//     before the first retry, doubling to 3s, with full jitter: about 10s of
//     waiting on average and at most 21s before it fails, so that a spell of
//     throttling (503 SlowDown) delays reads and writes rather than failing
//     them; a canceled context ends the retries at once. Its
//     connection settings (credentials, endpoint, region, retry policy) can
//     be replaced while it serves: NewS3Client validates them and builds a
//     client, S3.SetClient swaps it in atomically for every later request
//     attempt; the bucket and prefix never change.
//
// Wrappers:
//
//   - Counting (NewCounting): counts requests, failures and bytes by operation.
//
// A wrapper that transforms what it stores may implement PutPreparer, so
// that callers can do that work ahead of the PUT.
//
// Helpers: All and ListAll follow List's pages; ValidateKey says which keys
// every backend accepts. The contract every backend passes is the test
// suite in objstore/storetest, which also holds Prefixed, a view of a store
// under a key prefix for tests that share one bucket.
//
// Guarantees, for every backend:
//
//   - Put and PutIfAbsent are atomic: a reader sees the old object (or none)
//     or the whole new one, never a part.
//   - PutIfAbsent has exactly one winner among concurrent writers of a key;
//     the others get an error wrapping ErrPreconditionFailed.
//   - Missing objects give an error wrapping ErrNotFound; Delete of a missing
//     object succeeds.
//   - List returns keys in byte order, paginated by ListOptions.StartAfter
//     and Limit (default 1000).
//   - Errors name the operation and the key; they never contain credentials.
//
// What it does not do: no caching (package cache does), no multipart uploads
// (objects are written with single PUTs, which is what makes conditional
// writes atomic everywhere), no object versions, no listing by delimiter.
// Keys must be valid per ValidateKey; in particular no key may be a
// "directory" of another ("a" and "a/b"), because the local backend and
// versitygw's posix backend map keys to files: they refuse the second write
// with ErrKeyConflict, and so does Memory, so that unit tests catch such a
// layout; AWS S3 would accept it.
//
// A retried S3 PutIfAbsent is ambiguous when an earlier attempt reached the
// server but its answer was lost: the retry then fails with
// ErrPreconditionFailed although the object is ours. Callers that care (the
// LSM manifest and WAL writers) must re-read and decide; the store does
// not guess. A 409 ConditionalRequestConflict (S3's answer while another
// conditional write of the key is in progress, which may be our own earlier
// attempt, and may yet fail) is retried, not taken as ErrPreconditionFailed:
// it does not prove that the object exists.
package objstore
