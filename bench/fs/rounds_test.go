package main

import (
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRoundOrders(t *testing.T) {
	tests := []struct {
		targets []string
		rounds  int
		want    [][]string
	}{
		{[]string{"a", "b", "c"}, 1, [][]string{{"a", "b", "c"}}},
		{[]string{"a", "b"}, 2, [][]string{{"a", "b"}, {"b", "a"}}},
		{[]string{"a", "b", "c"}, 3, [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}}},
		{[]string{"a", "b", "c", "d"}, 2, [][]string{{"a", "b", "c", "d"}, {"c", "d", "a", "b"}}},
		{[]string{"a", "b", "c", "d", "e"}, 2, [][]string{{"a", "b", "c", "d", "e"}, {"c", "d", "e", "a", "b"}}},
		// More rounds than targets: every start is used, spread evenly.
		{[]string{"a", "b"}, 3, [][]string{{"a", "b"}, {"a", "b"}, {"b", "a"}}},
		{[]string{"a", "b"}, 4, [][]string{{"a", "b"}, {"a", "b"}, {"b", "a"}, {"b", "a"}}},
		{[]string{"a"}, 2, [][]string{{"a"}, {"a"}}},
	}
	for _, tt := range tests {
		got := roundOrders(tt.targets, tt.rounds)
		if !slices.EqualFunc(got, tt.want, slices.Equal) {
			t.Errorf("roundOrders(%v, %d) = %v, want %v", tt.targets, tt.rounds, got, tt.want)
		}
	}
}

// TestRoundOrdersSpread: with every target list of the real run, each
// round runs every target exactly once, and from two rounds on no target
// is first, nor last, in every round.
func TestRoundOrdersSpread(t *testing.T) {
	all := targetNames()
	for n := 2; n <= len(all); n++ {
		for rounds := 2; rounds <= 6; rounds++ {
			orders := roundOrders(all[:n], rounds)
			if len(orders) != rounds {
				t.Fatalf("%d targets, %d rounds: %d orders", n, rounds, len(orders))
			}
			first, last := map[string]int{}, map[string]int{}
			for k, o := range orders {
				sorted := slices.Sorted(slices.Values(o))
				if !slices.Equal(sorted, slices.Sorted(slices.Values(all[:n]))) {
					t.Errorf("%d targets, round %d: %v is not every target once", n, k+1, o)
				}
				first[o[0]]++
				last[o[len(o)-1]]++
			}
			for tgt, c := range first {
				if c == rounds {
					t.Errorf("%d targets, %d rounds: %s first in every round: %v", n, rounds, tgt, orders)
				}
			}
			for tgt, c := range last {
				if c == rounds {
					t.Errorf("%d targets, %d rounds: %s last in every round: %v", n, rounds, tgt, orders)
				}
			}
		}
	}
}

func TestInstanceName(t *testing.T) {
	tests := []struct {
		target string
		round  int
		want   string
	}{
		{"zerofs-s3", 0, "zerofs-s3"},
		{"zerofs-s3", 1, "zerofs-s3-r2"},
		{"s3fs", 9, "s3fs-r10"},
	}
	names := map[string]bool{}
	for _, tt := range tests {
		if got := instanceName(tt.target, tt.round); got != tt.want {
			t.Errorf("instanceName(%s, %d) = %s, want %s", tt.target, tt.round, got, tt.want)
		}
	}
	// No two targets and rounds share a bucket or a directory.
	for _, tgt := range targetNames() {
		for round := range 12 {
			n := instanceName(tgt, round)
			if names[n] {
				t.Errorf("instance %s named twice", n)
			}
			names[n] = true
		}
	}
}

func TestMedianDuration(t *testing.T) {
	s := time.Second
	tests := []struct {
		in   []time.Duration
		want time.Duration
	}{
		{[]time.Duration{3 * s}, 3 * s},
		{[]time.Duration{3 * s, 1 * s, 2 * s}, 2 * s},
		{[]time.Duration{4 * s, 1 * s, 3 * s, 2 * s}, 2500 * time.Millisecond},
		{[]time.Duration{1 * s, 1 * s}, 1 * s},
		{[]time.Duration{9 * s, 1 * s, 5 * s, 7 * s, 100 * s}, 7 * s},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.in)
		if got := medianDuration(in); got != tt.want {
			t.Errorf("medianDuration(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if !slices.Equal(in, tt.in) {
			t.Errorf("medianDuration changed its input: %v, was %v", in, tt.in)
		}
	}
}

