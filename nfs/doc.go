// Package nfs serves NFSv3 (RFC 1813, program 100003 version 3) and MOUNT
// v3 (RFC 1813 appendix I, program 100005 version 3) on one TCP port, over
// ONC RPC (package rpc) and XDR (package xdr), for many exports at once.
//
// One file per procedure, named after it (nfs_read.go is READ, section
// 3.3.6; mount_mnt.go is MNT, section 5.2.1), so a reader maps the RFC to
// the code.
//
// # Concurrency
//
// Each connection has one reader goroutine that reads record-marked calls
// and starts a goroutine per call. At most MaxInFlightPerConn calls per
// connection and MaxInFlight calls in the whole server run at once; when a
// limit is reached the reader stops reading from the socket (backpressure
// through TCP). A call counts against its connection's limit until its
// reply is written (or dropped with its connection), so a client that does
// not read its replies holds at most MaxInFlightPerConn of them; past a
// bound of a 1 MiB READ reply per call slot (of the server or of one
// connection, whichever has more), replies waiting to be written in the
// whole server are reduced by closing the connection holding the most
// among those whose writes are stalled (WriteStallTimeout), never by
// making a call wait. Connections whose writes progress are not closed,
// so the replies held are bounded only by MaxConnections ×
// MaxInFlightPerConn × 1 MiB (32 GiB at the defaults): stalled
// connections hold theirs for up to WriteStallTimeout and half of it
// more (the next check), and clients that read a little at a time keep
// theirs for up to WriteTimeout. At MaxConnections a new connection takes the
// place of the one idle the longest, or is closed when every connection
// has calls in flight. Replies are written as calls complete, in any order, one
// writer at a time per connection; the client matches them by xid. A slow
// filesystem call (a cold object-store read, a flush) therefore never
// stalls unrelated calls, of the same connection or of another export, as
// long as the slow calls do not fill the limits themselves (the limits are
// per connection and per server, not per export: a Linux client shares one
// connection among its mounts of one server).
// Replies that complete while another is being written are sent together
// in one writev. On Linux, received data is acknowledged at once
// (TCP_QUICKACK), so a client whose stack holds back the rest of a record
// until the first part is acknowledged does not wait for delayed ACKs.
//
// # File handles
//
// A handle is 21 bytes (NFSv3 allows 64):
//
//	+---------+------------------+------------------+----------------+
//	| version |  fsid (8, BE)    |  inode id (8, BE)| generation (4) |
//	|   (1)   |                  |                  |                |
//	+---------+------------------+------------------+----------------+
//
// The fsid is the export's Filesystem.FSID, stored in its database, so
// handles survive restarts. A handle of the wrong length or version is
// NFS3ERR_BADHANDLE; an unknown fsid, a deleted inode or a generation
// mismatch is NFS3ERR_STALE. Handles are not secrets: every call checks
// again that the client may use the export the handle names.
//
// An attribute whose kvfs.Attr.FSID is set names an inode of another
// filesystem (a mount point: a snapshot's root in the snapshot directory):
// its fattr3 and handle carry that FSID, so the Linux client makes a
// submount there and sends the calls under it to the export that ExportSet
// finds for that FSID.
//
// # Access rules
//
// A connection from an address that no export's AllowedClients allows (in
// the ExportSet as it is when the connection arrives) is closed at once.
// Every call checks the export's AllowedClients against the client's IP
// (MNT3ERR_ACCES / NFS3ERR_ACCES), read-only exports refuse every mutating
// procedure with NFS3ERR_ROFS (and ACCESS never grants MODIFY, EXTEND or
// DELETE on them), and the AUTH_SYS identity is squashed per export
// (SquashRoot, SquashAll). AUTH_NONE callers act as the anonymous user
// (AnonUID/AnonGID, taken as given: 0 is root); other flavors are refused
// with AUTH_TOOWEAK, malformed AUTH_SYS credentials with AUTH_BADCRED.
// On an export with Secure, MNT and every call on its handles from a client
// source port of 1024 or above are refused with AUTH_TOOWEAK (NULL, EXPORT,
// DUMP, UMNT and UMNTALL are not). EXPORT lists only the exports the
// caller's address may mount, and no access list: no group for an export
// open to everyone, the caller's own address for a restricted one. DUMP
// lists only the mounts of those exports, up to 64 KiB of entries; the
// mount table it reads keeps the 4096 most recent mounts.
//
// # Durability
//
// WRITE with UNSTABLE applies the data and answers UNSTABLE with the
// export's write verifier: the server's own, random at each start, combined
// with Export.WriteVerifier, which names the open instance of the export's
// storage. It changes when the server restarts and when the export's storage
// is reopened under the same FSID, so clients resend uncommitted data then;
// it stays while the same instance serves, whatever else about the export
// changes (name, path, options). WRITE with DATA_SYNC or FILE_SYNC
// calls Filesystem.Flush before answering FILE_SYNC; COMMIT calls Flush
// before answering. With Export.StrictSync, CREATE, MKDIR, SYMLINK, MKNOD,
// REMOVE, RMDIR, RENAME, LINK and SETATTR flush before their reply.
//
// # Weak cache consistency
//
// The wcc_data of WRITE, SETATTR, CREATE, MKDIR, SYMLINK, MKNOD, REMOVE,
// RMDIR, RENAME (both directories) and LINK (the directory; the file's
// post-operation attributes) is the Change the filesystem returns, whose
// Before and After it read under the lock of the change: a client whose
// cache matches Before knows that no other client changed the object in
// between. Replies to failed procedures and to COMMIT, which change
// nothing, carry post-operation attributes only (pre-operation attributes
// read outside that lock could hide another client's change).
//
// # Retransmissions
//
// A duplicate request cache keeps the replies of the last ReplyCacheSize
// non-idempotent calls (SETATTR, CREATE, MKDIR, SYMLINK, MKNOD, REMOVE,
// RMDIR, RENAME, LINK), keyed by client IP, xid, procedure and a checksum of
// the arguments: a client resending a call whose reply it lost gets the
// first reply instead of a spurious NFS3ERR_EXIST or NFS3ERR_NOENT, and a
// resend that arrives while the first is still running is dropped.
//
// # Directory cookies
//
// READDIR and READDIRPLUS add "." and ".." themselves. Wire cookie 0 starts
// a listing, 1 resumes after ".", 2 after "..", and a filesystem cookie c
// (opaque, from Filesystem.ReadDir) travels as c+2. The cookie verifier is
// always zero and is not checked (a stale cookie resumes at the next entry).
//
// # Errors
//
// Filesystem errors are syscall.Errno values mapped to NFS3ERR_* codes
// (ENOENT to NOENT, and so on); kvfs.ErrNotSync is NFS3ERR_NOT_SYNC;
// anything else is a failure of the storage under the filesystem (an object
// store unreachable through its retries, a corrupt object) and answers
// NFS3ERR_IO (EIO at the client), logged with the export name and
// procedure. A handler that panics is recovered, logged, and answered
// with NFS3ERR_SERVERFAULT. Undecodable arguments get GARBAGE_ARGS; a broken
// record (bad framing, above MaxRecordSize) closes the connection.
//
// # Shutdown
//
// Server.Shutdown stops accepting connections and reading calls, and waits
// for the calls in flight to be answered. Past its deadline it cancels the
// contexts of the calls still running (a call waiting on a stalled store
// gives up unanswered: nothing it did was acknowledged), closes every
// connection, and returns within CancelWait even if a call ignores its
// context, reporting how many calls were cut off.
//
// # Observability
//
// Logs go to slog with the export name and procedure on errors; per-call
// debug logging is off unless the logger enables the debug level. The
// lines any host can provoke (a refused mount or call, an oversized
// record, a refused connection) are written at most once per client
// address and message a minute, the next one counting those held back. Statuses
// are logged by their RFC 1813 names (Status.String, MountStatus.String:
// NFS3ERR_IO, MNT3ERR_ACCES). An optional Observer receives every answered
// call (export, procedure, status, latency, sizes) for metrics, and
// Server.Stats reports connections, calls in flight and replies waiting
// to be written.
//
// What it does not do: UDP, NLM locking, NFSv4, or RPCSEC_GSS; the
// portmapper (serving one, or registering with rpcbind) is package portmap. The export registry (reload, configuration) lives in package
// exports, behind the ExportSet interface.
package nfs
