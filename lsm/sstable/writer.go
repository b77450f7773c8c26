package sstable

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/zerofs-go/zerofsd/lsm/compress"
)

// WriterOptions configure a Writer. The zero value is usable.
type WriterOptions struct {
	// BlockSize is the target size of a data block before compression.
	// A block is closed once it reaches this size; an entry that is larger
	// than a block on its own gets a block of its own. Default 4096, at most
	// 16 MiB.
	BlockSize int
	// BloomBitsPerKey sizes the bloom filter: 0 means the default (10 bits
	// per distinct user key, about 1% false positives), a negative value
	// writes no filter.
	BloomBitsPerKey int
	// Compression of data blocks. Default CompressionNone.
	Compression Compression
	// RestartInterval is the number of entries between restart points (keys
	// stored whole) in a data block. Default 16.
	RestartInterval int
	// SizeHint is the expected size of the object (e.g. the target SST
	// size). With it the writer allocates its buffer once and Finish need
	// not join segments. Default 0: grow in segments of about 1 MiB.
	SizeHint int
	// Codecs, when set, supplies compression state shared between writers
	// (see Codecs). Default nil: each writer builds its own when needed.
	Codecs *Codecs
}

const (
	defaultBlockSize       = 4096
	defaultBloomBitsPerKey = 10
	defaultRestartInterval = 16

	// maxBlockSize caps WriterOptions.BlockSize, so that every block a
	// writer makes stays below maxDecodedBlock.
	maxBlockSize = 16 << 20
)

func (o WriterOptions) withDefaults() WriterOptions {
	if o.BlockSize <= 0 {
		o.BlockSize = defaultBlockSize
	}
	o.BlockSize = min(o.BlockSize, maxBlockSize)
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = defaultBloomBitsPerKey
	}
	if o.RestartInterval <= 0 {
		o.RestartInterval = defaultRestartInterval
	}
	return o
}

// Writer builds one SST in memory. Entries are added in internal order and
// Finish returns the whole object. A Writer is not safe for concurrent use.
type Writer struct {
	opts WriterOptions

	// The object so far is the segments followed by out; segments are
	// full (at least segmentSize) and joined once, by Finish, so that a big
	// SST is not copied over and over as it grows.
	segments   [][]byte
	segBase    int      // bytes in segments
	out        []byte   // the current segment; the open data block starts at blockStart
	blockStart int      // offset of the open block in out
	restarts   []uint32 // restart offsets of the open block, relative to blockStart
	sinceRest  int      // entries since the last restart point

	lastKey  []byte
	lastSeq  uint64
	lastKind Kind
	hasLast  bool

	index      []byte // encoded index entries
	indexCount int
	hashes     []uint64 // of distinct user keys, for the filter
	props      Properties
	comp       compress.Compressor
	finished   bool
}

// NewWriter returns a Writer with the given options (defaults filled in).
func NewWriter(opts WriterOptions) *Writer {
	opts = opts.withDefaults()
	w := &Writer{opts: opts, comp: compress.NewCompressor(opts.Compression, opts.Codecs)}
	if opts.SizeHint > 0 {
		w.out = make([]byte, 0, min(opts.SizeHint+opts.SizeHint/16+footerSize, 1<<30))
	}
	return w
}