// rounds makes one result per round (0-based, in order) of one workload
// on one target: a positive time succeeded, zero failed.
func rounds(target, workload string, times ...time.Duration) []Result {
	var rs []Result
	for k, d := range times {
		r := Result{Target: target, Workload: workload, Elapsed: d, Count: 10, Unit: "files", OK: d > 0, Round: k}
		if d == 0 {
			r.Reason = fmt.Sprintf("broke in round %d", k+1)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestSummarize(t *testing.T) {
	s := time.Second
	reversed := rounds("x", "w", 0, 0, 0)
	slices.Reverse(reversed)
	tests := []struct {
		name          string
		results       []Result
		ok            bool
		median        time.Duration // 0: no round succeeded
		min, max      time.Duration
		succeeded     int
		failedRounds  []int
		shown         int
		failureReason string
	}{
		{"odd", rounds("x", "w", 3*s, s, 2*s), true, 2 * s, s, 3 * s, 3, nil, 2, ""},
		// Of the two middle rounds the faster one is shown.
		{"even", rounds("x", "w", 4*s, s, 3*s, 2*s), true, 2500 * time.Millisecond, s, 4 * s, 4, nil, 3, ""},
		{"one failed", rounds("x", "w", 5*s, 0, s), true, 3 * s, s, 5 * s, 2, []int{1}, 2, ""},
		{"one succeeded", rounds("x", "w", 0, 7*s, 0), true, 7 * s, 7 * s, 7 * s, 1, []int{0, 2}, 1, ""},
		{"equal times: in round order", rounds("x", "w", s, s, s), true, s, s, s, 3, nil, 1, ""},
		{"equal middle times", rounds("x", "w", 2*s, s, s, s), true, s, s, 2 * s, 4, nil, 2, ""},
		{"all failed, given out of order", reversed, true, 0, 0, 0, 0, []int{0, 1, 2}, 0, "broke in round 1"},
		{"other targets and workloads ignored", append(append(rounds("x", "w", 2*s), rounds("y", "w", 9*s)...), rounds("x", "v", 9*s)...),
			true, 2 * s, 2 * s, 2 * s, 1, nil, 0, ""},
		{"none", rounds("y", "w", s), false, 0, 0, 0, 0, nil, 0, ""},
	}
	for _, tt := range tests {
		got, ok := summarize(tt.results, "x", "w")
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		var failed []int
		for _, f := range got.Failed {
			failed = append(failed, f.Round)
		}
		if got.Succeeded != tt.succeeded || got.Rounds != tt.succeeded+len(tt.failedRounds) || !slices.Equal(failed, tt.failedRounds) || got.Shown != tt.shown {
			t.Errorf("%s: %d of %d succeeded, failed rounds %v, shown %d; want %d succeeded, failed %v, shown %d",
				tt.name, got.Succeeded, got.Rounds, failed, got.Shown, tt.succeeded, tt.failedRounds, tt.shown)
		}
		if tt.median == 0 {
			if got.Result.OK || got.Result.Reason != tt.failureReason {
				t.Errorf("%s: result %+v, want the failure %q", tt.name, got.Result, tt.failureReason)
			}
			continue
		}
		if !got.Result.OK || got.Result.Elapsed != tt.median || got.Min != tt.min || got.Max != tt.max || got.Result.Count != 10 {
			t.Errorf("%s: result %+v, range %v–%v; want median %v, range %v–%v", tt.name, got.Result, got.Min, got.Max, tt.median, tt.min, tt.max)
		}
	}
}

func TestRoundRatios(t *testing.T) {
	s := time.Second
	var rs []Result
	rs = append(rs, rounds("a", "w", 2*s, 8*s, 6*s, 0, 9*s)...)
	rs = append(rs, rounds("b", "w", 1*s, 2*s, 4*s, 1*s, 0)...)
	rs = append(rs, rounds("b", "other", 100*s, 100*s, 100*s, 100*s, 100*s)...)
	got := roundRatios(rs, "a", "b", "w")
	want := []float64{2, 4, 1.5} // rounds 4 and 5 each have a failure
	if len(got) != len(want) {
		t.Fatalf("roundRatios = %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Errorf("roundRatios = %v, want %v", got, want)
		}
	}
}

// roundsReport is a run of three rounds over two workloads whose medians,
// ranges and ratios the test works out by hand.
func roundsReport() Report {
	s := time.Second
	r := Report{
		Options: Options{Files: 10, Machine: "m", Workloads: []string{"smallfiles", "tar"}, Rounds: 3, Command: "go run ./bench/fs -rounds 3"},
		Orders:  roundOrders([]string{"tmp", "zerofs-local", "go-nfs"}, 3),
		Costs: map[string]map[string]Cost{"zerofs-local": {"tar": {Requests: map[string]int64{"put": 7}, Calls: map[string]int64{"CREATE": 554},
			CallSeconds: map[string]float64{"CREATE": 1}}}},
	}
	add := func(rs []Result, count int64) {
		for i := range rs {
			rs[i].Count = count
		}
		r.Results = append(r.Results, rs...)
	}
	add(rounds("tmp", "smallfiles", 1*s, 2*s, 4*s), 10)
	add(rounds("zerofs-local", "smallfiles", 2*s, 8*s, 6*s), 10)
	add(rounds("go-nfs", "smallfiles", 3*s, 3*s, 3*s), 10)
	add(rounds("tmp", "tar", s, s, s), 554)
	add(rounds("zerofs-local", "tar", 10*s, 0, 30*s), 554)
	add(rounds("go-nfs", "tar", 0, 0, 0), 554)
	return r
}

func TestMarkdownRounds(t *testing.T) {
	md := roundsReport().Markdown("c.png")
	for _, want := range []string{
		"- **Rounds**: 3, interleaved: each round runs every target once, from scratch",
		"Orders: round 1: tmp, zerofs-local, go-nfs; round 2: zerofs-local, go-nfs, tmp; round 3: go-nfs, tmp, zerofs-local.",
		"Median time of the 3 rounds",
		// Medians 2 s, 6 s, 3 s with their ranges.
		"| smallfiles (small files written (4 KiB each)) | 2.00 s (5.00 files/s); 1.00 s–4.00 s | 6.00 s (1.67 files/s); 2.00 s–8.00 s | 3.00 s (3.33 files/s); 3.00 s–3.00 s |",
		// tar on zerofs-local: the median of the two rounds that succeeded.
		"| 20.0 s (27.7 files/s); 10.0 s–30.0 s; 2 of 3 rounds (failed: 2) |",
		"| failed in all 3 rounds; round 1: broke in round 1 |",
		"Failed rounds:\n\n- tar on zerofs-local, round 2: broke in round 2\n- tar on go-nfs, round 1: broke in round 1\n",
		"- tar on go-nfs, round 3: broke in round 3\n",
		"The ratio of the medians of 3 rounds; in parentheses the lowest and highest ratio of the two within one round",
		// Ratio to tmp: 6 s / 2 s = 3× (not the median of the rounds'
		// ratios, 2×); within rounds 2×, 4×, 1.5×. go-nfs: 1.5×, from
		// 3×, 1.5×, 0.75×.
		"| smallfiles | 3.00× (1.50×–4.00×) | 1.50× (0.75×–3.00×) |",
		// tar: 20 s over 1 s, rounds 1 and 3 only; go-nfs never ran it.
		"| tar | 20× (10×–30×, 2 rounds) | – |",
		// Ratio to zerofs-local: tmp 2/6, go-nfs 3/6; within rounds
		// 1/2, 1/4, 2/3 and 3/2, 3/8, 1/2.
		"| smallfiles | 0.33× (0.25×–0.67×) | 0.50× (0.38×–1.50×) |",
		"## Details of one round",
		// The cost table shows tar's median round: round 1 (10 s) is the
		// faster of the two that succeeded.
		"| tar | zerofs-local | 10.0 s | 7 | put 7 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestMarkdownOneRoundUnchanged: a run of one round renders no ranges,
// round counts or per-round sections.
func TestMarkdownOneRoundUnchanged(t *testing.T) {
	r := roundsReport()
	r.Options.Rounds, r.Orders = 1, nil
	var first []Result
	for _, x := range r.Results {
		if x.Round == 0 {
			first = append(first, x)
		}
	}
	r.Results = first
	md := r.Markdown("c.png")
	for _, want := range []string{
		"- **Rounds**: 1 (one run of each target",
		"| smallfiles (small files written (4 KiB each)) | 1.00 s (10.0 files/s) | 2.00 s (5.00 files/s) | 3.00 s (3.33 files/s) |",
		"| tar | 10× | – |",
		"| smallfiles | 2.00× | 3.00× |",
		"| tar (tar -xf of Go's src/go) | 1.00 s (554 files/s) | 10.0 s (55.4 files/s) | failed: broke in round 1 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	for _, unwanted := range []string{"Failed rounds", "Details of one round", "Orders:", "ratio of the medians", "1.00 s–"} {
		if strings.Contains(md, unwanted) {
			t.Errorf("a one-round report has %q:\n%s", unwanted, md)
		}
	}
}

func TestWriteChartRounds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.png")
	if err := writeChart(path, roundsReport()); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatal(err)
	}
}
