package compress

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
)

// Codec is a compression algorithm. Its number is stored in the formats
// that use it.
type Codec uint8

const (
	// None stores bytes as they are.
	None Codec = 0
	// Snappy is fast, with a modest ratio.
	Snappy Codec = 1
	// Zstd has a better ratio and costs more CPU.
	Zstd Codec = 2
)

// String returns "none", "snappy", "zstd" or "compression(n)".
func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Snappy:
		return "snappy"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", uint8(c))
}

// Valid reports whether c is a known codec.
func (c Codec) Valid() bool { return c <= Zstd }

// MaxDecoded bounds what Decompress ever returns (and so what Compress
// compresses): a damaged or hostile payload cannot make a reader allocate
// more.
const MaxDecoded = 128 << 20

// Codecs is compression state shared by every Compressor given it and by
// every caller of Decompress: a zstd encoder and decoder, created on first
// use. Building a zstd encoder costs about a millisecond and a megabyte,
// which matters for small objects written often; one Codecs per database
// avoids it. Safe for concurrent use; the zero value is ready.
type Codecs struct {
	zstdLevel int // what the zero value means: DefaultZstdLevel

	encOnce sync.Once
	zenc    *zstd.Encoder
	encErr  error

	decOnce sync.Once
	zdec    *zstd.Decoder
	decErr  error
}

// DefaultZstdLevel is the zstd level of a Codecs that names none: zstd's
// own default.
const DefaultZstdLevel = 3

// MinZstdLevel and MaxZstdLevel bound a zstd level (zstd's command-line
// scale). The encoder has four speeds: levels 1 and 2 are the fastest,
// 3 to 5 the default, 6 to 9 better compression, 10 and above the best.
const (
	MinZstdLevel = 1
	MaxZstdLevel = 22
)

// NewCodecs returns an empty Codecs that compresses zstd at
// DefaultZstdLevel.
func NewCodecs() *Codecs { return &Codecs{} }

// NewCodecsLevel returns an empty Codecs that compresses zstd at level
// (0 for DefaultZstdLevel; others are clamped to MinZstdLevel..MaxZstdLevel).
// The level changes only what is written: any level decodes any payload.
func NewCodecsLevel(level int) *Codecs { return &Codecs{zstdLevel: level} }

// zstdEncoderLevel maps a zstd level (0: the default) to the encoder's speed.
func zstdEncoderLevel(level int) zstd.EncoderLevel {
	if level == 0 {
		level = DefaultZstdLevel
	}
	return zstd.EncoderLevelFromZstd(min(max(level, MinZstdLevel), MaxZstdLevel))
}

func newZstdEncoder(concurrency, level int) (*zstd.Encoder, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderConcurrency(concurrency),
		zstd.WithEncoderLevel(zstdEncoderLevel(level)),
		zstd.WithEncoderCRC(false), // the formats carry their own CRC32C
		zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("compress: zstd encoder: %w", err)
	}
	return enc, nil
}

func (c *Codecs) zstdEncoder() (*zstd.Encoder, error) {
	c.encOnce.Do(func() { c.zenc, c.encErr = newZstdEncoder(runtime.GOMAXPROCS(0), c.zstdLevel) })
	return c.zenc, c.encErr
}

func (c *Codecs) zstdDecoder() (*zstd.Decoder, error) {
	c.decOnce.Do(func() {
		c.zdec, c.decErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxDecoded),
			zstd.WithDecoderLowmem(true))
	})
	return c.zdec, c.decErr
}

// Compressor compresses with one codec for one goroutine at a time. Without
// shared Codecs, its zstd encoder is created on first use and belongs to
// it alone.
type Compressor struct {
	codec  Codec
	codecs *Codecs
	zenc   *zstd.Encoder
	buf    []byte
}

// NewCompressor returns a Compressor for codec, sharing codecs' encoder
// when codecs is not nil.
func NewCompressor(codec Codec, codecs *Codecs) Compressor {
	return Compressor{codec: codec, codecs: codecs}
}

// Codec is the codec c compresses with.
func (c *Compressor) Codec() Codec { return c.codec }

// Compress returns the payload of src (valid until the next call). ok is
// false when that would not save at least 1/8 of the bytes (always with
// None, and for inputs above MaxDecoded): src is better stored as it is.
func (c *Compressor) Compress(src []byte) (payload []byte, ok bool, err error) {
	if c.codec == None || len(src) > MaxDecoded {
		return nil, false, nil
	}
	c.buf = binary.AppendUvarint(c.buf[:0], uint64(len(src)))
	switch c.codec {
	case Snappy:
		n := len(c.buf)
		need := n + snappy.MaxEncodedLen(len(src))
		if cap(c.buf) < need {
			c.buf = append(make([]byte, 0, need), c.buf...)
		}
		enc := snappy.Encode(c.buf[n:need], src)
		c.buf = c.buf[:n+len(enc)]
	case Zstd:
		if c.zenc == nil {
			if c.codecs != nil {
				c.zenc, err = c.codecs.zstdEncoder()
			} else {
				c.zenc, err = newZstdEncoder(1, DefaultZstdLevel)
			}
			if err != nil {
				return nil, false, err
			}
		}
		c.buf = c.zenc.EncodeAll(src, c.buf)
	default:
		return nil, false, fmt.Errorf("compress: unknown codec %d", c.codec)
	}
	if len(c.buf) >= len(src)-len(src)/8 {
		return nil, false, nil
	}
	return c.buf, true, nil
}

// Decompress decodes a payload compressed with codec into exactly its
// decoded length, refusing lengths above limit (and MaxDecoded) before
// allocating anything. With None it returns payload itself. A nil Codecs
// decodes only None. Errors are not wrapped with a corruption sentinel
// here: the caller names what it was decoding.
func (c *Codecs) Decompress(codec Codec, payload []byte, limit int) ([]byte, error) {
	if codec == None {
		return payload, nil
	}
	if c == nil {
		return nil, fmt.Errorf("%s payload where only uncompressed ones are expected", codec)
	}
	size, k := binary.Uvarint(payload)
	if k <= 0 {
		return nil, fmt.Errorf("bad decoded length")
	}
	if size > uint64(min(limit, MaxDecoded)) {
		return nil, fmt.Errorf("decoded length %d exceeds the limit %d", size, min(limit, MaxDecoded))
	}
	src := payload[k:]
	var out []byte
	var err error
	switch codec {
	case Snappy:
		var n int
		if n, err = snappy.DecodedLen(src); err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if uint64(n) != size {
			return nil, fmt.Errorf("snappy: decoded length %d, payload says %d", n, size)
		}
		if out, err = snappy.Decode(make([]byte, n), src); err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
	case Zstd:
		var h zstd.Header
		if err := h.Decode(src); err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		if h.HasFCS && h.FrameContentSize != size {
			return nil, fmt.Errorf("zstd: frame of %d bytes, payload says %d", h.FrameContentSize, size)
		}
		dec, err := c.zstdDecoder()
		if err != nil {
			return nil, fmt.Errorf("zstd decoder: %w", err)
		}
		if out, err = dec.DecodeAll(src, make([]byte, 0, size)); err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown codec %d", codec)
	}
	if uint64(len(out)) != size {
		return nil, fmt.Errorf("%s: decoded %d bytes, payload says %d", codec, len(out), size)
	}
	return out, nil
}
