package main

import (
	"bufio"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zerofs-go/zerofsd/internal/s3proxy"
)

// Workload describes one timed step of the guest script.
type Workload struct {
	Name  string
	Title string
	Needs []string // workloads that must run before it (they make its files)
}

// workloads lists the guest script's workloads in the order it runs them.
// The cold-* ones start from a restart: zerofsd stopped, its disk cache
// emptied and started again; s3fs and rclone unmounted, their caches
// removed and mounted again; on every target the guest's page cache
// dropped.
var workloads = []Workload{
	{"noop", "fixed cost of one step: start the loop binary, then sync", nil},
	{"smallfiles", "small files written (4 KiB each)", nil},
	{"modify", "4 KiB overwrites in the middle of 1 MiB files", nil},
	{"append", "4 KiB appends to one file (open, write, close)", nil},
	{"emptyfiles", "empty files created", nil},
	{"mkdirs", "empty directories created", nil},
	{"randread", "random 4 KiB reads, cold guest cache", nil},
	{"traverse", "find -ls of the tree, cold guest cache", nil},
	{"rename", "files renamed", []string{"smallfiles"}},
	{"delete", "files deleted", []string{"smallfiles"}},
	{"tar", "tar -xf of Go's src/go", nil},
	{"git", "git init, add -A, commit of that tree", []string{"tar"}},
	{"gobuild", "go build of a 7-package module, warm GOCACHE", nil},
	{"fio-seqwrite", "fio sequential write, 1 MiB blocks", nil},
	{"fio-seqread", "fio sequential read, 1 MiB blocks, cold guest cache", []string{"fio-seqwrite"}},
	{"fio-randwrite", "fio random write, 4 KiB blocks", []string{"fio-seqwrite"}},
	{"fio-randread", "fio random read, 4 KiB blocks, cold guest cache", []string{"fio-seqwrite"}},
	{"cold-traverse", "find -ls of the whole tree after a restart", nil},
	{"cold-seqread", "the fio file read sequentially (1 MiB blocks) after a restart", []string{"fio-seqwrite"}},
	{"cold-randread", "fio random 4 KiB reads of the fio file after a restart", []string{"fio-seqwrite"}},
}

func workloadNames() []string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.Name
	}
	return names
}

// selectWorkloads reads a comma-separated list of workloads ("" for all)
// and returns them in the guest script's order, with the workloads they
// need added.
func selectWorkloads(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return workloadNames(), nil
	}
	want := map[string]bool{}
	var add func(name string) error
	add = func(name string) error {
		for _, w := range workloads {
			if w.Name == name {
				want[name] = true
				for _, n := range w.Needs {
					if err := add(n); err != nil {
						return err
					}
				}
				return nil
			}
		}
		return fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(workloadNames(), ", "))
	}
	for _, name := range strings.Split(list, ",") {
		if err := add(strings.TrimSpace(name)); err != nil {
			return nil, err
		}
	}
	var names []string
	for _, w := range workloads {
		if want[w.Name] {
			names = append(names, w.Name)
		}
	}
	return names, nil
}

// Result is one workload on one target, as the guest reported it.
type Result struct {
	Target   string
	Workload string
	Elapsed  time.Duration
	Count    int64  // operations, files or bytes
	Unit     string // what Count counts
	OK       bool
	Reason   string // why it failed
	Round    int    // the round (0-based) of a run of several
}

// Rate is Count per second (MiB/s for bytes).
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	v := float64(r.Count) / r.Elapsed.Seconds()
	if r.Unit == "bytes" {
		v /= 1 << 20
	}
	return v
}

// RateString formats Rate with its unit.
func (r Result) RateString() string {
	if r.Unit == "bytes" {
		return fmt.Sprintf("%.1f MiB/s", r.Rate())
	}
	return fmt.Sprintf("%s %s/s", humanFloat(r.Rate()), r.Unit)
}

