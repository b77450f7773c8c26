// Command benchfs (`make bench-fs`) measures zerofsd through the Linux
// kernel's NFS client against the alternatives, on one machine, in one run:
//
//	go run ./bench/fs [-quick] [-targets tmp,zerofs-local,zerofs-s3,go-nfs,s3fs,rclone]
//
// It prepares a work directory the guest can read (default
// /var/lib/zerofs-bench: zerofsd and benchfs binaries, a tarball of
// /usr/local/go/src/go, a small multi-package Go module and a build cache
// warmed for it), starts versitygw (S3 on 127.0.0.1) and one zerofsd with two
// exports (/local on a local directory, /s3 on versitygw), then boots one
// nfsvm guest per target and runs guest.sh there:
//
//   - tmp: the guest's own tmpfs, the limit;
//   - zerofs-local, zerofs-s3: the NFS mount of the matching export;
//   - go-nfs: github.com/willscott/go-nfs serving a plain local directory
//     (bench/gonfsref, built in its own module), the cost of a
//     straightforward NFS layer with no storage engine, through the same
//     guest and relays as zerofsd;
//   - s3fs: s3fs-fuse mounted in the guest over the same versitygw;
//   - rclone: rclone mount --vfs-cache-mode writes over the same versitygw.
//
// The workloads (see the workloads table in report.go) have fixed sizes so
// runs compare. Loops of many small operations run in this same binary
// ("benchfs guest OP ...", see guest.go) so that no process starts per
// operation; tar, git, go build, find and fio are the real tools. The guest
// times each workload with date +%s%N, including a final sync for the writing
// ones, and prints one line per workload:
//
//	BENCH <target> <workload> <nanoseconds> <count> <unit> ok
//	BENCH <target> <workload> <nanoseconds> <count> <unit> failed <reason>
//
// For zerofsd targets the guest also saves zerofsd's /metrics page before and
// after each workload (the metrics port is forwarded into the guest); the
// difference of the zerofs_objstore_* counters of the export is the
// object-store cost of the workload, and the zerofs_nfs_* counters give the
// NFS calls and the server time each workload took. Before the workloads,
// the guest of every NFS target times 200 NULL calls over one connection
// ("benchfs guest rtt"): calls × that round trip is the floor of a workload
// that the client runs one call at a time, whatever the server does. While
// tar runs, the guest fetches a 20 s CPU profile from zerofsd's
// /debug/pprof; the report shows its top functions.
//
// The report goes to docs/benchmarks/<date>-<machine>[-quick].md with a PNG
// bar chart beside it (log-scale time per workload per target, drawn with
// image/png and a built-in 5×7 bitmap font). A workload that fails or is not
// reached on a target is reported as failed with its reason, never dropped.
//
// What it does not do: it does not run in `make test`, does not repeat runs
// or compute confidence intervals (the machine is shared and the guest CPU is
// emulated: read ratios, not absolute numbers), and sends traffic only to
// 127.0.0.1 and the VM.
package main
