package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultKind is one way the fault proxy misbehaves on a request.
type faultKind int

const (
	faultNone        faultKind = iota
	fault500                   // 500 InternalError with an S3 XML body, request not forwarded
	fault503                   // 503 SlowDown with an S3 XML body, request not forwarded
	faultLatency               // forwarded after a delay (20-420 ms, one in ten 1-4 s)
	faultResetBefore           // connection reset before the request reaches the server
	faultResetAfter            // forwarded and executed, then the connection is reset: the answer is lost
	faultTruncate              // the answer's Content-Length is sent but only part of its body
	numFaultKinds
)

func (k faultKind) String() string {
	return [...]string{"none", "500", "503", "latency", "reset-before", "reset-after", "truncated-body"}[k]
}

// faultRates are the probabilities, per request, of each fault; what is left
// over is a clean forward.
type faultRates [numFaultKinds]float64

// faultProxy is an HTTP proxy in front of an S3 server that injects faults
// at seeded rates. Requests keep their Host header so that SigV4 signatures
// made for the proxy's address still verify at the server.
type faultProxy struct {
	upstream  string // host:port of the S3 server
	transport *http.Transport
	srv       *http.Server
	ln        net.Listener

	mu    sync.Mutex
	rng   *rand.Rand
	rates faultRates

	enabled atomic.Bool
	outage  atomic.Bool // nearly every request fails while set
	down    atomic.Bool // every request fails while set
	// truncateLists: the next this many listing answers are truncated,
	// whether faults are enabled or not.
	truncateLists atomic.Int64
	requests      atomic.Int64
	gets          atomic.Int64 // GET requests (reads of objects and listings)
	counts        [numFaultKinds]atomic.Int64
}

// startFaultProxy listens on 127.0.0.1 and forwards to upstream
// ("http://127.0.0.1:PORT"). Faults start disabled.
func startFaultProxy(t testing.TB, upstream string, seed uint64, rates faultRates) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fault proxy: listen: %v", err)
	}
	p := &faultProxy{
		upstream:  strings.TrimPrefix(upstream, "http://"),
		transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		ln:        ln,
		rng:       rand.New(rand.NewPCG(seed, seed^0x5eed)),
		rates:     rates,
	}
	p.srv = &http.Server{Handler: p, ErrorLog: nil}
	go p.srv.Serve(ln)
	t.Cleanup(func() {
		p.srv.Close()
		p.transport.CloseIdleConnections()
	})
	return p
}

// Endpoint is the proxy's URL.
func (p *faultProxy) Endpoint() string { return "http://" + p.ln.Addr().String() }

// SetEnabled turns fault injection on or off.
func (p *faultProxy) SetEnabled(on bool) { p.enabled.Store(on) }

// SetOutage makes nearly every request fail (500, 503 or a reset) while on:
// long enough, it outlasts the client's retries.
func (p *faultProxy) SetOutage(on bool) { p.outage.Store(on) }

// SetDown makes every request fail (500, 503 or a reset) while on.
func (p *faultProxy) SetDown(on bool) { p.down.Store(on) }

// Summary counts the requests and the faults injected by kind.
func (p *faultProxy) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests (%d GET)", p.requests.Load(), p.gets.Load())
	for k := fault500; k < numFaultKinds; k++ {
		fmt.Fprintf(&b, ", %s %d", k, p.counts[k].Load())
	}
	return b.String()
}

// Injected is the number of faults of all kinds so far.
func (p *faultProxy) Injected() int64 {
	var n int64
	for k := fault500; k < numFaultKinds; k++ {
		n += p.counts[k].Load()
	}
	return n
}

func (p *faultProxy) pick() (faultKind, time.Duration) {
	if !p.enabled.Load() {
		return faultNone, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down.Load() || p.outage.Load() && p.rng.Float64() < 0.9 {
		kinds := []faultKind{fault500, fault503, faultResetBefore, faultResetAfter}
		return kinds[p.rng.IntN(len(kinds))], 0
	}
	x := p.rng.Float64()
	for k := fault500; k < numFaultKinds; k++ {
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
	return faultNone, 0
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if r.Method == http.MethodGet {
		p.gets.Add(1)
	}
	kind, delay := p.pick()
	isList := r.Method == http.MethodGet && r.URL.Query().Has("list-type")
	if isList && p.truncateLists.Load() > 0 && p.truncateLists.Add(-1) >= 0 {
		kind = faultTruncate
	}
	switch kind {
	case fault500, fault503:
		p.counts[kind].Add(1)
		io.Copy(io.Discard, r.Body)
		code, status := "InternalError", http.StatusInternalServerError
		if kind == fault503 {
			code, status = "SlowDown", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>injected by the test's fault proxy</Message><Resource>%s</Resource><RequestId>fault-%d</RequestId></Error>`,
			code, r.URL.Path, p.requests.Load())
		return
	case faultResetBefore:
		p.counts[kind].Add(1)
		resetConn(w)
		return
	case faultLatency:
		p.counts[kind].Add(1)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
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
	case kind == faultResetAfter:
		p.counts[kind].Add(1)
		io.Copy(io.Discard, resp.Body)
		resetConn(w)
		return
	case kind == faultTruncate && r.Method != http.MethodHead && resp.ContentLength > 1:
		body, err := io.ReadAll(resp.Body)
		if err == nil && len(body) > 1 {
			p.counts[kind].Add(1)
			p.writeTruncated(w, resp, body)
			return
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
		return
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// writeTruncated sends resp's status and headers (with its full
// Content-Length) and then only part of body, and closes the connection.
func (p *faultProxy) writeTruncated(w http.ResponseWriter, resp *http.Response, body []byte) {
	p.mu.Lock()
	n := p.rng.IntN(len(body))
	p.mu.Unlock()
	conn, bw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Del("Transfer-Encoding")
	resp.Header.Write(bw)
	bw.WriteString("\r\n")
	bw.Write(body[:n])
	bw.Flush()
}

// resetConn closes the client's connection with a TCP reset.
func resetConn(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// fpDuration is short by default and long with ZEROFS_TORTURE=1.
func fpDuration(short, long time.Duration) time.Duration {
	if os.Getenv("ZEROFS_TORTURE") == "1" {
		return long
	}
	return short
}

// fpNullPing checks the daemon answers NFS NULL on a fresh connection within a bound.
func fpNullPing(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	// xid 1, CALL, rpcvers 2, prog NFS, vers 3, proc 0, AUTH_NONE cred and verf.
	call := []byte{0x80, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0x86, 0xa3, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if _, err := conn.Write(call); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return fmt.Errorf("NULL reply: %w", err)
	}
	n := int(hdr[0]&0x7f)<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	if n < 24 || n > 1024 {
		return fmt.Errorf("NULL reply of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return fmt.Errorf("NULL reply: %w", err)
	}
	want := []byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}
	if string(body[:12]) != string(want) {
		return fmt.Errorf("NULL reply header % x, want xid 1 REPLY MSG_ACCEPTED", body[:12])
	}
	return nil
}