func humanFloat(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// parseResultLine parses "BENCH target workload ns count unit ok|failed [reason]".
func parseResultLine(line string) (Result, bool) {
	f := strings.Fields(line)
	if len(f) < 7 || f[0] != "BENCH" {
		return Result{}, false
	}
	ns, err1 := strconv.ParseInt(f[3], 10, 64)
	count, err2 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || ns < 0 || count < 0 {
		return Result{}, false
	}
	r := Result{Target: f[1], Workload: f[2], Elapsed: time.Duration(ns), Count: count, Unit: f[5]}
	switch f[6] {
	case "ok":
		r.OK = true
	case "failed":
		r.Reason = strings.Join(f[7:], " ")
		if r.Reason == "" {
			r.Reason = "no message"
		}
	default:
		return Result{}, false
	}
	return r, true
}

// parseOutput returns the results and notes in the guest's output.
func parseOutput(out string) (results []Result, notes []string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if r, ok := parseResultLine(line); ok {
			results = append(results, r)
		} else if rest, ok := strings.CutPrefix(line, "NOTE "); ok {
			notes = append(notes, rest)
		}
	}
	return results, notes
}

// completeResults adds a failed result, with reason, for every selected
// workload the guest did not report (the VM died or timed out, or the
// target could not start), so that nothing is silently missing.
func completeResults(target string, selected []string, results []Result, reason string) []Result {
	have := map[string]bool{}
	for _, r := range results {
		have[r.Workload] = true
	}
	for _, w := range selected {
		if !have[w] {
			results = append(results, Result{Target: target, Workload: w, Reason: reason})
		}
	}
	return results
}

// guestStopped is the reason of a workload the guest did not reach.
func guestStopped(runErr error) string {
	reason := "not run: the guest stopped before it"
	if runErr != nil {
		reason += " (" + runErr.Error() + ")"
	}
	return reason
}

// Cost is what one workload cost zerofsd in object-store traffic.
type Cost struct {
	Requests     map[string]int64 // by operation (get, put, ...)
	BytesRead    int64
	BytesWritten int64
	Calls        map[string]int64   // NFS calls answered, by procedure
	CallSeconds  map[string]float64 // server time spent answering them, by procedure
}

func newCost() Cost {
	return Cost{Requests: map[string]int64{}, Calls: map[string]int64{}, CallSeconds: map[string]float64{}}
}

// TotalCalls is the number of NFS calls, and ServerSeconds the time the
// server spent answering them.
func (c Cost) TotalCalls() (n int64, seconds float64) {
	for p, v := range c.Calls {
		n += v
		seconds += c.CallSeconds[p]
	}
	return n, seconds
}

// TopCalls names the procedures that took the most server time.
func (c Cost) TopCalls(k int) string {
	procs := make([]string, 0, len(c.Calls))
	for p := range c.Calls {
		procs = append(procs, p)
	}
	sort.Slice(procs, func(i, j int) bool { return c.CallSeconds[procs[i]] > c.CallSeconds[procs[j]] })
	var parts []string
	for _, p := range procs[:min(k, len(procs))] {
		parts = append(parts, fmt.Sprintf("%s %d (%s)", p, c.Calls[p], formatDuration(time.Duration(c.CallSeconds[p]*float64(time.Second)))))
	}
	return strings.Join(parts, ", ")
}

// Total is the number of requests of every operation.
func (c Cost) Total() int64 {
	var n int64
	for _, v := range c.Requests {
		n += v
	}
	return n
}

// Sub returns c - o.
func (c Cost) Sub(o Cost) Cost {
	d := newCost()
	d.BytesRead, d.BytesWritten = c.BytesRead-o.BytesRead, c.BytesWritten-o.BytesWritten
	for op, v := range c.Requests {
		if x := v - o.Requests[op]; x != 0 {
			d.Requests[op] = x
		}
	}
	for p, v := range c.Calls {
		if x := v - o.Calls[p]; x != 0 {
			d.Calls[p] = x
			d.CallSeconds[p] = c.CallSeconds[p] - o.CallSeconds[p]
		}
	}
	return d
}

// parseMetrics reads the object-store counters of one export from a
// Prometheus text page.
func parseMetrics(page, export string) Cost {
	c := newCost()
	want := fmt.Sprintf("export=%q", export)
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, "#") || !strings.Contains(line, want) {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		switch name {
		case "zerofs_objstore_requests_total":
			if _, op, ok := strings.Cut(labels, `op="`); ok {
				op = strings.TrimSuffix(op, `"`)
				c.Requests[op] += int64(v)
			}
		case "zerofs_nfs_calls_total", "zerofs_nfs_call_seconds_total":
			_, proc, ok := strings.Cut(labels, `proc="`)
			if !ok {
				continue
			}
			proc, _, _ = strings.Cut(proc, `"`)
			if name == "zerofs_nfs_calls_total" {
				c.Calls[proc] += int64(v)
			} else {
				c.CallSeconds[proc] += v
			}
		case "zerofs_objstore_read_bytes_total":
			c.BytesRead += int64(v)
		case "zerofs_objstore_written_bytes_total":
			c.BytesWritten += int64(v)
		}
	}
	return c
}

