package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// roundOrders is the order in which each of rounds rounds runs targets:
// every round runs every target once, and round k starts ⌊k·n/rounds⌋
// targets into the list and wraps around, so that over the rounds the
// starting points are spread evenly and no target always goes first or
// last (with two targets and two rounds: a, b then b, a).
func roundOrders(targets []string, rounds int) [][]string {
	n := len(targets)
	orders := make([][]string, 0, max(rounds, 0))
	for k := range rounds {
		order := make([]string, 0, n)
		if n > 0 {
			start := k * n / rounds % n
			order = append(append(order, targets[start:]...), targets[:start]...)
		}
		orders = append(orders, order)
	}
	return orders
}

// instanceName names what belongs to one target in one round (0-based):
// its bucket, its zerofsd's store, cache, journal, config and log, and the
// guest's script and output. Round 0 keeps the target's own name, as runs
// of one round always did; later rounds add "-r2", "-r3", ... so that every
// round starts from scratch, its bucket and its counters its own.
func instanceName(target string, round int) string {
	if round == 0 {
		return target
	}
	return fmt.Sprintf("%s-r%d", target, round+1)
}

// medianDuration is the median of ds (of an even number, the mean of the
// two middle ones); ds must not be empty. It does not change ds.
func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1] + (s[n/2]-s[n/2-1])/2
}

// summary is one workload on one target over every round.
type summary struct {
	// Result stands for all rounds: when some round succeeded, OK with
	// Elapsed the median of the rounds that succeeded; else the first
	// round's failure.
	Result    Result
	Min, Max  time.Duration // of the rounds that succeeded
	Succeeded int           // rounds that succeeded
	Rounds    int           // rounds with a result (succeeded or failed)
	Failed    []Result      // the rounds that failed, in round order
	// Shown is the round the per-workload detail tables show: the median
	// round among those that succeeded (of the two middle ones, the
	// faster; of equal times, the earlier round), else the first that
	// failed.
	Shown int
}

// summarize gathers the rounds of one workload on one target; false when
// no round has a result for it.
func summarize(results []Result, target, workload string) (summary, bool) {
	var all []Result
	for _, x := range results {
		if x.Target == target && x.Workload == workload {
			all = append(all, x)
		}
	}
	if len(all) == 0 {
		return summary{}, false
	}
	slices.SortStableFunc(all, func(a, b Result) int { return cmp.Compare(a.Round, b.Round) })
	s := summary{Rounds: len(all)}
	var ok []Result
	for _, x := range all {
		if x.OK {
			ok = append(ok, x)
		} else {
			s.Failed = append(s.Failed, x)
		}
	}
	s.Succeeded = len(ok)
	if len(ok) == 0 {
		s.Result, s.Shown = s.Failed[0], s.Failed[0].Round
		return s, true
	}
	times := make([]time.Duration, len(ok))
	for i, x := range ok {
		times[i] = x.Elapsed
	}
	byTime := slices.Clone(ok)
	slices.SortStableFunc(byTime, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Elapsed, b.Elapsed), cmp.Compare(a.Round, b.Round))
	})
	s.Min, s.Max = byTime[0].Elapsed, byTime[len(byTime)-1].Elapsed
	s.Shown = byTime[(len(byTime)-1)/2].Round
	s.Result = Result{Target: target, Workload: workload, Elapsed: medianDuration(times), Count: ok[0].Count, Unit: ok[0].Unit, OK: true}
	return s, true
}

// roundRatios are the time of target a over that of target b in each
// round where both succeeded, in round order: ratios within one round,
// which cancel what drifts slowly on the machine.
func roundRatios(results []Result, a, b, workload string) []float64 {
	type pair struct{ a, b *Result }
	byRound := map[int]*pair{}
	for i := range results {
		x := &results[i]
		if x.Workload != workload || !x.OK || (x.Target != a && x.Target != b) {
			continue
		}
		p := byRound[x.Round]
		if p == nil {
			p = &pair{}
			byRound[x.Round] = p
		}
		if x.Target == a {
			p.a = x
		} else {
			p.b = x
		}
	}
	var qs []float64
	for _, k := range slices.Sorted(maps.Keys(byRound)) {
		p := byRound[k]
		if p.a != nil && p.b != nil && p.b.Elapsed > 0 {
			qs = append(qs, p.a.Elapsed.Seconds()/p.b.Elapsed.Seconds())
		}
	}
	return qs
}

