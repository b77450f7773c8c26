// Package require decides what a test does when the host lacks something it
// needs (versitygw, the kernel-client VM, a Debian tool, port 111, root):
// Missing skips the test, or fails it when the environment variable that
// guards that kind of need is "1". `make test` sets all of them, so a test
// suite run there never passes by skipping.
//
//   - ZEROFS_REQUIRE_S3: versitygw (internal/testenv's S3 server);
//   - ZEROFS_REQUIRE_KERNEL: the kernel NFS client VM (internal/nfsvm) and
//     the host kernel it boots;
//   - ZEROFS_REQUIRE_HOST: host tools and privileges (libnfs-utils,
//     nfs-common, rpcbind, cpio; port 111 and ports below 1024, which need
//     root). scripts/test-deps.sh installs the tools.
//
// It imports nothing of the module, so every test support package (also
// internal/nfsvm, which imports nothing else of ours) may use it.
package require
