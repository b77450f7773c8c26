package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
)

// The sealed object format (version 1); see the package comment.
const (
	objectMagic   = "ZFSC"
	formatVersion = 1
	headerLen     = 64
	saltLen       = 32
	tagLen        = 16
	// frameSize is the plaintext bytes of every frame but the last.
	frameSize = 4 << 10
	// sealedFrameSize is a full frame as stored: ciphertext and tag.
	sealedFrameSize = frameSize + tagLen

	// KeyLen is the length of a data key and of a key file's key.
	KeyLen = 32
	// exportIDLen is the length of an export's random id.
	exportIDLen = 16

	// maxPlainLen bounds an object's plaintext so that every offset
	// computed from it fits an int64.
	maxPlainLen = math.MaxInt64 / 2

	// Header field offsets.
	offVersion  = 4
	offSalt     = 8
	offPlainLen = offSalt + saltLen // 40
	offTag      = offPlainLen + 8   // 48
	nonceLen    = 12                // the AEAD's standard nonce
	objectInfo  = "zerofsd crypt v1 object key"
	kindHeader  = 'H' // associated data and nonce of the header tag
	kindFrame   = 'F' // of a frame
	adFixedLen  = exportIDLen + 1 + 1 + 8 + 2
)

// numFrames is how many frames hold plainLen bytes (none for an empty object).
func numFrames(plainLen int64) int64 { return (plainLen + frameSize - 1) / frameSize }

// sealedSize is the stored size of an object of plainLen bytes.
func sealedSize(plainLen int64) int64 {
	return headerLen + plainLen + numFrames(plainLen)*tagLen
}

// plainSize is the plaintext size of an object stored in sealed bytes, and
// whether that size is one sealedSize can produce. It reads no header: it is
// what Head and List report, not an authenticated value.
func plainSize(sealed int64) (int64, bool) {
	if sealed < headerLen {
		return 0, false
	}
	body := sealed - headerLen
	full, rest := body/sealedFrameSize, body%sealedFrameSize
	switch {
	case rest == 0:
		return full * frameSize, true
	case rest <= tagLen:
		return full * frameSize, false
	}
	return full*frameSize + rest - tagLen, true
}

// frameOffset is where frame i starts in the stored object.
func frameOffset(i int64) int64 { return headerLen + i*sealedFrameSize }

// frameLen is the plaintext length of frame i of an object of plainLen bytes.
func frameLen(i, plainLen int64) int64 { return min(frameSize, plainLen-i*frameSize) }

// header is an object's parsed header.
type header struct {
	salt     [saltLen]byte
	plainLen int64
}

// encode writes the header, without its tag, into b[:offTag].
func (h *header) encode(b []byte) {
	copy(b, objectMagic)
	b[offVersion] = formatVersion
	b[5], b[6], b[7] = 0, 0, 0
	copy(b[offSalt:], h.salt[:])
	binary.BigEndian.PutUint64(b[offPlainLen:], uint64(h.plainLen))
}

// parseHeader checks the form of a stored header (not its tag).
func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < headerLen {
		return h, fmt.Errorf("%d bytes, shorter than a header", len(b))
	}
	if string(b[:4]) != objectMagic {
		return h, fmt.Errorf("not a sealed object (magic %q)", b[:4])
	}
	if b[offVersion] != formatVersion {
		return h, fmt.Errorf("unknown format version %d", b[offVersion])
	}
	if b[5]|b[6]|b[7] != 0 {
		return h, fmt.Errorf("reserved header bytes are not zero")
	}
	copy(h.salt[:], b[offSalt:offPlainLen])
	n := binary.BigEndian.Uint64(b[offPlainLen:])
	if n > maxPlainLen {
		return h, fmt.Errorf("plaintext length %d out of range", n)
	}
	h.plainLen = int64(n)
	return h, nil
}

// objectKey is the AEAD of one object: its key derived from the data key
// and the object's salt, with the export id and name its frames are bound to.
type objectKey struct {
	aead     cipher.AEAD
	exportID [exportIDLen]byte
	name     string
	plainLen int64
}

