// Package s3proxy is an HTTP reverse proxy for an S3-compatible server on
// 127.0.0.1 that makes it behave like a remote one: it adds a fixed latency
// per request method, injects faults at seeded rates, and counts requests
// and body bytes per bucket and method. It is test and benchmark support
// (e2e's fault tests, bench/fs's object-store latency profile); no
// production package may import it (internal/layering enforces that).
//
// Use:
//
//	lat, err := s3proxy.ParseLatency(s3proxy.RegionLatency) // "put=20ms,get=10ms"
//	p, err := s3proxy.Start(s3proxy.Options{Upstream: "http://127.0.0.1:9000", Latency: lat})
//	defer p.Close()
//	// point every S3 client at p.Endpoint()
//
// What it guarantees:
//
//   - Requests keep their Host header, so SigV4 signatures made for the
//     proxy's address verify at the server. Bodies are streamed both ways.
//   - Latency is added to every request before it is forwarded, whether
//     faults are enabled or not: Latency.For(method) of the request's
//     method, waited once per request (a real store's time to first byte;
//     bandwidth is not limited). A client that gives up while it waits is
//     not forwarded.
//   - Faults (Options.Rates, drawn from a generator seeded with
//     Options.Seed) are injected only while SetEnabled(true); SetOutage and
//     SetDown make nearly every or every request fail while set and faults
//     are enabled; TruncateLists cuts the next listing answers short whether
//     faults are enabled or not. Each kind is counted (Injections).
//   - Stats counts every request the proxy received by bucket (the first
//     path segment: clients must use path-style addressing) and method, with
//     the bytes of request bodies read from the client and of response
//     bodies sent to it. WriteMetrics renders the counters as Prometheus
//     text and ParseMetrics reads that text back, so a process that sees
//     only the page (a benchmark guest) can take differences.
//
// What it does not do: no TLS, no virtual-hosted buckets in Stats, no
// bandwidth limit or jitter in the latency profile, and no listening
// anywhere but the address given (127.0.0.1 by default).
package s3proxy
