// Package nfsclient is a small NFSv3 and MOUNT v3 client on packages rpc
// and xdr, for tests and tools: every procedure, typed results, many calls
// in flight at once over one connection (calls from several goroutines are
// pipelined and their replies matched by xid).
//
// A non-OK nfsstat3 or mountstat3 is returned as a *StatusError; RPC-level
// failures (GARBAGE_ARGS, PROC_UNAVAIL, AUTH_ERROR...) as a *rpc.ReplyError.
//
// What it does not do: retransmit, cache, follow paths, or speak UDP or the
// portmapper. It is not meant for production mounts.
package nfsclient