// Report is everything one run measured. Results holds every round's;
// the per-workload details (Costs, Client, S3) are those of the round the
// report shows for each target and workload (Report.shownRound), and the
// per-target ones (RTT, RTTPad, Profiles) those of the first round.
type Report struct {
	Options  Options
	Started  time.Time
	Finished time.Time
	Results  []Result
	Costs    map[string]map[string]Cost // object-store cost and NFS calls, per zerofsd target and workload
	Notes    []string
	RTT      map[string]RTT                      // NULL round trip measured in each NFS target's guest
	RTTPad   map[string]RTT                      // the same with PadBytes of arguments (two TCP segments)
	Profiles map[string]string                   // top of zerofsd's CPU profile during tar, per target
	Client   map[string]map[string]ClientOps     // the guest kernel's NFS calls, per target and workload
	S3       map[string]map[string]s3proxy.Stats // requests at the S3 proxy, per S3 target and workload
	Network  map[string]string                   // the guest's network mode (tap or user), per target
	Orders   [][]string                          // the order the targets ran in, per round
}

// RTT is the round trip of an NFS NULL call (no work on the server) from
// a program in the guest over one TCP connection: the floor of every
// synchronous NFS call the guest's kernel makes.
type RTT struct {
	PadBytes    int // bytes of arguments the calls carried
	Calls       int
	Median, P90 time.Duration
	Min         time.Duration
}

// parseRTT reads the guest's round-trip lines of target:
//
//	RTT <target> <calls> <min_ns> <median_ns> <p90_ns>
//	RTTPAD <target> <bytes> <calls> <min_ns> <median_ns> <p90_ns>
//
// padded says which of the two to return.
func parseRTT(out, target string, padded bool) (RTT, bool) {
	tag, fields := "RTT", 6
	if padded {
		tag, fields = "RTTPAD", 7
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != fields || f[0] != tag || f[1] != target {
			continue
		}
		v := make([]int64, fields-2)
		ok := true
		for i := range v {
			n, err := strconv.ParseInt(f[2+i], 10, 64)
			ok = ok && err == nil && n >= 0
			v[i] = n
		}
		if !ok {
			continue
		}
		var r RTT
		if padded {
			r.PadBytes, v = int(v[0]), v[1:]
		}
		r.Calls, r.Min, r.Median, r.P90 = int(v[0]), time.Duration(v[1]), time.Duration(v[2]), time.Duration(v[3])
		if r.Calls > 0 {
			return r, true
		}
	}
	return RTT{}, false
}

// lookup is one workload on one target over every round: its time is the
// median of the rounds that succeeded (see summary).
func (r Report) lookup(target, workload string) (Result, bool) {
	s, ok := r.summary(target, workload)
	return s.Result, ok
}

// targets are the targets with results, in allTargets' order.
func (r Report) targets() []string {
	var ts []string
	for _, t := range targetNames() {
		for _, x := range r.Results {
			if x.Target == t {
				ts = append(ts, t)
				break
			}
		}
	}
	return ts
}

// workloads are the workloads the run selected (all when none is named).
func (r Report) workloads() []string {
	if len(r.Options.Workloads) > 0 {
		return r.Options.Workloads
	}
	return workloadNames()
}

func workloadTitle(name string) string {
	for _, w := range workloads {
		if w.Name == name {
			return w.Title
		}
	}
	return ""
}

