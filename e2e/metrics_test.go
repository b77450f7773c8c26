package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// scrape fetches /metrics and returns the value of the first sample matching
// the regular expression (a metric name with labels), or -1.
func scrape(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + series + ` ([0-9.e+-]+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("metric %s: %v", series, err)
	}
	return v
}

// TestMetrics checks that /metrics reports object-store requests, NFS calls
// and database state per export, and that they move with the workload.
func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	mport := freePort(t)
	d := newDaemonWithServer(t, dir, fmt.Sprintf("metrics_listen = \"127.0.0.1:%d\"", mport), []exportSpec{
		{Name: "team-a", Store: "file://" + filepath.Join(dir, "team-a"), Extra: `squash = "none"`},
		{Name: "team-l", Store: "file://" + filepath.Join(dir, "team-l"), Extra: "squash = \"none\"\ndurability = \"local\""},
	})
	d.Start()
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)

	walBefore := scrape(t, url, `zerofs_lsm_wal_puts_total\{export="team-a"\}`)
	if walBefore < 0 {
		t.Fatalf("no zerofs_lsm_wal_puts_total for team-a")
	}
	a, _ := mountGo(t, d.addr, "/team-a")
	// Random bytes: compression must not shrink what the byte count checks.
	data := make([]byte, 200<<10)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	writeFile(t, a, "f", data)

	if got := scrape(t, url, `zerofs_lsm_wal_puts_total\{export="team-a"\}`); got <= walBefore {
		t.Errorf("WAL puts did not grow after a committed write: %v -> %v", walBefore, got)
	}
	if got := scrape(t, url, `zerofs_objstore_written_bytes_total\{export="team-a",op="put_if_absent"\}`); got < 200<<10 {
		t.Errorf("object bytes written after a 200 KiB committed file = %v, want >= %d", got, 200<<10)
	}
	if got := scrape(t, url, `zerofs_nfs_calls_total\{export="team-a",proc="COMMIT",status="NFS3_OK"\}`); got < 1 {
		t.Errorf("COMMIT calls = %v, want >= 1", got)
	}
	if got := scrape(t, url, `zerofs_nfs_call_duration_seconds_count\{export="team-a",proc="COMMIT"\}`); got < 1 {
		t.Errorf("COMMIT latency observations = %v, want >= 1", got)
	}
	if got := scrape(t, url, `zerofs_objstore_request_duration_seconds_count\{export="team-a",op="put_if_absent"\}`); got < 1 {
		t.Errorf("object-store PutIfAbsent latency observations = %v, want >= 1", got)
	}
	if got := scrape(t, url, `process_resident_memory_bytes`); got <= 0 {
		t.Errorf("process_resident_memory_bytes = %v, want > 0", got)
	}
	if got := scrape(t, url, `zerofs_lsm_fenced\{export="team-a"\}`); got != 0 {
		t.Errorf("zerofs_lsm_fenced = %v, want 0", got)
	}
	// A local-durability export acknowledges from its journal.
	l, _ := mountGo(t, d.addr, "/team-l")
	writeFile(t, l, "f", make([]byte, 64<<10))
	if got := scrape(t, url, `zerofs_lsm_journal_fsyncs_total\{export="team-l"\}`); got < 1 {
		t.Errorf("journal fsyncs of the local export after a committed write = %v, want >= 1", got)
	}
	if got := scrape(t, url, `zerofs_lsm_journal_fsyncs_total\{export="team-a"\}`); got != 0 {
		t.Errorf("journal fsyncs of the bucket export = %v, want 0", got)
	}
	for _, family := range []string{"zerofs_lsm_unshipped_bytes", "zerofs_lsm_unshipped_age_seconds", "zerofs_lsm_journal_bytes"} {
		if got := scrape(t, url, family+`\{export="team-l"\}`); got < 0 {
			t.Errorf("no %s for team-l", family)
		}
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/goroutine?debug=1", mport))
	if err != nil {
		t.Fatalf("pprof: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !regexp.MustCompile(`goroutine profile: total \d+`).Match(body) {
		t.Errorf("pprof goroutine profile: status %d, body starts %.80q", resp.StatusCode, body)
	}
	d.Stop()
}
