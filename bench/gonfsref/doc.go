// Command gonfsref serves a local directory over NFSv3 with
// github.com/willscott/go-nfs. It is the reference point of the kernel-client
// benchmarks (make bench-fs): what a straightforward NFS layer over a plain
// local filesystem costs, next to zerofsd over the same client and machine.
//
// It lives in its own module so that go-nfs never becomes a dependency of
// zerofsd itself.
package main
