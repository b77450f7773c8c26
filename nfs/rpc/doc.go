// Package rpc implements the parts of ONC RPC version 2 (RFC 5531) that an
// NFSv3 server and its test clients need over TCP: record marking, call
// header and credential parsing, reply headers, and a pipelining client.
//
// Record marking (RFC 5531 section 11): a record is a sequence of
// fragments, each preceded by a four-byte big-endian header whose top bit
// says "last fragment" and whose low 31 bits give the fragment length:
//
//	+---+-----------------------------+------------------+
//	| L |  fragment length (31 bits)  |  fragment bytes  |  ... until L = 1
//	+---+-----------------------------+------------------+
//
// ReadRecord joins the fragments and refuses records larger than a maximum
// (ErrRecordTooLarge) so a client cannot make the server allocate without
// bound. Replies are written as a single fragment.
//
// A call message (section 9):
//
//	xid | CALL(0) | rpcvers(2) | prog | vers | proc | cred | verf | arguments
//
// where cred and verf are opaque_auth { flavor, body<400> }. AUTH_SYS
// credentials (flavor 1) are parsed by ParseAuthSys:
//
//	stamp | machinename<255> | uid | gid | gids<16>
//
// A reply is xid | REPLY(1) | MSG_ACCEPTED(0) | verf | accept_stat [| results]
// or xid | REPLY(1) | MSG_DENIED(1) | reject_stat | (mismatch_info | auth_stat).
//
// What it does not do: UDP (a datagram carries one message without record
// marking; package portmap reads its own), portmapper/rpcbind (package
// portmap), RPCSEC_GSS, or dispatching procedures (that is the server's
// job, in package nfs).
package rpc
