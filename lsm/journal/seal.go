package journal

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// Cipher seals the journal of an encrypted database. JournalKey returns the
// AEAD of one journal file from the SaltSize random bytes drawn for that
// file (kept in its header): the same AEAD for the same salt every time,
// and one that no other database shares. Its nonces must be 12 bytes and
// its tags 16. Package crypt's Sealer is the Cipher of an encrypted export.
type Cipher interface {
	JournalKey(salt []byte) (cipher.AEAD, error)
}

// ErrSealed is returned (wrapped) by a read of a sealed journal file
// without a Cipher: the file was written for an encrypted database, and
// only its key reads it.
var ErrSealed = errors.New("journal: the file is sealed (written for an encrypted export) and no key was given")

// ErrTampered is matched by the Damage of a sealed header or record whose
// checksum is right but which fails authentication: changed by someone who
// recomputed the checksum, copied from another journal file or another
// export's journal, or read with another export's key. It is never taken
// for a torn write.
var ErrTampered = errors.New("journal: failed authentication (tampered with, or not written by this journal)")

// Nonce kinds of a sealed file: its header's tag and its records.
const (
	kindHeader = 'H'
	kindRecord = 'R'
)

// sealedBodyOverhead is what a sealed record's body (what its length
// counts, after the length and the checksum) holds beside the sealed WAL
// record: the sequence number and the tag.
const sealedBodyOverhead = 8 + tagSize

// sealedOverhead is all that sealing adds to a WAL record: the length, the
// checksum and the body's overhead.
const sealedOverhead = 4 + 4 + sealedBodyOverhead

// sealedRecordMin is the shortest body of a sealed record: its overhead
// and a WAL record's framing.
const sealedRecordMin = sealedBodyOverhead + wal.RecordHeaderSize

// codec reads and writes the records of one journal file: in the clear
// (version 1, the records are WAL records as they are), or sealed with the
// file's key (version 2). A codec is for one goroutine at a time.
type codec struct {
	hdrLen int
	aead   cipher.AEAD // nil: in the clear
	// ad is the associated data of the sealed file's records: the header
	// up to its tag, then the kind and sequence number of each record.
	ad    []byte
	nonce [12]byte
}

var plainCodec = &codec{hdrLen: HeaderSize}

// newSealedFile draws a salt for a new sealed file with header h and
// returns the file's header and codec.
func newSealedFile(c Cipher, h Header) ([]byte, *codec, error) {
	hdr := appendHeaderFields(make([]byte, 0, SealedHeaderSize), SealedFormatVersion, h)
	hdr = append(hdr, make([]byte, SaltSize)...)
	if _, err := rand.Read(hdr[sealedHeaderAD-SaltSize:]); err != nil {
		return nil, nil, fmt.Errorf("journal: drawing a salt: %w", err)
	}
	cd, err := sealedCodec(c, hdr)
	if err != nil {
		return nil, nil, err
	}
	hdr = cd.aead.Seal(hdr, cd.nonceOf(kindHeader, 0), nil, cd.adOf(kindHeader, 0))
	hdr = binary.LittleEndian.AppendUint32(hdr, crc32c.Checksum(hdr))
	return hdr, cd, nil
}

// sealedCodec is the codec of a sealed file whose header starts with hdr
// (at least its fields before the tag).
func sealedCodec(c Cipher, hdr []byte) (*codec, error) {
	aead, err := c.JournalKey(hdr[sealedHeaderAD-SaltSize : sealedHeaderAD])
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if aead.NonceSize() != 12 || aead.Overhead() != tagSize {
		return nil, fmt.Errorf("journal: the cipher's nonces are %d bytes and tags %d, want 12 and %d", aead.NonceSize(), aead.Overhead(), tagSize)
	}
	ad := make([]byte, sealedHeaderAD, sealedHeaderAD+1+8)
	copy(ad, hdr)
	return &codec{hdrLen: SealedHeaderSize, aead: aead, ad: ad}, nil
}

// codecOf returns the codec that reads the file whose header is fh: a
// sealed file needs c (ErrSealed without it) and a header whose tag
// verifies (ErrTampered).
func codecOf(fh fileHeader, c Cipher) (*codec, error) {
	if !fh.sealed {
		return plainCodec, nil
	}
	if c == nil {
		return nil, ErrSealed
	}
	cd, err := sealedCodec(c, fh.raw)
	if err != nil {
		return nil, err
	}
	if _, err := cd.aead.Open(nil, cd.nonceOf(kindHeader, 0), fh.tag(), cd.adOf(kindHeader, 0)); err != nil {
		return nil, fmt.Errorf("%w: the header's tag does not verify", ErrTampered)
	}
	return cd, nil
}

func (c *codec) sealed() bool { return c.aead != nil }

