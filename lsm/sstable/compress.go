package sstable

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
)

// Codecs is reusable compression state: a zstd encoder created on first use
// and shared by every Writer given it (WriterOptions.Codecs). Building a zstd
// encoder costs about a millisecond and a megabyte, which matters for small
// SSTs written often (WAL objects); one Codecs per database avoids it. Safe
// for concurrent use.
type Codecs struct {
	once sync.Once
	zenc *zstd.Encoder
	zerr error
}

// NewCodecs returns an empty Codecs.
func NewCodecs() *Codecs { return &Codecs{} }

func newZstdEncoder(concurrency int) (*zstd.Encoder, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(concurrency),
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderCRC(false), // blocks carry their own CRC32C
		zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("sstable: zstd encoder: %w", err)
	}
	return enc, nil
}

func (c *Codecs) zstdEncoder() (*zstd.Encoder, error) {
	c.once.Do(func() { c.zenc, c.zerr = newZstdEncoder(runtime.GOMAXPROCS(0)) })
	return c.zenc, c.zerr
}

// compressor compresses blocks for one Writer. Without shared Codecs, the
// zstd encoder is created on first use and belongs to that Writer alone.
type compressor struct {
	kind   Compression
	codecs *Codecs
	zenc   *zstd.Encoder
	buf    []byte
}

// compress returns the compressed payload of src (valid until the next
// call): the uvarint length of src, then the compressed bytes. ok is false
// when that would not save at least 1/8 of the bytes, in which case the
// block is better stored as it is.
func (c *compressor) compress(src []byte) (out []byte, ok bool, err error) {
	c.buf = binary.AppendUvarint(c.buf[:0], uint64(len(src)))
	switch c.kind {
	case CompressionNone:
		return nil, false, nil
	case CompressionSnappy:
		n := len(c.buf)
		need := n + snappy.MaxEncodedLen(len(src))
		if cap(c.buf) < need {
			c.buf = append(make([]byte, 0, need), c.buf...)
		}
		enc := snappy.Encode(c.buf[n:need], src)
		c.buf = c.buf[:n+len(enc)]
	case CompressionZstd:
		if c.zenc == nil {
			if c.codecs != nil {
				c.zenc, err = c.codecs.zstdEncoder()
			} else {
				c.zenc, err = newZstdEncoder(1)
			}
			if err != nil {
				return nil, false, err
			}
		}
		c.buf = c.zenc.EncodeAll(src, c.buf)
	default:
		return nil, false, fmt.Errorf("sstable: unknown compression %d", c.kind)
	}
	if len(c.buf) >= len(src)-len(src)/8 {
		return nil, false, nil
	}
	return c.buf, true, nil
}

// decompressor decodes blocks. It is safe for concurrent use; the zstd decoder
// is created on first use and shared by every reader that shares the
// decompressor (readers with the same BlockCache share one).
type decompressor struct {
	once sync.Once
	zdec *zstd.Decoder
	zerr error
}

func (d *decompressor) zstd() (*zstd.Decoder, error) {
	d.once.Do(func() {
		d.zdec, d.zerr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(maxDecodedBlock),
			zstd.WithDecoderLowmem(true))
	})
	return d.zdec, d.zerr
}

// decompress decodes a compressed payload (uvarint decoded length, then the
// compressed bytes) into exactly that many bytes, refusing lengths above
// limit before allocating anything. Errors are not wrapped with ErrCorrupt
// here; the caller names the block.
func (d *decompressor) decompress(kind Compression, payload []byte, limit int) ([]byte, error) {
	if kind == CompressionNone {
		return payload, nil
	}
	size, k := binary.Uvarint(payload)
	if k <= 0 {
		return nil, fmt.Errorf("bad decoded length")
	}
	if size > uint64(limit) {
		return nil, fmt.Errorf("decoded length %d exceeds the limit %d", size, limit)
	}
	src := payload[k:]
	var out []byte
	var err error
	switch kind {
	case CompressionSnappy:
		var n int
		if n, err = snappy.DecodedLen(src); err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if uint64(n) != size {
			return nil, fmt.Errorf("snappy: decoded length %d, block says %d", n, size)
		}
		if out, err = snappy.Decode(make([]byte, n), src); err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
	case CompressionZstd:
		var h zstd.Header
		if err := h.Decode(src); err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if h.HasFCS && h.FrameContentSize != size {
			return nil, fmt.Errorf("zstd: frame of %d bytes, block says %d", h.FrameContentSize, size)
		}
		dec, err := d.zstd()
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
		if out, err = dec.DecodeAll(src, make([]byte, 0, size)); err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown compression type %d", kind)
	}
	if uint64(len(out)) != size {
		return nil, fmt.Errorf("%s: decoded %d bytes, block says %d", kind, len(out), size)
	}
	return out, nil
}
