// Package crypt is encryption at rest for an export: an objstore.Store
// wrapper that seals every object written through it with an AEAD and
// authenticates every byte read back, and the keyring that holds the
// export's data key in its own store, locked by a passphrase or a key file.
//
// An export's stack, with encryption:
//
//	lsm --> crypt (Sealer.Wrap) --> cache (disk cache: ciphertext) --> objstore
//	    \-> crypt (Sealer.Wrap) ----------------------------------> objstore
//
// Decrypted bytes live only in memory (lsm's block cache, and the Sealer's
// frame cache); the bucket and the local disk cache hold only what this
// package wrote.
//
// # Guarantees
//
//   - Confidentiality of contents: file data, names, attributes, the tree,
//     the kvfs records, the LSM's keys, WAL records and manifests are all
//     inside sealed objects. The keyring holds the data key only wrapped.
//   - Integrity: a read returns the bytes written under that name in this
//     export, or an error wrapping ErrTampered that names the object (and a
//     log line naming it). A flipped bit anywhere, frames swapped or moved,
//     a truncated or extended object, an object renamed, or an object copied
//     from another export (or written with another data key) are detected
//     on the read that touches the damaged part; wrong data is never
//     returned. Get checks the whole object; GetRange checks the header and
//     the frames it returns (bytes appended after the last frame are caught
//     by Get, ignored by GetRange).
//   - A wrong key is refused by Open before anything else touches the
//     store, so opening with a wrong key never fences a running writer.
//   - Rotate re-locks the data key under a new credential without rewriting
//     data, crash-safe: the export always opens with the old or the new
//     credential, never with neither.
//
// # What it does not protect (what stays in the clear)
//
// Object names (hence manifest and WAL ids, the creation time in
// milliseconds of every SST and value object, restore markers' writer
// epochs, and replica lease names, which hold the replica's host name and
// process id), object sizes (the plaintext size plus 64
// bytes and 16 per 4 KiB; for SSTs the compressed size),
// the number of objects, and the timing of writes, reads and deletes. The
// keyring's export id, salt and Argon2id parameters (not secrets). Nothing
// protects against deletion or rollback of whole objects by someone with
// write access to the bucket (deleting the newest manifest and WAL objects
// brings the export back to an earlier state; deleting the keyring makes it
// unreadable). Compression runs before encryption, so object sizes reflect
// how well the data compressed. The data key is never changed: Rotate
// changes what locks it; a leaked data key (or passphrase before rotation,
// together with a copy of the old keyring) needs a new export.
//
// # Choice of cipher
//
// AES-256-GCM from the standard library: it runs at several GB/s with the
// AES and carry-less multiplication instructions of every server CPU of the
// last decade (amd64 and arm64), where XChaCha20-Poly1305 measured about
// half as fast here, and it needs no dependency. GCM's 96-bit nonce is no
// limit: every object has its own key (HKDF-SHA256 of the data key and a
// random 256-bit salt), which seals only that object once, so the frame
// index is a unique nonce.
//
// # Object format (version 1, integers big-endian)
//
//	+--------+---------+----------+-----------+----------------+------------+
//	| magic  | version | reserved | salt      | plaintext len  | header tag |
//	| "ZFSC" |    1    |  3 x 0   | 32 bytes  | uint64         | 16 bytes   |
//	+--------+---------+----------+-----------+----------------+------------+
//	| frame 0: ciphertext of plaintext [0, 4 KiB) | tag (16)              |
//	| frame 1: ciphertext of plaintext [4 KiB, 8 KiB) | tag (16)          |
//	| ...                                                                  |
//	| last frame: the rest (1 to 4 KiB) | tag (16)                        |
//	+----------------------------------------------------------------------+
//
// The header is 64 bytes; an empty object is the header alone. The stored
// size is exactly 64 + L + 16 * ceil(L / 4 KiB) for L plaintext bytes, so
// a plaintext range maps to its frames without reading anything, and Head
// and List report plaintext sizes computed from stored sizes.
//
//	object key  = HKDF-SHA256(secret: data key, salt: object salt,
//	                          info: "zerofsd crypt v1 object key" || export id)
//	nonce       = kind (1: 'H' header, 'F' frame) || 3 x 0 || frame index (8)
//	AD          = export id (16) || kind (1) || last-frame flag (1)
//	              || frame index (8) || len(name) (2) || name
//	              || (header only) the header's first 48 bytes
//	header tag  = AES-256-GCM(object key, nonce 'H', AD, empty plaintext)
//
// So a frame verifies only at its index, as the last frame or not, in its
// object under its name, in its export, with its header's salt; and the
// header's length and salt verify only with the data key.
//
// Frames are 4 KiB, the LSM's block size: a point read of one block
// decrypts one or two frames. Measured per 4 KiB ranged read (CPU time,
// crypt's BenchmarkGetRange): about 9 µs with 4 KiB frames, 20 µs with 16
// KiB, 60 µs with 64 KiB, for 0.4% more stored bytes than 64 KiB frames.
//
// Reads decrypt the frames in place, in the bytes the store below returned
// (objstore.Store gives them to the caller), and move the plaintext
// together: a read allocates nothing beyond what the store returns.
//
// Ranged reads fetch the covering frames and, unless it is cached, the
// header (in the same request when the frames are near the start, else
// concurrently). Verified headers, with their derived keys, are kept in a
// small in-memory LRU per Sealer; writes through the Sealer put theirs
// there at once. Like the disk cache, it assumes that objects are immutable
// once written (the LSM never rewrites a name).
//
// With Options.FrameCacheBytes, a Sealer also keeps decrypted frames in a
// bounded in-memory LRU, keyed by the verified header they were opened
// under (its derived key) and their index. Only frames that authenticated
// enter it. A ranged read whose header is cached takes the frames it holds
// from there and reads and opens one span, from the first frame it lacks
// to the last: a warm read of file data (the LSM reads values from the
// disk cache on every read) or of an SST block straddling two frames
// decrypts nothing again while its frames stay cached. Whole-object reads
// (Get) and writes do not fill it.
//
// # Local journal keys
//
// An export with durability = "local" keeps its unshipped writes in a local
// journal (package lsm/journal), sealed too when the export is encrypted.
// JournalKey gives the journal the AES-256-GCM of one journal file:
//
//	journal key = HKDF-SHA256(secret: data key, salt: the file's salt,
//	                          info: "zerofsd crypt v1 journal key" || export id)
//
// The same hierarchy as object keys (the data key, a random 256-bit salt
// per file), in a domain of its own. The journal's file format, with its
// nonces and associated data, is drawn in lsm/journal's package comment.
//
// # Keyring format (version 1)
//
// Objects keyring/<20-digit id>.key in the export's store, stored as they
// are (not sealed), 128 bytes:
//
//	+--------+---------+------+----------+-----------+----------+
//	| "ZFSK" | version | kind | reserved | export id | KDF salt |
//	|   4    |  1 (1)  |  1   |  2 x 0   |    16     |    32    |
//	+--------+---------+------+----------+-----------+----------+
//	| Argon2id time (4) | memory KiB (4) | threads (1) | 3 x 0    |
//	+-------------------+----------------+-------------+----------+
//	| nonce (12) | wrapped data key (32) | tag (16)               |
//	+------------+-----------------------+------------------------+
//
// kind 1 is a passphrase (key-encryption key = Argon2id(passphrase, salt,
// time, memory, threads)), kind 2 a key file (key-encryption key =
// HKDF-SHA256(file key, salt, "zerofsd crypt v1 keyring key"); the Argon2id
// fields are zero). The data key is sealed with AES-256-GCM under the
// key-encryption key, with the first 68 bytes as associated data, so the
// parameters, the kind and the export id cannot be changed either.
//
// The highest id is the newest. Open tries them newest first and uses the
// first that the credential unlocks. Rotate writes id+1 with PutIfAbsent,
// then deletes the others.
package crypt
