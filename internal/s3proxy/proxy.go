package s3proxy

import (
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is one way the proxy misbehaves on a request.
type Fault int

// The faults, in the order of Rates.
const (
	FaultNone        Fault = iota
	Fault500               // 500 InternalError with an S3 XML body, request not forwarded
	Fault503               // 503 SlowDown with an S3 XML body, request not forwarded
	FaultLatency           // forwarded after an extra delay (20-420 ms, one in ten 1-4 s)
	FaultResetBefore       // connection reset before the request reaches the server
	FaultResetAfter        // forwarded and executed, then the connection is reset: the answer is lost
	FaultTruncate          // the answer's Content-Length is sent but only part of its body
	numFaults
)

func (k Fault) String() string {
	if k < 0 || k >= numFaults {
		return "fault(" + strconv.Itoa(int(k)) + ")"
	}
	return [...]string{"none", "500", "503", "latency", "reset-before", "reset-after", "truncated-body"}[k]
}

// Rates are the probabilities, per request, of each fault while faults are
// enabled; what is left over is a clean forward. Rates[FaultNone] is unused.
type Rates [numFaults]float64

// Options configure a Proxy.
type Options struct {
	// Upstream is the S3 server: "http://HOST:PORT" or "HOST:PORT".
	Upstream string
	// Listen is the proxy's address; default "127.0.0.1:0" (a free port).
	Listen string
	// Latency is added to every request; see the package comment.
	Latency Latency
	// Seed seeds the fault generator; Rates are the fault rates.
	Seed  uint64
	Rates Rates
}

// Proxy is a running proxy; see the package comment.
type Proxy struct {
	upstream  string // host:port of the S3 server
	latency   Latency
	transport *http.Transport
	srv       *http.Server
	ln        net.Listener

	mu    sync.Mutex // guards rng and stats
	rng   *rand.Rand
	rates Rates
	stats Stats

	enabled       atomic.Bool
	outage        atomic.Bool // nearly every request fails while set (and enabled)
	down          atomic.Bool // every request fails while set (and enabled)
	truncateLists atomic.Int64
	requests      atomic.Int64
	gets          atomic.Int64 // GET requests (reads of objects and listings)
	counts        [numFaults]atomic.Int64
}

// Start listens and serves until Close. Faults start disabled.
func Start(opts Options) (*Proxy, error) {
	up := strings.TrimPrefix(opts.Upstream, "http://")
	if up == "" || strings.Contains(up, "/") {
		return nil, fmt.Errorf("s3proxy: upstream %q is not http://HOST:PORT", opts.Upstream)
	}
	addr := opts.Listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("s3proxy: listen: %w", err)
	}
	p := &Proxy{
		upstream:  up,
		latency:   opts.Latency,
		transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true},
		ln:        ln,
		rng:       rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed)),
		rates:     opts.Rates,
		stats:     Stats{},
	}
	p.srv = &http.Server{Handler: p, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	p.transport.CloseIdleConnections()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Endpoint is the proxy's URL, "http://127.0.0.1:PORT".
func (p *Proxy) Endpoint() string { return "http://" + p.ln.Addr().String() }

// Port is the port the proxy listens on.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Latency is the profile the proxy adds.
func (p *Proxy) Latency() Latency { return p.latency }

// SetEnabled turns fault injection on or off.
func (p *Proxy) SetEnabled(on bool) { p.enabled.Store(on) }

// SetOutage makes nearly every request fail (500, 503 or a reset) while on
// and faults are enabled: long enough, it outlasts a client's retries.
func (p *Proxy) SetOutage(on bool) { p.outage.Store(on) }

// SetDown makes every request fail (500, 503 or a reset) while on and
// faults are enabled.
func (p *Proxy) SetDown(on bool) { p.down.Store(on) }

// TruncateLists makes the next n listing answers (ListObjectsV2) truncated,
// whether faults are enabled or not.
func (p *Proxy) TruncateLists(n int64) { p.truncateLists.Store(n) }

// Requests is the number of requests received so far.
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// Injections is the number of faults of kind k injected so far.
func (p *Proxy) Injections(k Fault) int64 {
	if k <= FaultNone || k >= numFaults {
		return 0
	}
	return p.counts[k].Load()
}

// Injected is the number of faults of all kinds so far.
func (p *Proxy) Injected() int64 {
	var n int64
	for k := Fault500; k < numFaults; k++ {
		n += p.counts[k].Load()
	}
	return n
}

// Summary counts the requests and the faults injected by kind.
func (p *Proxy) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests (%d GET)", p.requests.Load(), p.gets.Load())
	for k := Fault500; k < numFaults; k++ {
		fmt.Fprintf(&b, ", %s %d", k, p.counts[k].Load())
	}
	return b.String()
}

