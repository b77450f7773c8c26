package kvfs

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"sync"
)

// MemKV is a sorted in-memory KV, meant for tests and benchmarks.
//
// It is a persistent (path-copying) treap: every Write builds a new root and
// shares the untouched nodes, so an iterator is a consistent snapshot for the
// price of one pointer. MemKV also remembers what is durable, so a test can
// simulate a crash: Write(durable=false) applies in memory and is queued as
// pending; Flush or Write(durable=true) makes everything so far durable.
// Crash and CrashKeeping return a new MemKV holding the durable state plus a
// prefix of the pending batches (batches are all-or-nothing).
type MemKV struct {
	seed maphash.Seed

	mu      sync.Mutex
	root    *treapNode
	durable *treapNode
	pending [][]KVOp
	writes  uint64
}

// NewMemKV returns an empty MemKV.
func NewMemKV() *MemKV { return &MemKV{seed: maphash.MakeSeed()} }

type treapNode struct {
	key, value  []byte
	prio        uint64
	left, right *treapNode
}

// Get implements KV.
func (m *MemKV) Get(ctx context.Context, key []byte) ([]byte, error) {
	m.mu.Lock()
	n := m.root
	m.mu.Unlock()
	for n != nil {
		switch c := bytes.Compare(key, n.key); {
		case c == 0:
			return n.value, nil // values are never modified in place
		case c < 0:
			n = n.left
		default:
			n = n.right
		}
	}
	return nil, fmt.Errorf("memkv: get %x: %w", key, ErrNoKey)
}

// Write implements KV.
func (m *MemKV) Write(ctx context.Context, ops []KVOp, durable bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	own := make([]KVOp, len(ops))
	for i, op := range ops {
		own[i] = KVOp{Key: bytes.Clone(op.Key), Delete: op.Delete}
		if !op.Delete {
			own[i].Value = bytes.Clone(op.Value)
			if own[i].Value == nil {
				own[i].Value = []byte{}
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.root = m.apply(m.root, own)
	m.writes++
	if durable {
		m.durable = m.root
		m.pending = nil
	} else {
		m.pending = append(m.pending, own)
	}
	return nil
}

// Flush implements KV.
func (m *MemKV) Flush(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.durable = m.root
	m.pending = nil
	return nil
}

// Pending returns how many batches are not yet durable.
func (m *MemKV) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

// Writes returns how many batches were written so far.
func (m *MemKV) Writes() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes
}

// Crash returns a new MemKV holding only what is durable in m, as a store
// would after a power loss. m itself is left unchanged.
func (m *MemKV) Crash() *MemKV { return m.CrashKeeping(0) }

// CrashKeeping is like Crash but also keeps the first n pending batches (a
// crash in the middle of writing them out).
func (m *MemKV) CrashKeeping(n int) *MemKV {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := &MemKV{seed: m.seed}
	root := m.durable
	for i := 0; i < n && i < len(m.pending); i++ {
		root = c.apply(root, m.pending[i])
	}
	c.root, c.durable = root, root
	return c
}

// Len returns the number of keys in [lower, upper) (nil upper: no bound).
func (m *MemKV) Len(lower, upper []byte) int {
	it, _ := m.NewIterator(context.Background(), lower, upper)
	defer it.Close()
	n := 0
	for it.Next() {
		n++
	}
	return n
}

func (m *MemKV) apply(root *treapNode, ops []KVOp) *treapNode {
	for _, op := range ops {
		left, rest := treapSplit(root, op.Key)
		_, right := treapSplit(rest, keySuccessor(op.Key))
		if !op.Delete {
			n := &treapNode{key: op.Key, value: op.Value, prio: maphash.Bytes(m.seed, op.Key)}
			left = treapMerge(left, n)
		}
		root = treapMerge(left, right)
	}
	return root
}

// keySuccessor returns the smallest key greater than k.
func keySuccessor(k []byte) []byte {
	s := make([]byte, len(k)+1)
	copy(s, k)
	return s
}

// treapSplit returns the keys < key and the keys >= key, copying the path it walks.
func treapSplit(t *treapNode, key []byte) (*treapNode, *treapNode) {
	if t == nil {
		return nil, nil
	}
	n := *t
	if bytes.Compare(t.key, key) < 0 {
		l, r := treapSplit(t.right, key)
		n.right = l
		return &n, r
	}
	l, r := treapSplit(t.left, key)
	n.left = r
	return l, &n
}

// treapMerge joins a and b, every key of a being smaller than every key of b.
func treapMerge(a, b *treapNode) *treapNode {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if a.prio > b.prio {
		n := *a
		n.right = treapMerge(a.right, b)
		return &n
	}
	n := *b
	n.left = treapMerge(a, b.left)
	return &n
}

// NewIterator implements KV.
func (m *MemKV) NewIterator(ctx context.Context, lower, upper []byte) (KVIterator, error) {
	m.mu.Lock()
	root := m.root
	m.mu.Unlock()
	it := &memIterator{upper: bytes.Clone(upper)}
	for n := root; n != nil; {
		if bytes.Compare(n.key, lower) >= 0 {
			it.stack = append(it.stack, n)
			n = n.left
		} else {
			n = n.right
		}
	}
	return it, nil
}

type memIterator struct {
	stack []*treapNode
	upper []byte
	cur   *treapNode
}

func (it *memIterator) Next() bool {
	if len(it.stack) == 0 {
		it.cur = nil
		return false
	}
	n := it.stack[len(it.stack)-1]
	it.stack = it.stack[:len(it.stack)-1]
	if it.upper != nil && bytes.Compare(n.key, it.upper) >= 0 {
		it.stack, it.cur = nil, nil
		return false
	}
	for c := n.right; c != nil; c = c.left {
		it.stack = append(it.stack, c)
	}
	it.cur = n
	return true
}

func (it *memIterator) Key() []byte   { return it.cur.key }
func (it *memIterator) Value() []byte { return it.cur.value }
func (it *memIterator) ValueLen() int { return len(it.cur.value) }
func (it *memIterator) Err() error    { return nil }
func (it *memIterator) Close() error  { it.stack, it.cur = nil, nil; return nil }
