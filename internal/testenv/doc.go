// Package testenv provides shared test fixtures: a real S3-compatible server
// (versitygw, started once per test binary on 127.0.0.1) with a fresh bucket
// per caller.
//
// Use:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }  // stops the server at exit
//
//	func TestSomething(t *testing.T) {
//		store := testenv.S3Store(t)        // objstore.Store on a fresh bucket
//		env := testenv.S3(t)               // or the endpoint and credentials
//		acct := testenv.NewS3Account(t)    // a second key pair; acct.Revoke(t) deletes it
//		...
//	}
//
// versitygw is looked up on PATH, then in $(go env GOPATH)/bin (GOPATH
// defaulting to ~/go). When it is missing, tests calling S3 are skipped with
// a message saying how to install it, unless ZEROFS_REQUIRE_S3=1, which
// makes them fail instead (package require, beside this one, decides that
// for every kind of host requirement).
//
// The server is started in its own process group and dies with the test
// binary even without Main (the parent-death signal of a thread that never
// exits), but only Main removes its temporary root directory at once; a
// later start removes the directories of test binaries that have exited.
//
// This is the one package allowed a per-process singleton (the server): it
// is test-only, and a server per test would cost a second each.
//
// DialGoNFS connects the go-nfs-client library, retrying the random local
// port it binds when that port is taken.
//
// CPUTime returns the process's CPU time, for benchmarks that report CPU
// time per operation beside wall time.
//
// Note: versitygw's posix backend cannot hold both a key "p" and "p/q".
//
// WaitParked waits until a goroutine is parked (on a select, a channel, a
// mutex) in a given function, read from a goroutine dump: a test waits for
// one to reach the point where it blocks instead of sleeping and hoping.
//
// Port111 serializes the tests that use port 111 (a portmapper, rpcbind),
// across packages, with an flock on Port111LockFile, and skips a test when
// the port cannot be had (fails it under ZEROFS_REQUIRE_HOST=1); RPCBind
// runs the host's rpcbind under that lock.
//
// FailingAccepts wraps a listener so that its first Accepts fail as the
// kernel's do when file descriptors run out (EMFILE), for tests of accept
// loops.
package testenv
