package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// errOtherPageSize marks a valid page file written with another page size.
var errOtherPageSize = errors.New("page file has another page size")

// scanWorkers is how many files the scan reads at once: after a reboot the
// headers are cold random reads, which an SSD serves better in parallel.
const scanWorkers = 8

// scan rebuilds the index from the files of a previous run: temporary files
// are removed, invalid or misplaced page files are removed and counted as
// corrupt, and valid ones are indexed with their modification time as the
// approximate recency (oldest evicted first if they exceed the capacity).
func (d *Disk) scan() error {
	nsDirs, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("cache: scan %s: %w", d.dir, err)
	}
	type candidate struct {
		path, hash, nsDir string
		// filled by the workers
		e     *entry
		mtime time.Time
		err   error
	}
	var candidates []candidate
	var garbage []string
	for _, nsDir := range nsDirs {
		if !nsDir.IsDir() || !isHex(nsDir.Name(), 16) {
			continue
		}
		nsPath := filepath.Join(d.dir, nsDir.Name())
		prefixDirs, err := os.ReadDir(nsPath)
		if err != nil {
			d.logger.Warn("cannot scan cache directory", "path", nsPath, "err", err)
			continue
		}
		for _, prefixDir := range prefixDirs {
			if !prefixDir.IsDir() || !isHex(prefixDir.Name(), 2) {
				continue
			}
			dirPath := filepath.Join(nsPath, prefixDir.Name())
			files, err := os.ReadDir(dirPath)
			if err != nil {
				d.logger.Warn("cannot scan cache directory", "path", dirPath, "err", err)
				continue
			}
			for _, f := range files {
				name, path := f.Name(), filepath.Join(dirPath, f.Name())
				if strings.HasPrefix(name, tmpPrefix) {
					garbage = append(garbage, path)
					continue
				}
				hash, _, ok := strings.Cut(name, ".")
				if !ok || !isHex(hash, 32) || !strings.HasPrefix(hash, prefixDir.Name()) || f.IsDir() {
					continue // not ours: leave it alone
				}
				candidates = append(candidates, candidate{path: path, hash: hash, nsDir: nsDir.Name()})
			}
		}
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(scanWorkers, len(candidates)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(candidates)); i = next.Add(1) - 1 {
				c := &candidates[i]
				c.e, c.mtime, c.err = d.loadEntry(c.path)
				if c.err == nil && (pageHash(c.e.id) != c.hash || namespaceDir(c.e.id.namespace) != c.nsDir) {
					c.err = fmt.Errorf("%w: file is misplaced for %q/%q page %d", errCorruptPage, c.e.id.namespace, c.e.id.key, c.e.id.page)
				}
			}
		}()
	}
	wg.Wait()

	type found struct {
		e     *entry
		mtime time.Time
	}
	byID := make(map[pageID]found)
	otherPageSize := 0
	for _, c := range candidates {
		switch {
		case errors.Is(c.err, errOtherPageSize):
			otherPageSize++
			garbage = append(garbage, c.path)
		case c.err != nil:
			d.corrupt.Add(1)
			level := slog.LevelWarn
			if !d.warnLimit.allow(time.Now()) {
				level = slog.LevelDebug
			}
			d.logger.Log(context.Background(), level, "removing invalid cache file", "path", c.path, "err", c.err)
			garbage = append(garbage, c.path)
		case c.e.size() > d.capacity:
			garbage = append(garbage, c.path) // can never fit: the capacity shrank
		default:
			if prev, dup := byID[c.e.id]; dup {
				if prev.mtime.After(c.mtime) {
					garbage = append(garbage, c.path)
					continue
				}
				garbage = append(garbage, prev.e.path)
			}
			byID[c.e.id] = found{c.e, c.mtime}
		}
	}
	if otherPageSize > 0 {
		d.logger.Info("removed cache files written with another page size", "files", otherPageSize)
	}
	all := make([]found, 0, len(byID))
	for _, f := range byID {
		all = append(all, f)
	}
	slices.SortFunc(all, func(a, b found) int { return a.mtime.Compare(b.mtime) })
	d.mu.Lock()
	for _, f := range all {
		// Nothing else runs yet: the victims' files are removed below.
		victims, _ := d.evictLocked(f.e.size()) // fits: larger files were dropped above
		garbage = append(garbage, entryPaths(victims)...)
		d.linkLocked(f.e) // no duplicates: byID kept one file per page
	}
	d.mu.Unlock()
	d.removeFiles(garbage)
	return nil
}

// loadEntry reads and verifies the header of a page file and checks its size.
// The payload is verified when it is read.
func (d *Disk) loadEntry(path string) (*entry, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	prefix, err := readFull(f, fixedHeaderLen)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, time.Time{}, err
	}
	n, err := headerLenFromPrefix(prefix)
	if err != nil {
		return nil, time.Time{}, err
	}
	hdr, err := readFull(f, n)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, time.Time{}, err
	}
	h, n, err := decodePageHeader(hdr)
	if err != nil {
		return nil, time.Time{}, err
	}
	if int64(h.pageSize) != d.pageSize {
		return nil, time.Time{}, errOtherPageSize
	}
	if want := int64(n) + int64(h.payloadLen); info.Size() != want {
		return nil, time.Time{}, fmt.Errorf("%w: file is %d bytes, want %d", errCorruptPage, info.Size(), want)
	}
	e := &entry{
		id:         pageID{namespace: h.namespace, key: h.key, page: int64(h.page)},
		path:       path,
		headerLen:  n,
		payloadLen: int(h.payloadLen),
	}
	if e.id.page < 0 {
		return nil, time.Time{}, fmt.Errorf("%w: negative page index", errCorruptPage)
	}
	return e, info.ModTime(), nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
