// Package ratelog keeps a log line that anyone on the network can provoke
// (a call from a client no export allows, a mount of an unknown path, an
// oversized record, a failing accept) from flooding the log: a Limiter
// lets through at most one line per key (a client address) per interval,
// and the next line it lets through says how many it held back.
//
// It is a leaf: it imports nothing of the module, and every package may
// import it.
package ratelog
