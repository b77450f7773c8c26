// Package nfsvm runs shell scripts on a real Linux kernel NFS client: a small
// QEMU virtual machine that mounts an NFS server listening on this host's
// 127.0.0.1 and runs the script there as root. It is test support (the e2e
// kernel tests, the nfs package's kernel tests and bench/fs use it) and is
// never linked into zerofsd.
//
// Setup prepares the host once: with SetupOptions.Install it installs what
// is missing with apt-get (qemu-system-x86, a Debian kernel image, a static
// busybox, nfs-common, socat), then builds the boot image: the newest kernel
// of /boot that has its modules, and an initramfs of busybox, the kernel
// modules the guest needs (virtio, 9p, NFSv3, FUSE) and the guest's init
// (init.sh). Images live in a directory named by a hash of their inputs
// under the cache directory (DefaultCache, or $ZEROFS_NFSVM_CACHE for the
// command and ForTest), so Setup is quick when nothing changed, and test
// binaries that build at the same time do not see each other's half-written
// files.
//
// VM.Run boots the image (software emulation, TCG: compare a workload on the
// mount with the same workload on the guest's /tmp, never with absolute times
// measured elsewhere), and in the guest:
//
//   - the root file system is this host's, read-only over 9p, so every tool
//     installed here (go, tar, sha256sum, git, fio, setpriv, mount.nfs, ...)
//     is there; /tmp, /run, /root and /var/tmp are the guest's own memory
//     (PrivateDirs; keep input files elsewhere: VisibleInGuest tells);
//   - the export is mounted at $NFS (/tmp/nfs) with NFSv3 over TCP, nolock,
//     MOUNT on the same port, soft, timeo=600, retrans=2;
//   - the script runs as root in /tmp with the environment of GuestEnv plus
//     NFS_HOST and NFS_PORT (to mount more exports, or reach forwarded
//     ports) and OUT, a directory shared writable with RunOptions.OutDir;
//   - its standard output and error stream to RunOptions.Output while it
//     runs; Run returns when the guest has powered off, with an *ExitError
//     when the script exited non-zero.
//
// Networking (Result.Network says which was used): NetTap, the default
// wherever this process may make a network namespace (root and
// /dev/net/tun), gives the guest's NIC a tap device in a network namespace
// made for the run, held only by this process's file descriptors, so it
// vanishes with them. In it, a listener per forwarded port on the host
// address accepts the guest's connections, and each is relayed to the same
// port of this host's 127.0.0.1: the guest's TCP talks to the host kernel's
// TCP, and nothing but the forwarded ports is reachable (the namespace has
// no route out). NetUser, used only where no namespace can be made, is
// QEMU's user-mode network with one socat per guest connection to
// 127.0.0.1; it stalls about 40 ms on every request larger than one TCP
// segment, so never compare timings across modes. No mode sends anything
// anywhere but to 127.0.0.1.
//
// ForTest is the entry point of tests: it skips them when the harness is
// missing (or in -short mode), or fails them when ZEROFS_REQUIRE_KERNEL=1,
// as `make test` sets. internal/nfsvm/cmd/nfsvm is the same for humans:
// `go run ./internal/nfsvm/cmd/nfsvm setup`, then `... run -port P SCRIPT`.
//
// The guest keeps time with the time-stamp counter (tsc=reliable): under
// emulation Linux would fall back to the emulated HPET, which makes every
// clock read exit to QEMU, the guest slower and its speed vary between
// boots. TestRun checks that the guest's clock keeps the host's time.
//
// What it does not do: no KVM (the emulated CPU is slow: a cold `go build`
// takes minutes, prefer I/O-heavy work and warm caches), no host but Linux
// on x86-64, no distribution but Debian's packaging for Setup's installs, and
// no isolation from the host beyond the read-only view and the network
// namespace: the script is root in a guest that reads every host file.
package nfsvm
