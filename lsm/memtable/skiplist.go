package memtable

import (
	"bytes"
	"math/rand/v2"
	"sync/atomic"
	"unsafe"

	"github.com/zerofs-go/zerofsd/lsm/sstable"
)

const (
	maxHeight = 20
	// pBranch is 1/4: each level holds about a quarter of the one below.
	branchBits = 2
	// nodeOverhead is what a node costs beyond its key and value.
	nodeOverhead = int(unsafe.Sizeof(node{}))
)

// inlineLevels towers live inside the node (no second allocation, no extra
// cache miss on the search path); the rare taller nodes spill into upper.
const inlineLevels = 4

type node struct {
	// prefix holds the key's first 8 bytes big-endian, so most comparisons
	// never touch the key's memory. prefix and the inline tower come first:
	// a search step touches one cache line.
	prefix uint64
	tower  [inlineLevels]atomic.Pointer[node]
	seq    uint64
	key    []byte
	value  []byte
	upper  []atomic.Pointer[node]
	loc    Loc
	kind   sstable.Kind
}

// Loc is where an entry's value also lies in the write-ahead log: the id of
// the WAL object (0: not known) and the offset of the first byte stored
// there. When the WAL holds the value in another form than the memtable
// (compressed), StoredLen and StoredCRC are the length and CRC32C of that
// form; StoredLen 0 means the value is there as it is.
type Loc struct {
	WALID     uint64
	Off       uint64
	StoredLen uint32
	StoredCRC uint32
}

func (n *node) next(level int) *atomic.Pointer[node] {
	if level < inlineLevels {
		return &n.tower[level]
	}
	return &n.upper[level-inlineLevels]
}

func keyPrefix(key []byte) uint64 {
	var p uint64
	for i := 0; i < 8; i++ {
		p <<= 8
		if i < len(key) {
			p |= uint64(key[i])
		}
	}
	return p
}

// Memtable is an ordered, versioned map; see the package comment.
type Memtable struct {
	head   node
	height atomic.Int32
	size   atomic.Int64
	count  atomic.Int64
	maxSeq atomic.Uint64
	rng    *rand.PCG
	// prev is the writer's scratch for the predecessors of an insert.
	prev [maxHeight]*node
	// nodes and slab are the writer's allocation chunks: nodes and key/value
	// bytes are carved from them instead of being allocated one by one.
	nodes []node
	slab  []byte
}

const (
	nodeChunk = 512
	slabSize  = 256 << 10
)

func (m *Memtable) allocNode() *node {
	if len(m.nodes) == cap(m.nodes) {
		m.nodes = make([]node, 0, nodeChunk)
	}
	m.nodes = m.nodes[:len(m.nodes)+1]
	return &m.nodes[len(m.nodes)-1]
}

func (m *Memtable) allocBytes(n int) []byte {
	if n > slabSize/8 {
		return make([]byte, n)
	}
	if cap(m.slab)-len(m.slab) < n {
		m.slab = make([]byte, 0, slabSize)
	}
	b := m.slab[len(m.slab) : len(m.slab)+n : len(m.slab)+n]
	m.slab = m.slab[:len(m.slab)+n]
	return b
}

// New returns an empty memtable.
func New() *Memtable {
	m := &Memtable{rng: rand.NewPCG(0x5eed, 0xc0ffee)}
	m.head.upper = make([]atomic.Pointer[node], maxHeight-inlineLevels)
	m.height.Store(1)
	return m
}

// Size approximates the memory held, in bytes.
func (m *Memtable) Size() int64 { return m.size.Load() }

// Len is the number of entries.
func (m *Memtable) Len() int64 { return m.count.Load() }

// Empty reports whether nothing was added.
func (m *Memtable) Empty() bool { return m.count.Load() == 0 }

// MaxSeq is the largest sequence number added (0 when empty).
func (m *Memtable) MaxSeq() uint64 { return m.maxSeq.Load() }

func (m *Memtable) randomHeight() int {
	h := 1
	r := m.rng.Uint64()
	for h < maxHeight && r&(1<<branchBits-1) == 0 {
		h++
		r >>= branchBits
	}
	return h
}

// less reports whether node n sorts before (key, seq); prefix is key's.
func less(n *node, prefix uint64, key []byte, seq uint64) bool {
	if n.prefix != prefix {
		return n.prefix < prefix
	}
	c := bytes.Compare(n.key, key)
	return c < 0 || (c == 0 && n.seq > seq)
}

