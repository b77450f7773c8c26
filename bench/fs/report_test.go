package main

import (
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/internal/s3proxy"
)

func TestParseResultLine(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		want Result
	}{
		{"BENCH tmp smallfiles 1500000000 1000 files ok", true,
			Result{Target: "tmp", Workload: "smallfiles", Elapsed: 1500 * time.Millisecond, Count: 1000, Unit: "files", OK: true}},
		{"BENCH s3fs git 42 554 files failed fatal: Unable to create '.git/index.lock'", true,
			Result{Target: "s3fs", Workload: "git", Elapsed: 42, Count: 554, Unit: "files", Reason: "fatal: Unable to create '.git/index.lock'"}},
		{"BENCH s3fs git 42 554 files failed", true,
			Result{Target: "s3fs", Workload: "git", Elapsed: 42, Count: 554, Unit: "files", Reason: "no message"}},
		{"BENCH tmp x 1 1 files maybe", false, Result{}},
		{"BENCH tmp x -1 1 files ok", false, Result{}},
		{"BENCH tmp x abc 1 files ok", false, Result{}},
		{"NOTE tmp mounted", false, Result{}},
		{"", false, Result{}},
	}
	for _, tt := range tests {
		got, ok := parseResultLine(tt.line)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseResultLine(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestResultRate(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{Result{Elapsed: 2 * time.Second, Count: 1000, Unit: "files"}, "500 files/s"},
		{Result{Elapsed: 4 * time.Second, Count: 32 << 20, Unit: "bytes"}, "8.0 MiB/s"},
		{Result{Elapsed: 0, Count: 5, Unit: "builds"}, "0.00 builds/s"},
	}
	for _, tt := range tests {
		if got := tt.r.RateString(); got != tt.want {
			t.Errorf("%+v: RateString() = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestParseOutputAndComplete(t *testing.T) {
	out := "noise\nNOTE zerofs-s3 mounted: x\nBENCH zerofs-s3 smallfiles 10 5 files ok\nBENCH zerofs-s3 tar 20 554 files failed disk full\n"
	results, notes := parseOutput(out)
	if len(results) != 2 || len(notes) != 1 || notes[0] != "zerofs-s3 mounted: x" {
		t.Fatalf("parseOutput: %+v, %q", results, notes)
	}
	all := completeResults("zerofs-s3", workloadNames(), results, guestStopped(nil))
	if len(all) != len(workloads) {
		t.Fatalf("completeResults: %d results, want one per workload (%d)", len(all), len(workloads))
	}
	if some := completeResults("zerofs-s3", []string{"tar", "git"}, nil, "not run: refused"); len(some) != 2 || some[1].Workload != "git" || some[1].Reason != "not run: refused" {
		t.Errorf("completeResults of two selected workloads = %+v", some)
	}
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.Workload] {
			t.Errorf("workload %s reported twice", r.Workload)
		}
		seen[r.Workload] = true
		if r.Workload != "smallfiles" && r.OK {
			t.Errorf("%s: reported ok, but the guest never said so", r.Workload)
		}
		if !r.OK && r.Reason == "" {
			t.Errorf("%s: failed without a reason", r.Workload)
		}
	}
}

const metricsBefore = `# HELP zerofs_objstore_requests_total Object-store requests by export and operation.
# TYPE zerofs_objstore_requests_total counter
zerofs_objstore_requests_total{export="local",op="get"} 3
zerofs_objstore_requests_total{export="local",op="put"} 10
zerofs_objstore_requests_total{export="s3",op="put"} 100
zerofs_objstore_read_bytes_total{export="local",op="get"} 300
zerofs_objstore_written_bytes_total{export="local",op="put"} 4096
zerofs_lsm_tables{export="local"} 7
`

const metricsAfter = `zerofs_objstore_requests_total{export="local",op="get"} 3
zerofs_objstore_requests_total{export="local",op="put"} 14
zerofs_objstore_requests_total{export="local",op="delete"} 2
zerofs_objstore_requests_total{export="s3",op="put"} 900
zerofs_objstore_read_bytes_total{export="local",op="get"} 300
zerofs_objstore_written_bytes_total{export="local",op="put"} 10000
zerofs_lsm_tables{export="local"} 9
zerofs_nfs_calls_total{export="local",proc="COMMIT",status="0"} 5
zerofs_nfs_call_seconds_total{export="local",proc="COMMIT",status="0"} 0.5
zerofs_nfs_calls_total{export="s3",proc="COMMIT",status="0"} 50
`

func TestParseMetricsDifference(t *testing.T) {
	d := parseMetrics(metricsAfter, "local").Sub(parseMetrics(metricsBefore, "local"))
	if d.Total() != 6 || d.Requests["put"] != 4 || d.Requests["delete"] != 2 || len(d.Requests) != 2 {
		t.Errorf("requests = %v (total %d), want put 4, delete 2", d.Requests, d.Total())
	}
	if d.BytesWritten != 10000-4096 || d.BytesRead != 0 {
		t.Errorf("bytes written %d read %d, want %d and 0", d.BytesWritten, d.BytesRead, 10000-4096)
	}
	if n, secs := d.TotalCalls(); n != 5 || secs != 0.5 || d.TopCalls(2) != "COMMIT 5 (500 ms)" {
		t.Errorf("calls %d in %v s, top %q; want 5 COMMITs in 0.5 s", n, secs, d.TopCalls(2))
	}
	if s3 := parseMetrics(metricsAfter, "s3"); s3.Total() != 900 {
		t.Errorf("s3 export total = %d, want 900", s3.Total())
	}
}

func sampleReport() Report {
	r := Report{Options: Options{Quick: true, Files: 10, FIOSize: 1 << 20, FIORand: 1 << 16, Machine: "m"},
		Costs: map[string]map[string]Cost{"zerofs-s3": {"tar": {Requests: map[string]int64{"put": 3}, BytesWritten: 5000, Calls: map[string]int64{"CREATE": 2}, CallSeconds: map[string]float64{"CREATE": 0.01}}}}}
	for i, tgt := range []string{"tmp", "zerofs-s3", "s3fs"} {
		for _, w := range workloads {
			r.Results = append(r.Results, Result{Target: tgt, Workload: w.Name, Elapsed: time.Duration(i+1) * 300 * time.Millisecond, Count: 10, Unit: "files", OK: tgt != "s3fs" || w.Name != "git", Reason: "boom"})
		}
	}
	return r
}

func TestMarkdownShowsFailuresAndCosts(t *testing.T) {
	md := sampleReport().Markdown("x.png")
	for _, want := range []string{"failed: boom", "| tar | zerofs-s3 | 600 ms | 3 | put 3 |", "![chart](x.png)", "zerofs-s3 within 3× of tmp"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, " rclone |") {
		t.Errorf("report has a column for a target that did not run")
	}
}

func TestWriteChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.png")
	if err := writeChart(path, sampleReport()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 400 {
		t.Errorf("chart is %v, too small to read", b)
	}
}

func TestGlyphsWellFormed(t *testing.T) {
	for r, g := range glyphs {
		for i, row := range g {
			if len(row) != 5 || strings.Trim(row, ".#") != "" {
				t.Errorf("glyph %q row %d = %q, want 5 of . or #", r, i, row)
			}
		}
	}
}

func FuzzParseResultLine(f *testing.F) {
	f.Add("BENCH tmp smallfiles 1500000000 1000 files ok")
	f.Add("BENCH s3fs git 42 554 files failed reason here")
	f.Add("BENCH a b 1 2 c")
	f.Fuzz(func(t *testing.T, line string) {
		r, ok := parseResultLine(line)
		if !ok {
			return
		}
		if r.Elapsed < 0 || r.Count < 0 {
			t.Errorf("%q: negative fields in %+v", line, r)
		}
		if !r.OK && r.Reason == "" {
			t.Errorf("%q: a failure without a reason", line)
		}
	})
}

func TestParseRTT(t *testing.T) {
	const out = "NOTE x\nRTT zerofs-local 200 3000000 4900000 6100000\nRTTPAD zerofs-local 2000 200 40000000 44000000 45000000\n"
	tests := []struct {
		out    string
		target string
		padded bool
		ok     bool
		want   RTT
	}{
		{out, "zerofs-local", false, true,
			RTT{Calls: 200, Min: 3 * time.Millisecond, Median: 4900 * time.Microsecond, P90: 6100 * time.Microsecond}},
		{out, "zerofs-local", true, true,
			RTT{PadBytes: 2000, Calls: 200, Min: 40 * time.Millisecond, Median: 44 * time.Millisecond, P90: 45 * time.Millisecond}},
		{"RTT go-nfs 200 1 2 3\n", "zerofs-local", false, false, RTT{}},
		{"RTT go-nfs 200 1 2 3\n", "go-nfs", true, false, RTT{}},
		{"RTT zerofs-s3 0 1 2 3\n", "zerofs-s3", false, false, RTT{}},
		{"RTT zerofs-s3 10 1 2\n", "zerofs-s3", false, false, RTT{}},
		{"RTT zerofs-s3 10 1 x 3\n", "zerofs-s3", false, false, RTT{}},
		{"RTT zerofs-s3 10 1 -2 3\n", "zerofs-s3", false, false, RTT{}},
		{"RTTPAD zerofs-s3 2000 10 1 2\n", "zerofs-s3", true, false, RTT{}},
	}
	for _, tt := range tests {
		got, ok := parseRTT(tt.out, tt.target, tt.padded)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseRTT(%q, %s, %v) = %+v, %v; want %+v, %v", tt.out, tt.target, tt.padded, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMarkdownShowsRoundTripFloorAndProfile(t *testing.T) {
	rep := Report{
		Options: Options{Files: 10, Machine: "m"},
		Results: []Result{
			{Target: "tmp", Workload: "tar", Elapsed: time.Second, Count: 554, Unit: "files", OK: true},
			{Target: "zerofs-local", Workload: "tar", Elapsed: 20 * time.Second, Count: 554, Unit: "files", OK: true},
			{Target: "go-nfs", Workload: "tar", Elapsed: 40 * time.Second, Count: 554, Unit: "files", OK: true},
			{Target: "tmp", Workload: "git", Elapsed: time.Second, Count: 554, Unit: "files", OK: true},
			{Target: "go-nfs", Workload: "git", Elapsed: 10 * time.Second, Count: 554, Unit: "files", OK: true},
			{Target: "tmp", Workload: "gobuild", Elapsed: time.Second, Count: 1, Unit: "builds", OK: true},
			{Target: "go-nfs", Workload: "gobuild", Elapsed: 2 * time.Second, Count: 1, Unit: "builds", OK: true},
		},
		Costs: map[string]map[string]Cost{"zerofs-local": {"tar": {
			Requests: map[string]int64{}, Calls: map[string]int64{"WRITE": 1000, "CREATE": 1000},
			CallSeconds: map[string]float64{"WRITE": 1, "CREATE": 0.5}}}},
		RTT:      map[string]RTT{"zerofs-local": {Calls: 200, Min: 4 * time.Millisecond, Median: 5 * time.Millisecond, P90: 7 * time.Millisecond}},
		RTTPad:   map[string]RTT{"zerofs-local": {PadBytes: 2000, Calls: 200, Min: 40 * time.Millisecond, Median: 44 * time.Millisecond, P90: 47 * time.Millisecond}},
		Profiles: map[string]string{"zerofs-local": "flat  flat%\n  1s 50% syscall.Syscall"},
	}
	md := rep.Markdown("c.png")
	for _, want := range []string{
		"| tar | zerofs-local | 20.0 s |", // wall time in the cost table
		"| 2000 | 1.50 s | 10.0 s |",      // calls, server time, 2000 calls × 5 ms
		"| zerofs-local | NULL | 200 | 4 ms | 5 ms | 7 ms |",
		"| zerofs-local | NULL + 2000 B | 200 | 40 ms | 44 ms | 47 ms |",
		"syscall.Syscall",
		"## Ratio to tmp",
		"| tar | 20× | 40× |",     // zerofs-local/tmp, go-nfs/tmp
		"| tar | 0.05× | 2.00× |", // tmp/zerofs-local, go-nfs/zerofs-local
		"reference: go-nfs on a local directory, same guest: tar/git/build worst 40.00× of tmp",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestSelectWorkloads(t *testing.T) {
	tests := []struct {
		list    string
		want    []string
		wantErr string
	}{
		{"", workloadNames(), ""},
		{"tar,smallfiles", []string{"smallfiles", "tar"}, ""},
		{"git", []string{"tar", "git"}, ""},
		{" delete , rename", []string{"smallfiles", "rename", "delete"}, ""},
		{"cold-randread,cold-traverse", []string{"fio-seqwrite", "cold-traverse", "cold-randread"}, ""},
		{"fio-randread,fio-seqwrite", []string{"fio-seqwrite", "fio-randread"}, ""},
		{"tar,nope", nil, `unknown workload "nope"`},
		{"tar,", nil, `unknown workload ""`},
	}
	for _, tt := range tests {
		got, err := selectWorkloads(tt.list)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("selectWorkloads(%q) = %v, %v; want an error with %q", tt.list, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("selectWorkloads(%q) = %v, %v; want %v", tt.list, got, err, tt.want)
		}
	}
}

// TestWorkloadsAgreeWithGuestScript: every workload of the table has a
// case and a run line in guest.sh, in the table's order, and every need
// runs before its workload.
func TestWorkloadsAgreeWithGuestScript(t *testing.T) {
	last := -1
	for i, w := range workloads {
		if !strings.Contains(guestScript, "\n    "+w.Name+") ") {
			t.Errorf("guest.sh has no case for %s", w.Name)
		}
		loc := regexp.MustCompile(`(?m)^(selected \S+ && )?run ` + regexp.QuoteMeta(w.Name) + ` `).FindStringIndex(guestScript)
		if loc == nil {
			t.Errorf("guest.sh never runs %s", w.Name)
			continue
		}
		if loc[0] < last {
			t.Errorf("guest.sh runs %s out of the table's order", w.Name)
		}
		last = loc[0]
		for _, n := range w.Needs {
			if j := slices.Index(workloadNames(), n); j < 0 || j >= i {
				t.Errorf("%s needs %s, which does not run before it", w.Name, n)
			}
		}
	}
}

func latencyReport(t *testing.T) Report {
	t.Helper()
	lat, err := s3proxy.ParseLatency(s3proxy.RegionLatency)
	if err != nil {
		t.Fatal(err)
	}
	r := Report{Options: Options{Files: 10, Machine: "m", S3Latency: lat, Workloads: []string{"smallfiles", "cold-traverse"},
		Command: "go run ./bench/fs -s3-latency put=20ms,get=10ms"},
		Network: map[string]string{"tmp": "tap", "zerofs-local": "tap", "zerofs-s3": "tap", "zerofs-s3-strict": "tap", "s3fs": "tap"},
		S3: map[string]map[string]s3proxy.Stats{"zerofs-s3": {"smallfiles": {
			{Bucket: "zerofs-s3", Method: "PUT"}:  {Requests: 30, RequestBytes: 3 << 20},
			{Bucket: "zerofs-s3", Method: "GET"}:  {Requests: 4, ResponseBytes: 2048},
			{Bucket: "zerofs-s3", Method: "HEAD"}: {Requests: 1},
			{Bucket: "s3fs", Method: "PUT"}:       {Requests: 1000},
		}}},
	}
	times := map[string][2]time.Duration{ // smallfiles, cold-traverse
		"tmp": {time.Second, time.Second}, "zerofs-local": {10 * time.Second, 2 * time.Second},
		"zerofs-s3": {20 * time.Second, 8 * time.Second}, "zerofs-s3-strict": {60 * time.Second, 8 * time.Second},
		"s3fs": {100 * time.Second, 0},
	}
	for tgt, d := range times {
		r.Results = append(r.Results,
			Result{Target: tgt, Workload: "smallfiles", Elapsed: d[0], Count: 10, Unit: "files", OK: true},
			Result{Target: tgt, Workload: "cold-traverse", Elapsed: d[1], Count: 10, Unit: "entries", OK: d[1] > 0, Reason: "mount failed"})
	}
	return r
}

func TestMarkdownRatiosNetworkLatencyAndProxy(t *testing.T) {
	md := latencyReport(t).Markdown("c.png")
	for _, want := range []string{
		"`go run ./bench/fs -s3-latency put=20ms,get=10ms`",
		"**Guest network**: `tap`",
		"- **Guest clock**: the TSC",
		"**Object-store latency**: `-s3-latency get=10ms,head=10ms,put=20ms,post=20ms,delete=20ms`",
		"GET 10ms, HEAD 10ms, PUT 20ms, POST 20ms, DELETE 20ms",
		"**Workloads**: only smallfiles, cold-traverse.",
		"| workload | tmp | zerofs-local | zerofs-s3 | zerofs-s3-strict | s3fs |",
		// Ratio to tmp: zerofs-local, zerofs-s3, zerofs-s3-strict, s3fs.
		"| smallfiles | 10× | 20× | 60× | 100× |",
		"| cold-traverse | 2.00× | 8.00× | 8.00× | – |",
		// Ratio to zerofs-local: tmp, zerofs-s3, zerofs-s3-strict, s3fs.
		"| smallfiles | 0.10× | 2.00× | 6.00× | 10× |",
		// Ratio to zerofs-s3: its variants only.
		"## Ratio to zerofs-s3\n\nTime of each target over that of `zerofs-s3`",
		"| workload | zerofs-s3-strict |\n|---|---:|\n| smallfiles | 3.00× |\n| cold-traverse | 1.00× |",
		// The proxy's counts of the target's own bucket, and the floor:
		// 30 PUTs × 20 ms + 5 GET/HEAD × 10 ms = 650 ms.
		"| smallfiles | zerofs-s3 | 20.0 s | 35 | GET 4, HEAD 1, PUT 30 | 3.0 MiB | 2.0 KiB | 650 ms |",
		"- `zerofs-s3-strict`: the same with `sync = \"strict\"`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| fio-seqwrite") || strings.Contains(md, "| zerofs-s3-local |") {
		t.Errorf("report shows a workload or target that did not run:\n%s", md)
	}
}

func TestNetworkLine(t *testing.T) {
	tests := []struct {
		network map[string]string
		want    string
	}{
		{nil, "not recorded"},
		{map[string]string{"tmp": "user", "s3fs": "user"}, "`user` (QEMU's user-mode network"},
		{map[string]string{"tmp": "tap", "s3fs": "user"}, "mixed, do not compare across modes: `tap` for tmp; `user` for s3fs"},
	}
	for _, tt := range tests {
		r := Report{Network: tt.network, Results: []Result{{Target: "tmp"}, {Target: "s3fs"}}}
		if got := r.networkLine(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("networkLine(%v) = %q, want it to start with %q", tt.network, got, tt.want)
		}
	}
	if got := (Report{}).latencyLine(); !strings.HasPrefix(got, "none added") {
		t.Errorf("latencyLine without latency = %q", got)
	}
}

// TestZerofsdConfigs: the config of every zerofsd target is one zerofsd
// takes, except durability = "local" while that key does not exist, whose
// refusal must name it.
func TestZerofsdConfigs(t *testing.T) {
	dir := t.TempDir()
	for _, tgt := range allTargets {
		if !tgt.Zerofs() {
			continue
		}
		text := zerofsdConfig(tgt, tgt.Name, 2049, 9100, dir, "http://127.0.0.1:9000")
		for _, want := range []string{fmt.Sprintf("sync = %q", tgt.Sync), "name = \"bench\""} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: config lacks %q:\n%s", tgt.Name, want, text)
			}
		}
		if tgt.S3 && !strings.Contains(text, fmt.Sprintf("store = \"s3://%s/fs\"", tgt.Name)) {
			t.Errorf("%s: config does not keep the store in the target's bucket:\n%s", tgt.Name, text)
		}
		if hasDurability := strings.Contains(text, "durability"); hasDurability != (tgt.Durability != "") {
			t.Errorf("%s: durability in the config = %v, want %v:\n%s", tgt.Name, hasDurability, tgt.Durability != "", text)
		}
		if hasEncryption := strings.Contains(text, "encryption = true"); hasEncryption != tgt.Encrypted {
			t.Errorf("%s: encryption in the config = %v, want %v:\n%s", tgt.Name, hasEncryption, tgt.Encrypted, text)
		}
		if tgt.Encrypted {
			if err := writeKeyFile(dir, tgt.Name); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, tgt.Name+".toml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(path, func(string) (string, bool) { return "", false })
		switch {
		case err == nil:
		case tgt.Durability != "" && strings.Contains(err.Error(), "durability"):
			t.Logf("%s: refused as expected until durability exists: %v", tgt.Name, err)
		default:
			t.Errorf("%s: config.Load: %v\n%s", tgt.Name, err, text)
		}
	}
}

// TestMarkdownEncryptionRatio: with the encrypted target, the report gives
// its time over that of the same export unencrypted, and that table has no
// other target.
func TestMarkdownEncryptionRatio(t *testing.T) {
	r := Report{Options: Options{Files: 10, Machine: "m", Workloads: []string{"smallfiles"}, Command: "go run ./bench/fs"}}
	for tgt, d := range map[string]time.Duration{"zerofs-local": 4 * time.Second, "zerofs-s3-local": 5 * time.Second, "zerofs-s3-local-enc": 6 * time.Second} {
		r.Results = append(r.Results, Result{Target: tgt, Workload: "smallfiles", Elapsed: d, Count: 10, Unit: "files", OK: true})
	}
	md := r.Markdown("c.png")
	want := "## Ratio to zerofs-s3-local\n\nTime of each target over that of `zerofs-s3-local` (the same export unencrypted: what encryption costs); under 1× is faster. `–`: one of the two failed.\n\n" +
		"| workload | zerofs-s3-local-enc |\n|---|---:|\n| smallfiles | 1.20× |\n"
	if !strings.Contains(md, want) {
		t.Errorf("report lacks %q:\n%s", want, md)
	}
}
