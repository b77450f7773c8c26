// Package e2e holds the end-to-end tests of zerofsd: the real binary, started
// and killed as a process, with real clients — the Go NFS client and our own
// nfsclient over loopback, libnfs' command-line tools, and the Linux kernel
// client in a VM through internal/nfsvm (skipped when the VM harness is
// missing, failed instead under ZEROFS_REQUIRE_KERNEL=1 as `make test` sets).
// It has no code of its own outside tests.
package e2e
