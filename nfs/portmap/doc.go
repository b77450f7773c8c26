// Package portmap lets NFS clients find zerofsd without being told its
// port: the portmapper (program 100000) that `mount -t nfs host:/path` and
// `showmount -e host` ask first, on port 111.
//
// It does it one of two ways:
//
//   - Register and Unregister tell the host's rpcbind where the services
//     are (rpcbind v4 SET and UNSET) over its Unix socket (DefaultSocket),
//     which is how local services register with it (libtirpc's rpcb_set
//     does the same): rpcbind takes changes only from local callers, and
//     whether a call from 127.0.0.1 counts as local depends on its build
//     and options, while its Unix socket always does. Register first
//     removes every registration of the same program versions, left by a
//     run that did not stop cleanly. A wildcard listening address is
//     registered for netids tcp and tcp6 ("0.0.0.0.8.1", "::.8.1");
//     rpcbind then answers each client with the address it reached.
//   - Listen serves a portmapper of its own, on TCP and UDP, for a fixed
//     list of services on one TCP port. It answers PMAP v2 (RFC 1833
//     section 3: NULL, GETPORT, DUMP) and rpcbind v3 and v4 (section 2:
//     NULL, GETADDR, DUMP, GETTIME, and in v4 GETVERSADDR and
//     GETADDRLIST). SET and UNSET are answered FALSE: nothing else can
//     register. CALLIT (and v4 BCAST, INDIRECT), UADDR2TADDR, TADDR2UADDR
//     and GETSTAT are PROC_UNAVAIL; CALLIT in particular forwards calls
//     for anyone and is a well-known reflection vector.
//
// What a query answers:
//
//   - GETPORT and GETADDR match a program whatever the version asked, as
//     every portmapper does (the client learns the versions from the
//     service's PROG_MISMATCH); GETVERSADDR and GETADDRLIST match the
//     version exactly.
//   - The services are on TCP only: a query for UDP answers port 0 or an
//     empty address. The portmapper itself is on TCP and UDP.
//   - A universal address (RFC 1833: "h1.h2.h3.h4.p1.p2", or an IPv6
//     address followed by ".p1.p2") names the address the query was sent
//     to when the service listens on every address: over TCP the
//     connection's local address; over UDP, on Linux, the datagram's
//     destination (IP_PKTINFO), and the reply leaves from that address,
//     since a client with a connected UDP socket drops replies from any
//     other. An address of the other family than the netid asked for
//     answers "" (a query over IPv4 cannot learn the host's IPv6 address).
//   - DUMP is answered over TCP only (PROC_UNAVAIL over UDP): its reply is
//     many times its call, which would make the port a traffic amplifier
//     for forged UDP sources. rpcinfo and showmount use TCP for it.
//
// Limits: calls above 8 KiB are dropped (TCP: the connection is closed);
// at most Options.MaxConnections TCP connections are open at once (more
// are closed at once), and one idle for Options.IdleTimeout is closed.
// Credentials are not checked: every query is public, and nothing can be
// changed.
//
// Client talks to a portmapper or rpcbind (over TCP or a Unix socket) for
// registration, Probe and tests. The record marking and call headers are
// package rpc's; the encoding is package xdr's.
package portmap
