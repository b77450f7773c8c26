// Command benchfs (`make bench-fs`) measures zerofsd through the Linux
// kernel's NFS client against the alternatives, on one machine, in one run:
//
//	go run ./bench/fs [-quick] [-targets tmp,zerofs-local,...] [-workloads tar,smallfiles,...]
//	                  [-s3-latency put=20ms,get=10ms] [-net tap|user] [-rounds N]
//
// The standard report is the full run with a region's latency:
//
//	make bench-fs BENCHFS_FLAGS='-s3-latency put=20ms,get=10ms'
//
// It prepares a work directory the guest can read (default
// /var/lib/zerofs-bench: zerofsd and benchfs binaries, a tarball of
// /usr/local/go/src/go, a small multi-package Go module and a build cache
// warmed for it), starts versitygw (S3 on 127.0.0.1) with an
// internal/s3proxy in front of it, and boots one internal/nfsvm guest per
// target, which runs guest.sh:
//
//   - tmp: the guest's own tmpfs, the limit;
//   - zerofs-local: zerofsd on a local directory (sync = "commit");
//     zerofs-local-strict: the same with sync = "strict";
//   - zerofs-s3: zerofsd on S3, durability bucket (the default), sync
//     commit; zerofs-s3-strict: the same with sync = "strict";
//     zerofs-s3-local: durability = "local" (a local journal) with sync =
//     "strict" (its default); zerofs-s3-local-commit: the same with sync =
//     "commit", so that each sync mode compares with zerofs-local's in
//     the same mode; zerofs-s3-local-enc: zerofs-s3-local with
//     encryption = true (a random key file beside its config), the cost
//     of encryption. A zerofsd target has a zerofsd of its own, started for it
//     and stopped after it, with one export (/bench) and its own disk cache;
//     its config is checked (zerofsd check-config) before any guest boots,
//     and a target whose config this zerofsd refuses (durability before the
//     key exists) fails at once with zerofsd's message, its workloads
//     reported as failed;
//   - go-nfs: github.com/willscott/go-nfs serving a plain local directory
//     (bench/gonfsref, built in its own module), the cost of a
//     straightforward NFS layer with no storage engine, through the same
//     guest and relays as zerofsd;
//   - s3fs: s3fs-fuse mounted in the guest;
//   - rclone: rclone mount --vfs-cache-mode writes in the guest.
//
// Every S3 target (zerofsd's, s3fs, rclone) has a bucket named after it
// (in later rounds, after it and the round: zerofs-s3-r2, ...) and reaches
// versitygw only through the one proxy, which adds the
// -s3-latency profile (none by default; a real region is about 20 ms per
// PUT, POST and DELETE and 10 ms per GET and HEAD, s3proxy.RegionLatency)
// to every request and counts requests and bytes per bucket. The host
// serves those counters, and cold restarts, on a control port the guest
// reaches.
//
// The workloads (see the workloads table in report.go; -workloads picks
// some, adding those they need) have fixed sizes so runs compare. Loops of
// many small operations run in this same binary ("benchfs guest OP ...",
// see guest.go) so that no process starts per operation; tar, git, go
// build, find and fio are the real tools. The cold-* workloads (traverse,
// sequential and random read) each start from a restart: the guest asks
// the host to stop the target's zerofsd cleanly, empty its disk cache and
// start it again (a local journal, kept outside the cache, stays), or
// unmounts s3fs or rclone (after rclone's uploads drained), removes their
// caches and mounts them again; every target drops the guest's page cache.
// The guest times each workload with date +%s%N, including a final sync for
// the writing ones, and prints one line per workload:
//
//	BENCH <target> <workload> <nanoseconds> <count> <unit> ok
//	BENCH <target> <workload> <nanoseconds> <count> <unit> failed <reason>
//
// Before and after each workload the guest saves zerofsd's /metrics page
// (for zerofsd targets: the zerofs_objstore_* and zerofs_nfs_* counters
// give the object-store cost and the NFS calls and server time) and the
// proxy's counters (for S3 targets: requests by method and bytes up and
// down, measured the same way for every client). Before the workloads,
// the guest of every NFS target times 200 NULL calls over one connection
// ("benchfs guest rtt"): calls × that round trip is the floor of a workload
// that the client runs one call at a time, whatever the server does. While
// tar runs, the guest fetches a 20 s CPU profile from zerofsd's
// /debug/pprof; the report shows its top functions.
//
// One run of a workload moves by up to ~30% from run to run on a shared
// machine, so -rounds N (default 1) runs every target N times, interleaved:
// each round runs every target once, round k starting ⌊(k−1)·n/N⌋ of the
// n targets into the list and wrapping around, so that no target always
// runs first or last. Every round of a target starts from scratch: a
// zerofsd of its own with a fresh store, cache and journal, a fresh bucket
// (so the proxy's counters are the round's), a fresh go-nfs directory, a
// fresh guest; the data of all rounds but the last is removed once the
// round is done. Each time in the report is then the median over the rounds
// that succeeded (of an even number, the mean of the two middle ones), with
// the fastest and slowest round; a round that failed is listed as failed
// and counted out, and the cell says how many rounds it is the median of.
// Each ratio is the ratio of the two medians, with the lowest and highest
// ratio of the two within one round (which cancels the machine's slow
// drift). The per-workload detail tables (object-store cost, proxy
// requests, the guest's NFS calls) show the median round (of the two
// middle ones, the faster) with its own wall time; the round trips and CPU
// profiles are round 1's. The report states the rounds and their orders.
//
// The report goes to docs/benchmarks/<date>-<machine>[-quick].md with a PNG
// bar chart beside it (log-scale time per workload per target, drawn with
// image/png and a built-in 5×7 bitmap font; bars are the medians, with a
// line from the fastest to the slowest round). It states the guest's network
// mode (the one internal/nfsvm made for each target: -net, by default tap
// where a network namespace can be made, else user; user mode stalls on
// every request over one TCP segment, so modes never compare) and the
// latency profile, and gives the time of every target over that of tmp, of
// zerofs-local, of zerofs-local-strict when it ran and, for zerofs-s3's
// variants, of zerofs-s3. A workload that
// fails or is not reached on a target is reported as failed with its
// reason, never dropped.
//
// What it does not do: it does not run in `make test`, does not compute
// confidence intervals (medians and ranges of a few rounds only; the
// machine is shared and the guest CPU is emulated: read ratios, not
// absolute numbers), does not drop the host's page
// cache (go-nfs's cold reads are warm on the host), and sends traffic only to
// 127.0.0.1 and the VM.
package main