// formatRatio formats a time ratio: two decimals under 10×.
func formatRatio(q float64) string {
	if q >= 10 {
		return fmt.Sprintf("%.0f×", q)
	}
	return fmt.Sprintf("%.2f×", q)
}

// rounds is the number of rounds of the run: Options.Rounds, or as many
// as the results show when that is more.
func (r Report) rounds() int {
	n := max(r.Options.Rounds, 1)
	for _, x := range r.Results {
		n = max(n, x.Round+1)
	}
	return n
}

// summary summarizes the rounds of workload on target (summarize).
func (r Report) summary(target, workload string) (summary, bool) {
	return summarize(r.Results, target, workload)
}

// shownRound is the round whose per-workload details (object-store cost,
// proxy requests, the guest's NFS calls) the report shows for target and
// workload: see summary.Shown.
func (r Report) shownRound(target, workload string) int {
	s, _ := r.summary(target, workload)
	return s.Shown
}

// roundResult is the result of one round.
func (r Report) roundResult(target, workload string, round int) (Result, bool) {
	for _, x := range r.Results {
		if x.Target == target && x.Workload == workload && x.Round == round {
			return x, true
		}
	}
	return Result{}, false
}

// shownWall is the wall time of the round the detail tables show, or "–"
// when it failed.
func (r Report) shownWall(target, workload string) string {
	if x, ok := r.roundResult(target, workload, r.shownRound(target, workload)); ok && x.OK {
		return formatDuration(x.Elapsed)
	}
	return "–"
}

// timeCell is the main table's cell of one workload on one target: the
// median time and rate and, over several rounds, the range and how many
// rounds succeeded.
func (r Report) timeCell(target, workload string) string {
	s, ok := r.summary(target, workload)
	switch {
	case !ok:
		return "–"
	case s.Succeeded == 0 && r.rounds() == 1:
		return "failed: " + escapeCell(s.Result.Reason)
	case s.Succeeded == 0:
		return fmt.Sprintf("failed in all %d rounds; round %d: %s", s.Rounds, s.Result.Round+1, escapeCell(s.Result.Reason))
	}
	cell := fmt.Sprintf("%s (%s)", formatDuration(s.Result.Elapsed), s.Result.RateString())
	if r.rounds() == 1 {
		return cell
	}
	if s.Succeeded > 1 {
		cell += "; " + formatDuration(s.Min) + "–" + formatDuration(s.Max)
	}
	if len(s.Failed) > 0 {
		var failed []string
		for _, x := range s.Failed {
			failed = append(failed, fmt.Sprint(x.Round+1))
		}
		cell += fmt.Sprintf("; %d of %d rounds (failed: %s)", s.Succeeded, s.Rounds, strings.Join(failed, ", "))
	}
	return cell
}

// ratioCell is a ratio table's cell: the median time of target over that
// of ref and, over several rounds, the range of the ratios within one
// round (and how many rounds had both, when not all).
func (r Report) ratioCell(target, ref, workload string) string {
	a, okA := r.summary(target, workload)
	b, okB := r.summary(ref, workload)
	cell := ratio(a.Result, b.Result, okA, okB)
	if cell == "–" || r.rounds() == 1 {
		return cell
	}
	qs := roundRatios(r.Results, target, ref, workload)
	switch len(qs) {
	case 0:
		return cell + " (no round with both)"
	case 1:
		return cell + " (" + formatRatio(qs[0]) + ", 1 round)"
	}
	spread := formatRatio(slices.Min(qs)) + "–" + formatRatio(slices.Max(qs))
	if len(qs) < r.rounds() {
		spread += fmt.Sprintf(", %d rounds", len(qs))
	}
	return cell + " (" + spread + ")"
}