// Stats returns a copy of the request counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := make(Stats, len(p.stats))
	for k, c := range p.stats {
		s[k] = c
	}
	return s
}

// ServeMetrics is an http.Handler serving the counters as WriteMetrics
// renders them, for a separate listener (the proxy's own port forwards
// everything upstream).
func (p *Proxy) ServeMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_ = p.Stats().WriteMetrics(w)
}

func (p *Proxy) count(k Key, c Counts) {
	p.mu.Lock()
	p.stats[k] = p.stats[k].add(c)
	p.mu.Unlock()
}

// bucketOf is the first segment of a path-style request's path.
func bucketOf(path string) string {
	b, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return b
}

func (p *Proxy) pick() (Fault, time.Duration) {
	if !p.enabled.Load() {
		return FaultNone, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down.Load() || p.outage.Load() && p.rng.Float64() < 0.9 {
		kinds := []Fault{Fault500, Fault503, FaultResetBefore, FaultResetAfter}
		return kinds[p.rng.IntN(len(kinds))], 0
	}
	x := p.rng.Float64()
	for k := Fault500; k < numFaults; k++ {
		if x < p.rates[k] {
			// Mostly short delays, now and then a stall of seconds.
			delay := time.Duration(20+p.rng.IntN(400)) * time.Millisecond
			if p.rng.IntN(10) == 0 {
				delay = time.Duration(1000+p.rng.IntN(3000)) * time.Millisecond
			}
			return k, delay
		}
		x -= p.rates[k]
	}
	return FaultNone, 0
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReadCloser
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if r.Method == http.MethodGet {
		p.gets.Add(1)
	}
	key := Key{Bucket: bucketOf(r.URL.Path), Method: r.Method}
	body := &countingReader{r: r.Body}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = body // NoBody stays NoBody: the transport sends no length probe then
	}
	var sent int64
	defer func() { p.count(key, Counts{Requests: 1, RequestBytes: body.n, ResponseBytes: sent}) }()

	if !sleep(r, p.latency.For(r.Method)) {
		return
	}
	kind, delay := p.pick()
	isList := r.Method == http.MethodGet && r.URL.Query().Has("list-type")
	if isList && p.truncateLists.Load() > 0 && p.truncateLists.Add(-1) >= 0 {
		kind = FaultTruncate
	}
	switch kind {
	case Fault500, Fault503:
		p.counts[kind].Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		code, status := "InternalError", http.StatusInternalServerError
		if kind == Fault503 {
			code, status = "SlowDown", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		n, _ := fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>injected by the fault proxy</Message><Resource>%s</Resource><RequestId>fault-%d</RequestId></Error>`,
			code, r.URL.Path, p.requests.Load())
		sent = int64(n)
		return
	case FaultResetBefore:
		p.counts[kind].Add(1)
		resetConn(w)
		return
	case FaultLatency:
		p.counts[kind].Add(1)
		if !sleep(r, delay) {
			return
		}
	}

	out := r.Clone(r.Context())
	out.URL.Scheme = "http"
	out.URL.Host = p.upstream
	out.RequestURI = ""
	out.Host = r.Host // signed by the client
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()

	switch {
	case kind == FaultResetAfter:
		p.counts[kind].Add(1)
		_, _ = io.Copy(io.Discard, resp.Body)
		resetConn(w)
		return
	case kind == FaultTruncate && r.Method != http.MethodHead && resp.ContentLength > 1:
		data, err := io.ReadAll(resp.Body)
		if err == nil && len(data) > 1 {
			p.counts[kind].Add(1)
			sent = p.writeTruncated(w, resp, data)
			return
		}
		copyHeader(w, resp)
		n, _ := w.Write(data)
		sent = int64(n)
		return
	}
	copyHeader(w, resp)
	sent, _ = io.Copy(w, resp.Body)
}

func copyHeader(w http.ResponseWriter, resp *http.Response) {
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
}

// writeTruncated sends resp's status and headers (with the full
// Content-Length of body) and then only part of body, closes the
// connection, and returns the bytes of body sent.
func (p *Proxy) writeTruncated(w http.ResponseWriter, resp *http.Response, body []byte) int64 {
	p.mu.Lock()
	n := p.rng.IntN(len(body))
	p.mu.Unlock()
	conn, bw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return 0
	}
	defer conn.Close()
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Del("Transfer-Encoding")
	_ = resp.Header.Write(bw)
	bw.WriteString("\r\n")
	bw.Write(body[:n])
	_ = bw.Flush()
	return int64(n)
}

// resetConn closes the client's connection with a TCP reset.
func resetConn(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}
