package kvfs

import (
	"context"
	"testing"
)

// TestFsckFindsDamage damages a healthy filesystem's keys directly and checks
// that Fsck reports each kind of damage.
func TestFsckFindsDamage(t *testing.T) {
	ctx := context.Background()
	cred := Cred{}
	setup := func(t *testing.T) (*FS, *MemKV, uint64, uint64) {
		kv := NewMemKV()
		fs, err := Open(ctx, kv, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fs.Close(ctx) })
		d, err := fs.Mkdir(ctx, cred, RootIno, "d", 0o755)
		if err != nil {
			t.Fatal(err)
		}
		f, err := fs.Create(ctx, cred, d.Attr.Ino, "f", CreateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Write(ctx, cred, f.Attr.Ino, 0, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		r, err := fs.Fsck(ctx)
		if err != nil || !r.OK() {
			t.Fatalf("healthy filesystem: %v %v", err, r.Problems)
		}
		return fs, kv, d.Attr.Ino, f.Attr.Ino
	}
	cases := []struct {
		name   string
		damage func(kv *MemKV, dir, file uint64) []KVOp
		count  func(r *FsckReport) int
	}{
		{"missing inode", func(kv *MemKV, dir, file uint64) []KVOp {
			return []KVOp{{Key: inodeKey(file), Delete: true}}
		}, func(r *FsckReport) int { return r.DanglingEntries }},
		{"wrong nlink", func(kv *MemKV, dir, file uint64) []KVOp {
			raw, _ := kv.Get(ctx, inodeKey(file))
			n, _ := decodeInode(raw)
			n.nlink = 3
			return []KVOp{{Key: inodeKey(file), Value: encodeInode(n)}}
		}, func(r *FsckReport) int { return r.NlinkMismatches }},
		{"orphan inode", func(kv *MemKV, dir, file uint64) []KVOp {
			raw, _ := kv.Get(ctx, entryKey(dir, "f"))
			e, _ := decodeDirent(raw)
			return []KVOp{{Key: entryKey(dir, "f"), Delete: true}, {Key: cookieKey(dir, e.cookie), Delete: true}}
		}, func(r *FsckReport) int { return r.OrphanInodes }},
		{"orphan chunk", func(kv *MemKV, dir, file uint64) []KVOp {
			return []KVOp{{Key: chunkKey(999, 0), Value: []byte("x")}}
		}, func(r *FsckReport) int { return r.OrphanChunks }},
		{"chunk past size", func(kv *MemKV, dir, file uint64) []KVOp {
			return []KVOp{{Key: chunkKey(file, 5), Value: []byte("x")}}
		}, func(r *FsckReport) int { return r.OrphanChunks }},
		{"missing index", func(kv *MemKV, dir, file uint64) []KVOp {
			raw, _ := kv.Get(ctx, entryKey(dir, "f"))
			e, _ := decodeDirent(raw)
			return []KVOp{{Key: cookieKey(dir, e.cookie), Delete: true}}
		}, func(r *FsckReport) int { return r.IndexMismatches }},
		{"index names another inode", func(kv *MemKV, dir, file uint64) []KVOp {
			raw, _ := kv.Get(ctx, entryKey(dir, "f"))
			e, _ := decodeDirent(raw)
			return []KVOp{{Key: cookieKey(dir, e.cookie), Value: encodeCookie(dirent{ino: file + 1, typ: TypeRegular}, "f")}}
		}, func(r *FsckReport) int { return r.IndexMismatches }},
		{"counter drift", func(kv *MemKV, dir, file uint64) []KVOp {
			return []KVOp{{Key: counterKey(7), Value: encodeCounter(1000, 0)}}
		}, func(r *FsckReport) int { return r.AccountingDrifts }},
		{"directory cut off from the root in a cycle", func(kv *MemKV, dir, file uint64) []KVOp {
			// d moved out of the root into itself, with every link count,
			// parent and index record consistent with that.
			inodeOf := func(ino uint64) *inode {
				raw, _ := kv.Get(ctx, inodeKey(ino))
				n, _ := decodeInode(raw)
				return n
			}
			raw, _ := kv.Get(ctx, entryKey(RootIno, "d"))
			old, _ := decodeDirent(raw)
			rt, d := inodeOf(RootIno), inodeOf(dir)
			rt.nlink--
			d.nlink++
			d.parent = dir
			e := dirent{ino: dir, typ: TypeDir, cookie: d.nextCookie}
			d.nextCookie++
			return []KVOp{
				{Key: entryKey(RootIno, "d"), Delete: true},
				{Key: cookieKey(RootIno, old.cookie), Delete: true},
				{Key: entryKey(dir, "d"), Value: encodeDirent(e)},
				{Key: cookieKey(dir, e.cookie), Value: encodeCookie(e, "d")},
				{Key: inodeKey(RootIno), Value: encodeInode(rt)},
				{Key: inodeKey(dir), Value: encodeInode(d)},
			}
		}, func(r *FsckReport) int { return r.OrphanInodes }},
		{"corrupt record", func(kv *MemKV, dir, file uint64) []KVOp {
			return []KVOp{{Key: entryKey(dir, "f"), Value: []byte{1, 2, 3}}}
		}, func(r *FsckReport) int { return r.Corrupt }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs, kv, dir, file := setup(t)
			if err := kv.Write(ctx, c.damage(kv, dir, file), false); err != nil {
				t.Fatal(err)
			}
			r, err := fs.Fsck(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK() || c.count(&r) == 0 {
				t.Fatalf("damage not reported as expected: %+v", r)
			}
			t.Log(r.Problems)
		})
	}
}