// deriveObjectKey derives the per-object key: HKDF-SHA256 of the data key
// with the object's salt, the export id in the info string.
func deriveObjectKey(k *Keys, name string, h header) (*objectKey, error) {
	aead, err := deriveKey(k, h.salt[:], objectInfo)
	if err != nil {
		return nil, fmt.Errorf("crypt: deriving an object key: %w", err)
	}
	return &objectKey{aead: aead, exportID: k.exportID, name: name, plainLen: h.plainLen}, nil
}

// deriveKey is the AES-256-GCM of the key HKDF-SHA256 derives from the data
// key with salt, the info string purpose followed by the export id.
func deriveKey(k *Keys, salt []byte, purpose string) (cipher.AEAD, error) {
	info := make([]byte, 0, len(purpose)+exportIDLen)
	info = append(append(info, purpose...), k.exportID[:]...)
	key, err := hkdf.Key(sha256.New, k.dataKey[:], salt, string(info), 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// nonce is the nonce of the header (kindHeader, index 0) or of frame i:
// unique per object key, which is itself unique per object.
func nonce(dst *[nonceLen]byte, kind byte, i int64) []byte {
	*dst = [nonceLen]byte{}
	dst[0] = kind
	binary.BigEndian.PutUint64(dst[4:], uint64(i))
	return dst[:]
}

// ad appends the associated data of a header tag or a frame to dst: the
// export id, the kind, the last-frame flag, the frame index and the object
// name; for the header, the header bytes before the tag follow.
func (ok *objectKey) ad(dst []byte, kind byte, i int64, last bool, hdr []byte) []byte {
	dst = append(dst, ok.exportID[:]...)
	dst = append(dst, kind)
	flag := byte(0)
	if last {
		flag = 1
	}
	dst = append(dst, flag)
	dst = binary.BigEndian.AppendUint64(dst, uint64(i))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(ok.name)))
	dst = append(dst, ok.name...)
	return append(dst, hdr...)
}

// sealHeader writes the tag of hdr (a full header with its fields set).
func (ok *objectKey) sealHeader(hdr []byte) {
	var n [nonceLen]byte
	ad := ok.ad(make([]byte, 0, adFixedLen+len(ok.name)+offTag), kindHeader, 0, false, hdr[:offTag])
	ok.aead.Seal(hdr[offTag:offTag], nonce(&n, kindHeader, 0), nil, ad)
}

// openHeader verifies the tag of hdr.
func (ok *objectKey) openHeader(hdr []byte) bool {
	var n [nonceLen]byte
	ad := ok.ad(make([]byte, 0, adFixedLen+len(ok.name)+offTag), kindHeader, 0, false, hdr[:offTag])
	_, err := ok.aead.Open(nil, nonce(&n, kindHeader, 0), hdr[offTag:headerLen], ad)
	return err == nil
}

// last reports whether frame i is the object's last.
func (ok *objectKey) last(i int64) bool { return i == numFrames(ok.plainLen)-1 }

// frameScratch is one goroutine's room for the nonce and associated data
// of the frames it seals or opens, so that no frame allocates.
type frameScratch struct {
	nonce [nonceLen]byte
	ad    []byte
}

func newFrameScratch(nameLen int) *frameScratch {
	return &frameScratch{ad: make([]byte, 0, adFixedLen+nameLen)}
}

// sealFrame appends frame i (plaintext p) as stored to dst.
func (ok *objectKey) sealFrame(dst []byte, i int64, p []byte, sc *frameScratch) []byte {
	sc.ad = ok.ad(sc.ad[:0], kindFrame, i, ok.last(i), nil)
	return ok.aead.Seal(dst, nonce(&sc.nonce, kindFrame, i), p, sc.ad)
}

// openFrame appends the plaintext of stored frame i to dst.
func (ok *objectKey) openFrame(dst []byte, i int64, sealed []byte, sc *frameScratch) ([]byte, error) {
	sc.ad = ok.ad(sc.ad[:0], kindFrame, i, ok.last(i), nil)
	return ok.aead.Open(dst, nonce(&sc.nonce, kindFrame, i), sealed, sc.ad)
}
