package sstable

import (
	"fmt"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
)

// compressor compresses blocks for one Writer. The zstd encoder is created on
// first use and belongs to that Writer alone.
type compressor struct {
	kind Compression
	zenc *zstd.Encoder
	buf  []byte
}

// compress returns the compressed form of src (valid until the next call),
// or ok=false when the compressed form would not save at least 1/8 of the
// bytes, in which case the block is better stored as it is.
func (c *compressor) compress(src []byte) (out []byte, ok bool, err error) {
	switch c.kind {
	case CompressionNone:
		return nil, false, nil
	case CompressionSnappy:
		c.buf = snappy.Encode(c.buf[:cap(c.buf)], src)
	case CompressionZstd:
		if c.zenc == nil {
			c.zenc, err = zstd.NewWriter(nil,
				zstd.WithEncoderConcurrency(1),
				zstd.WithEncoderLevel(zstd.SpeedDefault),
				zstd.WithEncoderCRC(false), // blocks carry their own CRC32C
				zstd.WithZeroFrames(true))
			if err != nil {
				return nil, false, fmt.Errorf("sstable: zstd encoder: %w", err)
			}
		}
		c.buf = c.zenc.EncodeAll(src, c.buf[:0])
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

// decompress decodes src, compressed with kind. Errors are not wrapped with
// ErrCorrupt here; the caller names the block.
func (d *decompressor) decompress(kind Compression, src []byte) ([]byte, error) {
	switch kind {
	case CompressionNone:
		return src, nil
	case CompressionSnappy:
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if n > maxDecodedBlock {
			return nil, fmt.Errorf("snappy: decoded length %d exceeds %d", n, maxDecodedBlock)
		}
		out, err := snappy.Decode(make([]byte, n), src)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		return out, nil
	case CompressionZstd:
		dec, err := d.zstd()
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
		out, err := dec.DecodeAll(src, nil)
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown compression type %d", kind)
}
