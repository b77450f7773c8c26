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
	"time"
)

// errOtherPageSize marks a valid page file written with another page size.
var errOtherPageSize = errors.New("page file has another page size")

// scan rebuilds the index from the files of a previous run: temporary files
// are removed, invalid or misplaced page files are removed and counted as
// corrupt, and valid ones are indexed with their modification time as the
// approximate recency (oldest evicted first if they exceed the capacity).
func (d *Disk) scan() error {
	nsDirs, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("cache: scan %s: %w", d.dir, err)
	}
	type found struct {
		e     *entry
		mtime time.Time
	}
	byID := make(map[pageID]found)
	var garbage []string
	otherPageSize := 0
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
				e, mtime, err := d.loadEntry(path)
				if err == nil && (pageHash(e.id) != hash || namespaceDir(e.id.namespace) != nsDir.Name()) {
					err = fmt.Errorf("%w: file is misplaced for %q/%q page %d", errCorruptPage, e.id.namespace, e.id.key, e.id.page)
				}
				if errors.Is(err, errOtherPageSize) {
					otherPageSize++
					garbage = append(garbage, path)
					continue
				}
				if err == nil && e.size() > d.capacity {
					garbage = append(garbage, path) // can never fit: the capacity shrank
					continue
				}
				if err != nil {
					d.corrupt.Add(1)
					level := slog.LevelWarn
					if !d.warnLimit.allow(time.Now()) {
						level = slog.LevelDebug
					}
					d.logger.Log(context.Background(), level, "removing invalid cache file", "path", path, "err", err)
					garbage = append(garbage, path)
					continue
				}
				if prev, dup := byID[e.id]; dup {
					if prev.mtime.After(mtime) {
						garbage = append(garbage, path)
						continue
					}
					garbage = append(garbage, prev.e.path)
				}
				byID[e.id] = found{e, mtime}
			}
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
		garbage = d.linkLocked(f.e, garbage)
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