// Add inserts an entry, copying key and value. Calls must not overlap; the
// (key, seq) pair must be new.
func (m *Memtable) Add(seq uint64, kind sstable.Kind, key, value []byte) {
	m.AddAt(seq, kind, key, value, Loc{})
}

// AddAt is Add for an entry whose value is also at loc in the WAL (as it
// is, or in the stored form loc describes).
func (m *Memtable) AddAt(seq uint64, kind sstable.Kind, key, value []byte, loc Loc) {
	buf := m.allocBytes(len(key) + len(value))
	copy(buf, key)
	copy(buf[len(key):], value)
	h := m.randomHeight()
	prefix := keyPrefix(key)
	n := m.allocNode()
	n.prefix = prefix
	n.key = buf[:len(key):len(key)]
	n.value = buf[len(key):]
	n.seq = seq
	n.kind = kind
	n.loc = loc
	if h > inlineLevels {
		n.upper = make([]atomic.Pointer[node], h-inlineLevels)
	}
	cur := &m.head
	for level := int(m.height.Load()) - 1; level >= 0; level-- {
		for {
			nx := cur.next(level).Load()
			if nx == nil || !less(nx, prefix, key, seq) {
				break
			}
			cur = nx
		}
		m.prev[level] = cur
	}
	if top := int(m.height.Load()); h > top {
		for level := top; level < h; level++ {
			m.prev[level] = &m.head
		}
		m.height.Store(int32(h))
	}
	// Link bottom-up: once level 0 is linked the node is visible; higher
	// levels only speed up searches.
	for level := 0; level < h; level++ {
		n.next(level).Store(m.prev[level].next(level).Load())
		m.prev[level].next(level).Store(n)
	}
	m.size.Add(int64(len(key) + len(value) + nodeOverhead + 8*max(0, h-inlineLevels)))
	m.count.Add(1)
	if seq > m.maxSeq.Load() {
		m.maxSeq.Store(seq)
	}
}

// seekGE returns the first node at or after (key, seq).
//
// It returns the level-0 successor it compared, not a fresh load of it: a
// concurrent Add may link a node right after the last node before (key,
// seq) in between, and that node may sort before (key, seq) (a newer
// version of key, or a smaller key), which Get would return as if it were
// visible at seq.
func (m *Memtable) seekGE(key []byte, seq uint64) *node {
	prefix := keyPrefix(key)
	cur := &m.head
	var nx *node
	for level := int(m.height.Load()) - 1; level >= 0; level-- {
		for {
			nx = cur.next(level).Load()
			if nx == nil || !less(nx, prefix, key, seq) {
				break
			}
			cur = nx
		}
	}
	return nx
}

// Get returns the newest version of key with a sequence number <= maxSeq.
// found is false when the memtable has no such version; a found tombstone
// has kind KindDelete.
func (m *Memtable) Get(key []byte, maxSeq uint64) (value []byte, seq uint64, kind sstable.Kind, found bool) {
	n := m.seekGE(key, maxSeq)
	if n == nil || !bytes.Equal(n.key, key) {
		return nil, 0, 0, false
	}
	return n.value, n.seq, n.kind, true
}

// Iter walks the memtable's entries in internal order. It sees entries
// added after it was created; callers filter by sequence number.
type Iter struct {
	m *Memtable
	n *node
}

// NewIter returns an unpositioned iterator.
func (m *Memtable) NewIter() *Iter { return &Iter{m: m} }

// First positions at the first entry.
func (it *Iter) First() bool {
	it.n = it.m.head.tower[0].Load()
	return it.n != nil
}

// SeekGE positions at the first entry whose user key is >= key.
func (it *Iter) SeekGE(key []byte) bool {
	it.n = it.m.seekGE(key, ^uint64(0))
	return it.n != nil
}

// Next advances to the following entry.
func (it *Iter) Next() bool {
	if it.n != nil {
		it.n = it.n.tower[0].Load()
	}
	return it.n != nil
}

// Valid reports whether the iterator is at an entry.
func (it *Iter) Valid() bool { return it.n != nil }

// Key is the current entry's user key; it must not be modified.
func (it *Iter) Key() []byte { return it.n.key }

// Seq is the current entry's sequence number.
func (it *Iter) Seq() uint64 { return it.n.seq }

// Kind is the current entry's kind.
func (it *Iter) Kind() sstable.Kind { return it.n.kind }

// Value is the current entry's value; it must not be modified.
func (it *Iter) Value() []byte { return it.n.value }

// Loc is where the current entry's value also lies in the WAL (AddAt).
func (it *Iter) Loc() Loc { return it.n.loc }