// Add appends one entry. Entries must come in strictly increasing internal
// order: user key ascending, and for equal keys seq descending. Violations
// return an error wrapping ErrOutOfOrder and leave the Writer unchanged.
// Key and value are copied.
func (w *Writer) Add(key []byte, seq uint64, kind Kind, value []byte) error {
	if w.finished {
		return ErrWriterFinished
	}
	if !w.opts.Compression.Valid() {
		return fmt.Errorf("sstable: unknown compression %d", w.opts.Compression)
	}
	if !validKind(kind) {
		return fmt.Errorf("sstable: add %q: unknown kind %d", key, kind)
	}
	if seq > MaxSeq {
		return fmt.Errorf("sstable: add %q: seq %d exceeds %d", key, seq, MaxSeq)
	}
	if len(key)+len(value) > MaxEntrySize {
		return fmt.Errorf("sstable: add %q: %d bytes of key and value: %w", key, len(key)+len(value), ErrEntryTooLarge)
	}
	if w.hasLast && compareInternal(w.lastKey, w.lastSeq, key, seq) >= 0 {
		return fmt.Errorf("sstable: add %q seq %d after %q seq %d: %w", key, seq, w.lastKey, w.lastSeq, ErrOutOfOrder)
	}
	newUserKey := !w.hasLast || !bytes.Equal(w.lastKey, key)

	entrySize := entryOverhead + len(key) + len(value)
	if len(w.restarts) > 0 && w.openBlockSize()+entrySize > w.opts.BlockSize {
		if err := w.finishBlock(); err != nil {
			return err
		}
	}
	shared := 0
	if len(w.restarts) == 0 || w.sinceRest >= w.opts.RestartInterval {
		w.restarts = append(w.restarts, uint32(len(w.out)-w.blockStart))
		w.sinceRest = 0
	} else {
		shared = commonPrefix(w.lastKey, key)
	}
	w.out = appendEntry(w.out, shared, key[shared:], makeTrailer(seq, kind), value)
	w.sinceRest++

	w.lastKey = append(w.lastKey[:0], key...)
	w.lastSeq, w.lastKind = seq, kind
	p := &w.props
	if !w.hasLast {
		p.SmallestKey = append([]byte(nil), key...)
		p.MinSeq, p.MaxSeq = seq, seq
	}
	w.hasLast = true
	p.NumEntries++
	if kind == KindDelete {
		p.NumDeletes++
	}
	p.MinSeq = min(p.MinSeq, seq)
	p.MaxSeq = max(p.MaxSeq, seq)
	p.RawKeySize += uint64(len(key))
	p.RawValueSize += uint64(len(value))
	if newUserKey && w.opts.BloomBitsPerKey > 0 {
		w.hashes = append(w.hashes, hashKey(key))
	}
	if w.openBlockSize() >= w.opts.BlockSize {
		return w.finishBlock()
	}
	return nil
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// openBlockSize is the uncompressed size of the open block if closed now.
func (w *Writer) openBlockSize() int {
	return len(w.out) - w.blockStart + 4*len(w.restarts) + 4
}

// finishBlock closes the open data block: restart array, optional
// compression, trailer, and its index entry.
func (w *Writer) finishBlock() error {
	for _, r := range w.restarts {
		w.out = binary.LittleEndian.AppendUint32(w.out, r)
	}
	w.out = binary.LittleEndian.AppendUint32(w.out, uint32(len(w.restarts)))
	w.props.MaxBlockSize = max(w.props.MaxBlockSize, uint64(len(w.out)-w.blockStart))
	kind := CompressionNone
	compressed, ok, err := w.comp.Compress(w.out[w.blockStart:])
	if err != nil {
		return err
	}
	if ok {
		w.out = append(w.out[:w.blockStart], compressed...)
		kind = w.opts.Compression
	}
	w.out = appendBlockTrailer(w.out, w.blockStart, kind)
	h := blockHandle{off: uint64(w.segBase + w.blockStart), length: uint64(len(w.out) - w.blockStart)}
	w.index = encodeIndexEntry(w.index, indexEntry{lastKey: w.lastKey, lastSeq: w.lastSeq, handle: h}, w.lastKind)
	w.indexCount++
	w.props.NumDataBlocks++
	w.restarts = w.restarts[:0]
	w.sinceRest = 0
	// Start a new segment when this one is big and has no room for another
	// block: appending would copy it all.
	if len(w.out) >= segmentSize && cap(w.out)-len(w.out) < max(2*w.opts.BlockSize, segmentSize/8) {
		w.segments = append(w.segments, w.out)
		w.segBase += len(w.out)
		w.out = make([]byte, 0, segmentSize+segmentSize/8)
	}
	w.blockStart = len(w.out)
	return nil
}

// segmentSize is the size at which the writer starts a new buffer segment.
const segmentSize = 1 << 20

// SetValueRefs sets the value refs property (package vlog's encoding of
// what the SST's KindPointer entries point into); call it before Finish.
func (w *Writer) SetValueRefs(refs []byte) { w.props.ValueRefs = bytes.Clone(refs) }

// Properties returns the properties of the SST; complete after Finish.
func (w *Writer) Properties() Properties {
	p := w.props
	p.SmallestKey = bytes.Clone(p.SmallestKey)
	p.LargestKey = bytes.Clone(p.LargestKey)
	p.ValueRefs = bytes.Clone(p.ValueRefs)
	return p
}

// EstimatedSize returns about how many bytes Finish would return now.
func (w *Writer) EstimatedSize() int {
	n := w.segBase + len(w.out) + 4*len(w.restarts) + len(w.index) + footerSize + 64 + 2*len(w.lastKey)
	if w.opts.BloomBitsPerKey > 0 {
		n += len(w.hashes)*w.opts.BloomBitsPerKey/8 + 16
	}
	return n
}

// Finish closes the SST and returns the whole object. An SST without entries
// is valid (it has no data block). The Writer cannot be used afterwards.
func (w *Writer) Finish() ([]byte, error) {
	if w.finished {
		return nil, ErrWriterFinished
	}
	w.finished = true
	if len(w.restarts) > 0 {
		if err := w.finishBlock(); err != nil {
			return nil, err
		}
	}
	var f footer
	f.version = FormatVersion
	w.props.FormatVersion = FormatVersion
	w.props.Compression = w.opts.Compression
	w.props.DataSize = uint64(w.segBase + len(w.out))
	if w.hasLast {
		w.props.LargestKey = append([]byte(nil), w.lastKey...)
	}

	if w.opts.BloomBitsPerKey > 0 && len(w.hashes) > 0 {
		start := len(w.out)
		w.out = append(w.out, buildFilter(w.hashes, w.opts.BloomBitsPerKey)...)
		w.out = appendBlockTrailer(w.out, start, CompressionNone)
		f.filter = blockHandle{uint64(w.segBase + start), uint64(len(w.out) - start)}
	}

	start := len(w.out)
	w.out = binary.AppendUvarint(w.out, uint64(w.indexCount))
	w.out = append(w.out, w.index...)
	w.out = appendBlockTrailer(w.out, start, CompressionNone)
	f.index = blockHandle{uint64(w.segBase + start), uint64(len(w.out) - start)}

	start = len(w.out)
	w.out = encodeProperties(w.out, &w.props)
	w.out = appendBlockTrailer(w.out, start, CompressionNone)
	f.properties = blockHandle{uint64(w.segBase + start), uint64(len(w.out) - start)}

	w.out = f.encode(w.out)
	out := w.out
	if len(w.segments) > 0 {
		out = make([]byte, 0, w.segBase+len(w.out))
		for _, seg := range w.segments {
			out = append(out, seg...)
		}
		out = append(out, w.out...)
	}
	w.segments, w.out, w.index, w.hashes = nil, nil, nil, nil
	return out, nil
}