// networkLine says how the guests reached this host.
func (r Report) networkLine() string {
	modes := map[string][]string{}
	for _, t := range r.targets() {
		if m, ok := r.Network[t]; ok {
			modes[m] = append(modes[m], t)
		}
	}
	explain := map[string]string{
		"tap":  "`tap` (the guest's NIC is a tap device relayed to 127.0.0.1: the guest's TCP talks to the host kernel's TCP)",
		"user": "`user` (QEMU's user-mode network: every request larger than one TCP segment stalls ~40 ms; compare only with runs in the same mode)",
	}
	switch len(modes) {
	case 0:
		return "not recorded"
	case 1:
		for m := range modes {
			if e, ok := explain[m]; ok {
				return e
			}
			return "`" + m + "`"
		}
	}
	var parts []string
	for _, m := range slices.Sorted(maps.Keys(modes)) {
		parts = append(parts, fmt.Sprintf("`%s` for %s", m, strings.Join(modes[m], ", ")))
	}
	return "mixed, do not compare across modes: " + strings.Join(parts, "; ")
}

// latencyLine states the latency profile of the S3 proxy.
func (r Report) latencyLine() string {
	l := r.Options.S3Latency
	if l.IsZero() {
		return "none added: versitygw on 127.0.0.1 answers in about a millisecond (a real region takes 10–30 ms per PUT, 5–15 ms per GET); every S3 target still goes through the same counting proxy"
	}
	return fmt.Sprintf("`-s3-latency %s`: every request of every S3 target (zerofsd, s3fs, rclone) goes through one proxy in front of versitygw that waits GET %v, HEAD %v, PUT %v, POST %v, DELETE %v before forwarding it",
		l.String(), l.Get, l.Head, l.Put, l.Post, l.Delete)
}

// ratioTable is the time of each target over that of ref, per workload; it
// is empty when ref has no results.
// With only set, the table has the targets it accepts.
func (r Report) ratioTable(ref, what string, only func(target string) bool) string {
	ts := r.targets()
	if !slices.Contains(ts, ref) {
		return ""
	}
	var others []string
	for _, t := range ts {
		if t != ref && (only == nil || only(t)) {
			others = append(others, t)
		}
	}
	if len(others) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Ratio to %s\n\nTime of each target over that of `%s` (%s); under 1× is faster. `–`: one of the two failed.", ref, ref, what)
	if n := r.rounds(); n > 1 {
		fmt.Fprintf(&b, "\nThe ratio of the medians of %d rounds; in parentheses the lowest and highest ratio of the two within one round\n"+
			"(measured minutes apart, so the machine's slow drift cancels), with the number of rounds when not both succeeded in all.", n)
	}
	b.WriteString("\n\n| workload |")
	for _, t := range others {
		fmt.Fprintf(&b, " %s |", t)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(others)) + "\n")
	for _, w := range r.workloads() {
		fmt.Fprintf(&b, "| %s |", w)
		for _, t := range others {
			fmt.Fprintf(&b, " %s |", r.ratioCell(t, ref, w))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// proxyView is the table of the requests each S3 target sent through the
// latency proxy, per workload.
func (r Report) proxyView() string {
	if len(r.S3) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## Requests at the S3 proxy\n\n")
	b.WriteString("Counted by the proxy in front of versitygw (the same for every S3 target), in the target's bucket, between the\n")
	b.WriteString("guest's snapshots just before and after each workload. Bytes up are request bodies (uploads), bytes down\n")
	b.WriteString("response bodies (downloads, listings). Background work that outlasts a workload (zerofsd's flushes and\n")
	b.WriteString("compactions, rclone's uploads after close) is counted in the next one. The latency floor is the requests ×\n")
	b.WriteString("their method's latency: what the workload would wait if it sent them one at a time.\n\n")
	b.WriteString("| workload | target | wall time | requests | by method | bytes up | bytes down | latency floor |\n|---|---|---:|---:|---|---:|---:|---:|\n")
	for _, w := range r.workloads() {
		for _, t := range targetNames() {
			st, ok := r.S3[t][w]
			if !ok {
				continue
			}
			byMethod, total := st.Bucket(t)
			var parts []string
			var floor time.Duration
			for _, m := range slices.Sorted(maps.Keys(byMethod)) {
				parts = append(parts, fmt.Sprintf("%s %d", m, byMethod[m].Requests))
				floor += time.Duration(byMethod[m].Requests) * r.Options.S3Latency.For(m)
			}
			wall := r.shownWall(t, w)
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %s | %s |\n", w, t, wall, total.Requests, strings.Join(parts, ", "),
				formatBytes(total.RequestBytes), formatBytes(total.ResponseBytes), formatDuration(floor))
		}
	}
	return b.String()
}

func formatDuration(d time.Duration) string {
	s := d.Seconds()
	switch {
	case s >= 10:
		return fmt.Sprintf("%.1f s", s)
	case s >= 1:
		return fmt.Sprintf("%.2f s", s)
	default:
		return fmt.Sprintf("%.0f ms", s*1000)
	}
}

func formatBytes(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	default:
		return fmt.Sprintf("%d B", b)
	}
}