// nonceOf is the nonce of the header (kindHeader, 0) or of the record
// whose first sequence number is seq: unique in the file, whose key is
// unique to it.
func (c *codec) nonceOf(kind byte, seq uint64) []byte {
	c.nonce = [12]byte{kind}
	binary.LittleEndian.PutUint64(c.nonce[4:], seq)
	return c.nonce[:]
}

func (c *codec) adOf(kind byte, seq uint64) []byte {
	c.ad = append(c.ad[:sealedHeaderAD], kind)
	c.ad = binary.LittleEndian.AppendUint64(c.ad, seq)
	return c.ad
}

// sealedPrefix is what a sealed record holds before its ciphertext: the
// length, the checksum and the sequence number.
const sealedPrefix = 4 + 4 + 8

// laidOutSize is the room a WAL record of n bytes takes in a chunk of a
// writer whose files are sealed (the record is sealed where it lies) or in
// the clear (the record as it is).
func laidOutSize(n int, sealed bool) int {
	if sealed {
		return sealedOverhead + n
	}
	return n
}

// appendLaidOut appends the WAL record rec to dst as a writer lays it out
// for sealing in place: room for the sealed prefix, the record, room for
// the tag.
func appendLaidOut(dst, rec []byte) []byte {
	dst = append(dst, make([]byte, sealedPrefix)...)
	dst = append(dst, rec...)
	return append(dst, make([]byte, tagSize)...)
}

// sealInPlace seals the records of chunk, laid out by appendLaidOut back to
// back, where they lie: afterwards chunk holds them as the file stores
// them. It allocates nothing, so a writer's sealed rounds cost no more
// memory than its clear ones.
func (c *codec) sealInPlace(chunk []byte) {
	for p := 0; p < len(chunk); {
		at := p + sealedPrefix
		n := len(chunk) - at // past any end: caught below
		if len(chunk)-at >= wal.RecordHeaderSize {
			n = wal.RecordHeaderSize + int(binary.LittleEndian.Uint32(chunk[at:]))
		}
		if n+tagSize > len(chunk)-at || n < wal.RecordHeaderSize {
			// Append lays out only records encoded by wal.AppendRecord.
			panic("journal: a buffered chunk does not hold whole WAL records")
		}
		seq, k := binary.Uvarint(chunk[at+wal.RecordHeaderSize : at+n])
		if k <= 0 {
			panic("journal: an appended WAL record has no sequence number")
		}
		rec := chunk[at : at+n]
		c.aead.Seal(rec[:0], c.nonceOf(kindRecord, seq), rec, c.adOf(kindRecord, seq))
		binary.LittleEndian.PutUint32(chunk[p:], uint32(sealedBodyOverhead+n))
		binary.LittleEndian.PutUint64(chunk[p+8:], seq)
		end := at + n + tagSize
		binary.LittleEndian.PutUint32(chunk[p+4:], crc32c.Checksum(chunk[p+8:end]))
		p = end
	}
}

// decode reads the record at the start of b and returns it with its stored
// size. torn says whether the error is one a torn write can cause (a
// record cut short, or bytes whose checksum does not match); a sealed
// record whose checksum matches but which fails authentication is not.
// The record aliases b in the clear, new memory when sealed.
func (c *codec) decode(b []byte) (r wal.Record, size int, torn bool, err error) {
	if !c.sealed() {
		r, size, err = wal.DecodeRecord(b)
		return r, size, err != nil, err
	}
	if len(b) < wal.RecordHeaderSize {
		return r, 0, true, fmt.Errorf("%w: truncated record header", wal.ErrCorrupt)
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-wal.RecordHeaderSize) {
		return r, 0, true, fmt.Errorf("%w: record runs past the end", wal.ErrCorrupt)
	}
	if n < sealedRecordMin {
		return r, 0, true, fmt.Errorf("%w: sealed record of %d bytes is too short", wal.ErrCorrupt, n)
	}
	body := b[wal.RecordHeaderSize : wal.RecordHeaderSize+int(n)]
	if crc32c.Checksum(body) != binary.LittleEndian.Uint32(b[4:]) {
		return r, 0, true, fmt.Errorf("%w: record checksum mismatch", wal.ErrCorrupt)
	}
	seq := binary.LittleEndian.Uint64(body)
	plain, err := c.aead.Open(nil, c.nonceOf(kindRecord, seq), body[8:], c.adOf(kindRecord, seq))
	if err != nil {
		return r, 0, false, fmt.Errorf("%w: the record at sequence number %d", ErrTampered, seq)
	}
	r, inner, err := wal.DecodeRecord(plain)
	if err == nil && (inner != len(plain) || r.FirstSeq != seq) {
		err = fmt.Errorf("%w: it holds %d bytes and sequence number %d, its frame says %d bytes and %d",
			wal.ErrCorrupt, inner, r.FirstSeq, len(plain), seq)
	}
	if err != nil {
		return wal.Record{}, 0, false, fmt.Errorf("sealed record authenticated, but malformed: %w", err)
	}
	return r, wal.RecordHeaderSize + int(n), false, nil
}
