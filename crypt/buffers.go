package crypt

import "sync"

// Pooled buffers come in classes of whole MiB, from minPooled up to
// maxPooledMiB: the sizes of WAL objects and SSTs, which the writers of an
// export seal one after another.
const (
	minPooled    = 512 << 10
	maxPooledMiB = 16
)

// bufferPool recycles the buffers of sealed objects once the inner store
// holds them (objstore.Store does not keep the data it is given after a
// PUT returns), so that writing sealed objects does not allocate, zero and
// fault in fresh memory for each. A buffer in use is never in the pool: it
// goes back only after a successful PUT, never after a failed one (a
// failure may be retried with it, or may still be landing).
type bufferPool struct {
	classes [maxPooledMiB]sync.Pool // of *[]byte with a capacity of (i+1) MiB
}

// get returns a buffer of n bytes, its content undefined.
func (p *bufferPool) get(n int64) []byte {
	if n < minPooled || n > maxPooledMiB<<20 {
		return make([]byte, n)
	}
	class := (n + 1<<20 - 1) >> 20
	if b, ok := p.classes[class-1].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, class<<20)
}

// put gives back a buffer that get returned, once nothing uses it.
func (p *bufferPool) put(b []byte) {
	c := int64(cap(b))
	if c < minPooled || c > maxPooledMiB<<20 || c&(1<<20-1) != 0 {
		return
	}
	b = b[:0]
	p.classes[c>>20-1].Put(&b)
}