// ratio formats a/b of two results' times, or "–" when either failed.
func ratio(a, b Result, okA, okB bool) string {
	if !okA || !okB || !a.OK || !b.OK || b.Elapsed <= 0 {
		return "–"
	}
	return formatRatio(a.Elapsed.Seconds() / b.Elapsed.Seconds())
}

func escapeCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// roundsLine states how many rounds ran and in which orders.
func (r Report) roundsLine() string {
	n := r.rounds()
	if n == 1 {
		return "1 (one run of each target; `-rounds N` runs every target N times, interleaved, and reports medians)"
	}
	var orders []string
	for k, o := range r.Orders {
		orders = append(orders, fmt.Sprintf("round %d: %s", k+1, strings.Join(o, ", ")))
	}
	line := fmt.Sprintf("%d, interleaved: each round runs every target once, from scratch (its own zerofsd with a fresh store, cache and\n"+
		"  journal, a fresh bucket, a fresh guest); each round starts at another place of the list, spread evenly, and wraps around,\n"+
		"  so that no target always runs first or last", n)
	if len(orders) > 0 {
		line += ". Orders: " + strings.Join(orders, "; ")
	}
	return line
}

// failedRounds lists, over several rounds, every round of a workload that
// failed, with what the guest printed.
func (r Report) failedRounds() string {
	if r.rounds() == 1 {
		return ""
	}
	var b strings.Builder
	for _, w := range r.workloads() {
		for _, t := range r.targets() {
			s, _ := r.summary(t, w)
			for _, x := range s.Failed {
				fmt.Fprintf(&b, "- %s on %s, round %d: %s\n", w, t, x.Round+1, escapeCell(x.Reason))
			}
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "\nFailed rounds:\n\n" + b.String()
}

// Markdown renders the report; chart is the PNG's file name.
func (r Report) Markdown(chart string) string {
	var b strings.Builder
	o := r.Options
	mode := "full"
	if o.Quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "# File-system benchmark, %s, %s (%s run)\n\n", r.Started.Format("2006-01-02 15:04 UTC"), o.Machine, mode)
	command := o.Command
	if command == "" {
		command = "go run ./bench/fs"
	}
	fmt.Fprintf(&b, "Made by `make bench-fs` (`%s`) in %s. Every workload runs in the same\n", command, r.Finished.Sub(r.Started).Round(time.Second))
	b.WriteString("nfsvm guest (Linux kernel NFS client, emulated CPU), timed inside the guest with `date +%s%N`,\n")
	b.WriteString("each write workload including a final `sync`. Compare targets with each other and with the guest's\n")
	b.WriteString("own `/tmp` (tmpfs: the limit), not with absolute numbers from elsewhere.\n\n")
	fmt.Fprintf(&b, "- **Guest network**: %s.\n", r.networkLine())
	fmt.Fprintf(&b, "- **Guest CPUs**: %s.\n", r.cpusLine())
	b.WriteString("- **Guest clock**: the TSC (internal/nfsvm boots the guest with `tsc=reliable`; reports without this line had the\n")
	b.WriteString("  guest read the emulated HPET, which made it slower and its speed vary by up to 2× between boots).\n")
	fmt.Fprintf(&b, "- **Object-store latency**: %s.\n", r.latencyLine())
	fmt.Fprintf(&b, "- **Sizes**: %d files per small-file workload, %s fio file, %s of random 4 KiB fio I/O, tar/git of %s.\n",
		o.Files, formatBytes(o.FIOSize), formatBytes(o.FIORand), "Go's `src/go` (the 554 files of go/ast, go/parser, ...)")
	fmt.Fprintf(&b, "- **Rounds**: %s.\n", r.roundsLine())
	if ws := r.workloads(); len(ws) < len(workloads) {
		fmt.Fprintf(&b, "- **Workloads**: only %s.\n", strings.Join(ws, ", "))
	}
	b.WriteString("- **Cold workloads** (`cold-*`) start from a restart: zerofsd stopped cleanly, its disk cache emptied and started\n")
	b.WriteString("  again (a clean stop writes the memtables as SSTs; a local journal, kept outside the cache, stays); s3fs and\n")
	b.WriteString("  rclone unmounted (after rclone's uploads drained), their caches removed and mounted again; on every target the\n")
	b.WriteString("  guest's page cache dropped. tmp and go-nfs only drop the guest's cache (go-nfs reads the host's page cache, which\n")
	b.WriteString("  a shared machine does not drop). The restart is neither timed nor counted in the request tables: what zerofsd\n")
	b.WriteString("  reads as it opens the export (manifest, SST indexes) is not in the workload.\n\n")
	b.WriteString("Targets:\n\n")
	for _, t := range r.targets() {
		spec, _ := targetByName(t)
		fmt.Fprintf(&b, "- `%s`: %s.\n", t, spec.Title)
	}
	b.WriteString("\n**Noise warning**: this machine (2 cores) was shared with other work during the run, and the guest CPU is\n")
	if r.rounds() > 1 {
		b.WriteString("emulated; one run of a workload moves by up to ~30% from run to run: read the ranges of the rounds, not only the medians.\n\n")
	} else {
		b.WriteString("emulated; differences under ~30% are not meaningful.\n\n")
	}
	fmt.Fprintf(&b, "![chart](%s)\n\n", chart)

	ts := r.targets()
	b.WriteString("## Time per workload\n\n")
	if n := r.rounds(); n > 1 {
		fmt.Fprintf(&b, "Median time of the %d rounds (the rate at that time); then the fastest–slowest round. Lower time is better.\n", n)
		b.WriteString("A workload that failed in some rounds is the median of those that succeeded, with how many (the failures are listed\n")
		b.WriteString("below the table); `failed …` is what the guest printed.\n\n")
	} else {
		b.WriteString("Time (rate). Lower time is better. `failed: …` is what the guest printed.\n\n")
	}
	b.WriteString("| workload |")
	for _, t := range ts {
		fmt.Fprintf(&b, " %s |", t)
	}
	b.WriteString("\n|---|")
	for range ts {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, w := range r.workloads() {
		fmt.Fprintf(&b, "| %s (%s) |", w, workloadTitle(w))
		for _, t := range ts {
			fmt.Fprintf(&b, " %s |", r.timeCell(t, w))
		}
		b.WriteString("\n")
	}
	b.WriteString(r.failedRounds())
	b.WriteString(r.ratioTable("tmp", "the guest's tmpfs, the limit", nil))
	b.WriteString(r.ratioTable("zerofs-local", "zerofsd on a local directory: what the object store and the durability mode cost", nil))
	if slices.Contains(ts, "zerofs-local-strict") {
		b.WriteString(r.ratioTable("zerofs-local-strict", "zerofsd on a local directory with strict metadata: what the object store costs when both answer metadata only once it is durable", nil))
	}
	if slices.ContainsFunc(ts, func(t string) bool { return t == "zerofs-s3-strict" || t == "zerofs-s3-local" }) {
		b.WriteString(r.ratioTable("zerofs-s3", "zerofsd on S3 in its default modes (bucket durability, commit sync): what strict metadata and the local journal change",
			func(t string) bool { return strings.HasPrefix(t, "zerofs-s3-") }))
	}
	if slices.Contains(ts, "zerofs-s3-local-enc") {
		b.WriteString(r.ratioTable("zerofs-s3-local", "the same export unencrypted: what encryption costs",
			func(t string) bool { return t == "zerofs-s3-local-enc" }))
	}
	b.WriteString(r.proxyView())

	if n := r.rounds(); n > 1 {
		fmt.Fprintf(&b, "\n## Details of one round\n\nThe tables below show, for each workload and target, one of the %d rounds: the median round (the\n", n)
		b.WriteString("one whose time is the median of those that succeeded; of the two middle ones, the faster), with that round's own\n")
		b.WriteString("wall time; a workload that failed in every round shows its first round. The round trips and CPU profiles are round 1's.\n")
	}
	b.WriteString("\n## Object-store cost of each zerofsd workload\n\n")
	b.WriteString("From zerofsd's `/metrics` (`zerofs_objstore_*` of the export), scraped by the guest just before and after each\n")
	b.WriteString("workload. Background work (WAL flushes, L0 flushes, compaction) that finishes after a workload is counted in the next.\n\n")
	b.WriteString("NFS calls and server time come from `zerofs_nfs_calls_total` and `zerofs_nfs_call_seconds_total`: the wall time\n")
	b.WriteString("of a workload minus the server time is spent in the guest's kernel, the emulated network and the relays.\n")
	b.WriteString("Server time adds up calls answered at once, so it can exceed the wall time when the client sends calls in parallel.\n\n")
	b.WriteString("The floor is NFS calls × the median NULL round trip measured in that target's guest (below): the wall time\n")
	b.WriteString("the calls would take if the server answered in zero time and the client sent them one at a time.\n\n")
	b.WriteString("| workload | target | wall time | requests | by operation | bytes written | bytes read | NFS calls | server time | calls × RTT floor | most server time |\n|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|\n")
	for _, w := range r.workloads() {
		for _, t := range ts {
			c, ok := r.Costs[t][w]
			if !ok {
				continue
			}
			ops := make([]string, 0, len(c.Requests))
			for op, v := range c.Requests {
				ops = append(ops, fmt.Sprintf("%s %d", op, v))
			}
			sort.Strings(ops)
			wall := r.shownWall(t, w)
			calls, secs := c.TotalCalls()
			floor := "–"
			if rtt, ok := r.RTT[t]; ok {
				floor = formatDuration(time.Duration(calls) * rtt.Median)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %s | %d | %s | %s | %s |\n", w, t, wall, c.Total(), strings.Join(ops, ", "),
				formatBytes(c.BytesWritten), formatBytes(c.BytesRead), calls, formatDuration(time.Duration(secs*float64(time.Second))), floor, c.TopCalls(3))
		}
	}
	b.WriteString(r.clientView())
	if len(r.RTT) > 0 {
		b.WriteString("\n## Round trip of one NFS call from the guest\n\n")
		b.WriteString("`benchfs guest rtt`: NFS NULL calls (the server does nothing) one after another over one TCP connection\n")
		b.WriteString("from a program in the guest, before the workloads. Every synchronous call of the guest's kernel pays at least this.\n\n")
		b.WriteString("The padded NULL calls carry 2,000 bytes of arguments, so each call takes two TCP segments (like a WRITE with\n")
		b.WriteString("data), and show what the VM's network adds to such calls whatever the server.\n\n")
		b.WriteString("| target | call | calls | min | median | p90 |\n|---|---|---:|---:|---:|---:|\n")
		for _, t := range targetNames() {
			if x, ok := r.RTT[t]; ok {
				fmt.Fprintf(&b, "| %s | NULL | %d | %s | %s | %s |\n", t, x.Calls, formatDuration(x.Min), formatDuration(x.Median), formatDuration(x.P90))
			}
			if x, ok := r.RTTPad[t]; ok {
				fmt.Fprintf(&b, "| %s | NULL + %d B | %d | %s | %s | %s |\n", t, x.PadBytes, x.Calls, formatDuration(x.Min), formatDuration(x.Median), formatDuration(x.P90))
			}
		}
	}
	for _, t := range targetNames() {
		top, ok := r.Profiles[t]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\n## zerofsd CPU profile during tar (%s)\n\n", t)
		b.WriteString("20 s of `/debug/pprof/profile` taken by the guest as the tar workload starts, `go tool pprof -top`:\n\n```\n")
		b.WriteString(strings.TrimSpace(top))
		b.WriteString("\n```\n")
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes from the guests\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", escapeCell(n))
		}
	}
	b.WriteString("\n## Goals\n\n")
	b.WriteString(r.goals())
	return b.String()
}

// goals checks the measured numbers against the project's stated targets.
func (r Report) goals() string {
	var b strings.Builder
	worst := func(target string, names []string, ref string) (float64, bool) {
		w := 0.0
		for _, n := range names {
			a, okA := r.lookup(target, n)
			c, okC := r.lookup(ref, n)
			if !okA || !okC || !a.OK || !c.OK || c.Elapsed <= 0 {
				return 0, false
			}
			w = math.Max(w, a.Elapsed.Seconds()/c.Elapsed.Seconds())
		}
		return w, true
	}
	best := func(target string, names []string, ref string) (float64, bool) {
		w := math.Inf(1)
		for _, n := range names {
			a, okA := r.lookup(target, n)
			c, okC := r.lookup(ref, n)
			if !okA || !okC || !a.OK || !c.OK || c.Elapsed <= 0 {
				continue
			}
			w = math.Min(w, c.Elapsed.Seconds()/a.Elapsed.Seconds())
		}
		return w, !math.IsInf(w, 1)
	}
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	for _, t := range r.targets() {
		if spec, _ := targetByName(t); !spec.Zerofs() {
			continue
		}
		if q, ok := worst(t, []string{"tar", "git", "gobuild"}, "tmp"); ok {
			fmt.Fprintf(&b, "- %s within 3× of tmp on tar/git/build: worst %.2f× — %s\n", t, q, verdict(q <= 3))
		}
		if q, ok := worst(t, []string{"fio-seqwrite", "fio-seqread"}, "tmp"); ok {
			fmt.Fprintf(&b, "- %s sequential I/O within 2× of tmp: worst %.2f× — %s\n", t, q, verdict(q <= 2))
		}
	}
	// The same measures for go-nfs over a local directory, in the same guest:
	// what the VM's client path allows a server with no storage engine.
	if q, ok := worst("go-nfs", []string{"tar", "git", "gobuild"}, "tmp"); ok {
		fmt.Fprintf(&b, "- reference: go-nfs on a local directory, same guest: tar/git/build worst %.2f× of tmp\n", q)
	}
	if q, ok := worst("go-nfs", []string{"fio-seqwrite", "fio-seqread"}, "tmp"); ok {
		fmt.Fprintf(&b, "- reference: go-nfs on a local directory, same guest: sequential I/O worst %.2f× of tmp\n", q)
	}
	small := []string{"smallfiles", "modify", "append", "emptyfiles", "mkdirs", "rename", "delete"}
	if q, ok := best("zerofs-s3", small, "s3fs"); ok {
		fmt.Fprintf(&b, "- zerofs-s3 at least 10× faster than s3fs on small-file workloads (those s3fs completed): least %.1f× — %s\n", q, verdict(q >= 10))
	}
	if b.Len() == 0 {
		b.WriteString("- not enough results to check the goals\n")
	}
	return b.String()
}

// clientView is the table of the guest kernel's own NFS call counters.
func (r Report) clientView() string {
	if len(r.Client) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n## The guest kernel's view of its NFS calls\n\n")
	b.WriteString("From the per-op statistics of `/proc/self/mountstats` in the guest, before and after each workload. Round trip\n")
	b.WriteString("is from sending a call to its reply (network, relays and server); waited is what callers waited in total\n")
	b.WriteString("(round trip plus queueing; calls in parallel add up). Server time is zerofsd's own (`zerofs_nfs_call_seconds_total`).\n\n")
	b.WriteString("| workload | target | wall time | calls | mean round trip | waited | server time | most calls (mean round trip) |\n|---|---|---:|---:|---:|---:|---:|---|\n")
	for _, w := range r.workloads() {
		for _, t := range targetNames() {
			ops, ok := r.Client[t][w]
			if !ok {
				continue
			}
			tot := ops.Total()
			wall, mean, server := r.shownWall(t, w), "–", "–"
			if tot.Calls > 0 {
				mean = formatDuration(tot.RTT / time.Duration(tot.Calls))
			}
			if c, ok := r.Costs[t][w]; ok {
				_, secs := c.TotalCalls()
				server = formatDuration(time.Duration(secs * float64(time.Second)))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %s | %s |\n", w, t, wall, tot.Calls, mean, formatDuration(tot.Execute), server, ops.Top(4))
		}
	}
	return b.String()
}

// cpusLine says how many CPUs the guest had and what that means on the host.
func (r Report) cpusLine() string {
	n := r.Options.GuestCPUs
	if n == 0 {
		n = 2
	}
	return fmt.Sprintf("%d, emulated (each a host thread while it runs; zerofsd, the S3 server and proxy share the host's %d cores with them)", n, runtime.NumCPU())
}
