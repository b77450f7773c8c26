package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/s3proxy"
)

// TestAssemble: the report of several rounds has every round's results,
// the details of the median round of each workload, the round trips of the
// first round and the notes marked with their round.
func TestAssemble(t *testing.T) {
	s := time.Second
	o := Options{Rounds: 3, Workloads: []string{"smallfiles"}}
	times := map[string][]time.Duration{"zerofs-s3": {5 * s, 9 * s, 7 * s}, "tmp": {s, 0, s}}
	var runs []targetRun
	for round := range 3 {
		for _, tgt := range []string{"tmp", "zerofs-s3"} {
			tr := targetRun{target: tgt, round: round, results: rounds(tgt, "smallfiles", times[tgt]...)[round : round+1],
				network: "tap", notes: []string{tgt + " booted"}}
			if tgt == "zerofs-s3" {
				tr.costs = map[string]Cost{"smallfiles": {Requests: map[string]int64{"put": int64(round + 1)}}}
				tr.s3 = map[string]s3proxy.Stats{"smallfiles": {{Bucket: "zerofs-s3", Method: "PUT"}: {Requests: int64(10 * (round + 1))}}}
				tr.client = map[string]ClientOps{"smallfiles": {"WRITE": {Calls: int64(100 * (round + 1))}}}
				tr.rtt = &RTT{Calls: 200, Median: time.Duration(round+1) * time.Millisecond}
				if round == 2 {
					tr.network = "user"
				}
			}
			runs = append(runs, tr)
		}
	}
	rep := assemble(o, roundOrders([]string{"tmp", "zerofs-s3"}, 3), runs)
	if len(rep.Results) != 6 {
		t.Fatalf("%d results, want 6", len(rep.Results))
	}
	// zerofs-s3's median is round 3 (7 s).
	if got := rep.Costs["zerofs-s3"]["smallfiles"].Requests["put"]; got != 3 {
		t.Errorf("cost from round %d, want round 3 (the median)", got)
	}
	if got := rep.S3["zerofs-s3"]["smallfiles"][s3proxy.Key{Bucket: "zerofs-s3", Method: "PUT"}].Requests; got != 30 {
		t.Errorf("proxy counts %d, want those of round 3 (30)", got)
	}
	if got := rep.Client["zerofs-s3"]["smallfiles"]["WRITE"].Calls; got != 300 {
		t.Errorf("client calls %d, want those of round 3 (300)", got)
	}
	if got := rep.RTT["zerofs-s3"].Median; got != time.Millisecond {
		t.Errorf("round trip %v, want round 1's (1ms)", got)
	}
	if x, _ := rep.lookup("tmp", "smallfiles"); !x.OK || x.Elapsed != s {
		t.Errorf("tmp smallfiles = %+v, want the median of rounds 1 and 3, 1 s", x)
	}
	if rep.Network["zerofs-s3"] != "tap" || !slices.ContainsFunc(rep.Notes, func(n string) bool {
		return strings.HasPrefix(n, "round 3: zerofs-s3 ran on the user network, not tap")
	}) {
		t.Errorf("network %v, notes %q: want tap and a note on round 3's user network", rep.Network, rep.Notes)
	}
	if !slices.Contains(rep.Notes, "round 2: tmp booted") {
		t.Errorf("notes %q lack round 2's, marked", rep.Notes)
	}
	// One round: notes as they were.
	one := assemble(Options{Rounds: 1}, [][]string{{"tmp"}}, runs[:1])
	if !slices.Equal(one.Notes, []string{"tmp booted"}) {
		t.Errorf("notes of one round %q, want them unmarked", one.Notes)
	}
}

func TestBucketAs(t *testing.T) {
	st := s3proxy.Stats{
		{Bucket: "zerofs-s3-r2", Method: "PUT"}: {Requests: 3},
		{Bucket: "zerofs-s3-r2", Method: "GET"}: {Requests: 2},
		{Bucket: "zerofs-s3", Method: "PUT"}:    {Requests: 100},
		{Bucket: "s3fs-r2", Method: "PUT"}:      {Requests: 100},
	}
	got := bucketAs(st, "zerofs-s3-r2", "zerofs-s3")
	byMethod, total := got.Bucket("zerofs-s3")
	if len(got) != 2 || total.Requests != 5 || byMethod["PUT"].Requests != 3 {
		t.Errorf("bucketAs = %v, want the 5 requests of zerofs-s3-r2 under zerofs-s3", got)
	}
}

// TestZerofsdConfigOfLaterRound: a later round's zerofsd keeps its store,
// cache, journal and key apart from the first round's, in a bucket of its
// own.
func TestZerofsdConfigOfLaterRound(t *testing.T) {
	for _, tgt := range allTargets {
		if !tgt.Zerofs() {
			continue
		}
		inst := instanceName(tgt.Name, 1)
		text := zerofsdConfig(tgt, inst, 2049, 9100, "/run", "http://127.0.0.1:9000")
		if strings.Contains(text, tgt.Name+"\"") || strings.Contains(text, tgt.Name+"/") || strings.Contains(text, tgt.Name+".key") {
			t.Errorf("%s: round 2's config names round 1's paths or bucket:\n%s", tgt.Name, text)
		}
		for _, want := range []string{"cache-" + inst + "\""} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: round 2's config lacks %q:\n%s", tgt.Name, want, text)
			}
		}
		if tgt.S3 && !strings.Contains(text, "s3://"+inst+"/fs") {
			t.Errorf("%s: round 2's store is not in its own bucket:\n%s", tgt.Name, text)
		}
	}
	if !strings.Contains(guestScript, `s3fs "$BUCKET" "$ROOT"`) || !strings.Contains(guestScript, `rclone mount "s3:$BUCKET"`) {
		t.Errorf("guest.sh does not mount the round's bucket for s3fs and rclone")
	}
}
