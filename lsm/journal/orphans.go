package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// Orphan describes one tail that recovery set aside under orphaned/.
type Orphan struct {
	// Name is the tail's directory under orphaned/ (the UTC time it was
	// set aside); Path its full path.
	Name, Path string
	// Reason is why it was set aside (the REASON file).
	Reason string
	// Headers are the distinct file headers (database and writer epoch).
	Headers []Header
	Files   int
	// Records and their sequence numbers; Bytes their size.
	Records           int
	FirstSeq, LastSeq uint64
	Bytes             int64
	// Damaged counts bytes that are not readable records (the zeros
	// reserved after a file's records are neither).
	Damaged int64
}

// ListOrphans describes every tail set aside in the journal directory dir,
// oldest first. It takes no lock: a running server may set aside more
// meanwhile. fsys nil means OSFS. Sealed files are read with c; without
// one, a sealed file fails the listing with ErrSealed.
func ListOrphans(fsys FS, dir string, c Cipher) ([]Orphan, error) {
	if fsys == nil {
		fsys = OSFS{}
	}
	parent := path.Join(dir, orphanedName)
	ents, err := fsys.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: listing %s: %w", parent, err)
	}
	var out []Orphan
	for _, e := range ents {
		if !e.Dir {
			continue
		}
		o := Orphan{Name: e.Name, Path: path.Join(parent, e.Name)}
		if reason, err := fsys.ReadFile(path.Join(o.Path, reasonName)); err == nil {
			o.Reason = strings.TrimSpace(string(reason))
		}
		err := readOrphan(fsys, o.Path, c, func(name string, h Header, r wal.Record, size int) error {
			if o.Records == 0 {
				o.FirstSeq = r.FirstSeq
			}
			o.Records++
			o.LastSeq = r.LastSeq()
			o.Bytes += int64(size)
			return nil
		}, func(file string, h *Header) {
			o.Files++
			if h != nil && (len(o.Headers) == 0 || o.Headers[len(o.Headers)-1] != *h) {
				o.Headers = append(o.Headers, *h)
			}
		}, func(string, int64, int64) {}, &o.Damaged)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// ReadOrphan calls fn for every readable record of the set-aside tail name
// (a directory under orphaned/), in order, with the header of its file.
// Damaged bytes (and sealed records that fail authentication) are skipped
// (the reading resumes at the next valid record) and reported to skipped
// with their file, offset and length. Sealed files are read with c;
// without one, a sealed file fails the reading with ErrSealed.
func ReadOrphan(fsys FS, dir, name string, c Cipher, fn func(h Header, r wal.Record) error, skipped func(file string, off, n int64)) error {
	if fsys == nil {
		fsys = OSFS{}
	}
	if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return fmt.Errorf("journal: %q is not the name of a set-aside tail", name)
	}
	var damaged int64
	return readOrphan(fsys, path.Join(dir, orphanedName, name), c, func(_ string, h Header, r wal.Record, _ int) error {
		return fn(h, r)
	}, func(string, *Header) {}, skipped, &damaged)
}

func readOrphan(fsys FS, dir string, c Cipher, rec func(file string, h Header, r wal.Record, size int) error,
	file func(name string, h *Header), skipped func(file string, off, n int64), damaged *int64) error {
	nums, err := journalFiles(fsys, dir)
	if err != nil {
		return err
	}
	for _, n := range nums {
		name := fileName(n)
		data, err := fsys.ReadFile(path.Join(dir, name))
		if err != nil {
			return fmt.Errorf("journal: reading %s: %w", path.Join(dir, name), err)
		}
		fh, herr := decodeFileHeader(data)
		cd := plainCodec
		if herr == nil {
			cd, herr = codecOf(fh, c)
			if errors.Is(herr, ErrSealed) {
				return fmt.Errorf("journal: reading %s: %w", path.Join(dir, name), herr)
			}
		}
		h := fh.Header
		// Space the writer reserved ahead of its records reads as zeros,
		// here as in Scan: the file's records end where only zeros are
		// left (the zeros are neither records nor damage).
		end := zeroTail(data)
		var spans *crc32c.Spans // made at the first damage
		resyncFrom := func(from int) int {
			if spans == nil {
				spans = crc32c.NewSpans(data)
			}
			return resync(cd, data, spans, from, end)
		}
		off := 0
		if herr != nil {
			// Records in the clear may still be found; sealed ones need
			// their file's header.
			cd = plainCodec
			file(name, nil)
			off = resyncFrom(0)
			if off > 0 {
				skipped(name, 0, int64(off))
				*damaged += int64(off)
			}
		} else {
			file(name, &h)
			off = cd.hdrLen
		}
		for off < end {
			r, size, _, err := cd.decode(data[off:])
			if err != nil || r.Count == 0 {
				next := resyncFrom(off + 1)
				skipped(name, int64(off), int64(next-off))
				*damaged += int64(next - off)
				off = next
				continue
			}
			if err := rec(name, h, r, size); err != nil {
				return err
			}
			off += size
		}
	}
	return nil
}
