package xdr

import "sync"

// Pool recycles byte slices for requests and replies. Slices that grew
// beyond MaxKeep bytes are dropped instead of kept, so one huge reply
// does not pin memory forever. The zero value is not usable; use NewPool.
type Pool struct {
	pool    sync.Pool
	initial int
	maxKeep int
}

// NewPool returns a Pool handing out slices with at least initial bytes of
// capacity and keeping returned slices of at most maxKeep bytes.
func NewPool(initial, maxKeep int) *Pool {
	p := &Pool{initial: initial, maxKeep: maxKeep}
	p.pool.New = func() any {
		b := make([]byte, 0, p.initial)
		return &b
	}
	return p
}

// Get returns an empty slice with spare capacity.
func (p *Pool) Get() *[]byte {
	b := p.pool.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

// Put gives b back; the caller must not use it afterwards.
func (p *Pool) Put(b *[]byte) {
	if b == nil || cap(*b) > p.maxKeep {
		return
	}
	p.pool.Put(b)
}
