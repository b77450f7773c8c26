package lsm

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/vlog"
)

// Object names under the database's store.
const (
	manifestPrefix = "manifest/"
	manifestSuffix = ".manifest"
	walPrefix      = "wal/"
	walSuffix      = ".sst"
	tablePrefix    = "compacted/"
	tableSuffix    = ".sst"
	valuePrefix    = "values/"
	valueSuffix    = ".val"
)

func manifestKey(id uint64) string {
	return fmt.Sprintf("%s%020d%s", manifestPrefix, id, manifestSuffix)
}
func walKey(id uint64) string   { return fmt.Sprintf("%s%020d%s", walPrefix, id, walSuffix) }
func tableKey(id string) string { return tablePrefix + id + tableSuffix }

// objectKey names an object that holds values: a WAL object or a value object.
func objectKey(o vlog.Object) string {
	if o.Kind == vlog.WALObject {
		return walKey(o.WALID)
	}
	return valuePrefix + o.HexID() + valueSuffix
}

// parseValueKey extracts the id of a value object's name.
func parseValueKey(key string) ([16]byte, bool) {
	s, ok := strings.CutPrefix(key, valuePrefix)
	if !ok {
		return [16]byte{}, false
	}
	if s, ok = strings.CutSuffix(s, valueSuffix); !ok {
		return [16]byte{}, false
	}
	return vlog.ParseHexID(s)
}

// parseID extracts the number of a manifest or WAL object name.
func parseID(key, prefix, suffix string) (uint64, bool) {
	s, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return 0, false
	}
	if s, ok = strings.CutSuffix(s, suffix); !ok || len(s) != 20 {
		return 0, false
	}
	id, err := strconv.ParseUint(s, 10, 64)
	return id, err == nil
}

func parseTableKey(key string) (string, bool) {
	s, ok := strings.CutPrefix(key, tablePrefix)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(s, tableSuffix)
}

// newTableID returns a unique, time-ordered SST id: 48 bits of
// milliseconds then 80 random bits, in hex (a ULID in spirit).
func newTableID(now time.Time) string {
	b := newObjectID(now)
	return hex.EncodeToString(b[:])
}

// newObjectID returns 48 bits of milliseconds then 80 random bits: the id
// of a new SST or value object.
func newObjectID(now time.Time) [16]byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("lsm: reading random bytes: %v", err))
	}
	return b
}
