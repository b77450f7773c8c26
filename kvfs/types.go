package kvfs

import (
	"strings"
	"syscall"
	"time"
)

// RootIno is the inode id of every filesystem's root directory.
const RootIno uint64 = 1

// MaxNameLen is the longest directory entry name, in bytes.
const MaxNameLen = 255

// CheckName returns nil if name may name a directory entry, else the
// syscall.Errno that creating, removing or renaming an entry of that name
// fails with: ENAMETOOLONG above MaxNameLen bytes, EINVAL for "", ".", ".."
// and a name holding '/' or NUL.
func CheckName(name string) error {
	switch {
	case len(name) > MaxNameLen:
		return syscall.ENAMETOOLONG
	case name == "", name == ".", name == "..":
		return syscall.EINVAL
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return syscall.EINVAL
		}
	}
	return nil
}

// MaxSymlinkLen is the longest symbolic link target, in bytes: the target
// and its terminating NUL fit in Linux's PATH_MAX (4096).
const MaxSymlinkLen = 4095

// CheckSymlinkTarget returns nil if target may be a symbolic link's
// target, else the syscall.Errno that creating the link fails with, as on
// Linux: ENAMETOOLONG above MaxSymlinkLen bytes, EINVAL for "" and a
// target holding NUL (a C string cannot hold one).
func CheckSymlinkTarget(target string) error {
	switch {
	case len(target) > MaxSymlinkLen:
		return syscall.ENAMETOOLONG
	case target == "", strings.IndexByte(target, 0) >= 0:
		return syscall.EINVAL
	}
	return nil
}

// Chunk sizes. A filesystem's chunk size is chosen when it is formatted
// (Options.ChunkSize) and kept in its format record; it never changes.
const (
	// DefaultChunkSize is the chunk size of new filesystems: an aligned
	// 4 KiB write (a page of the client's cache) replaces one chunk whole,
	// with no read-modify-write, and costs its own size in the store.
	DefaultChunkSize = 4 << 10
	// MinChunkSize and MaxChunkSize bound Options.ChunkSize (a power of two).
	MinChunkSize = 4 << 10
	MaxChunkSize = 64 << 10
	// formatV1ChunkSize is the chunk size of every filesystem formatted
	// with format version 1, whose format record does not name one.
	formatV1ChunkSize = 64 << 10
)

// FileType is the kind of an inode.
type FileType uint8

// File types. The values are stored on disk; never renumber them.
const (
	TypeRegular FileType = 1
	TypeDir     FileType = 2
	TypeSymlink FileType = 3
	TypeBlock   FileType = 4
	TypeChar    FileType = 5
	TypeSocket  FileType = 6
	TypeFIFO    FileType = 7
)

// Cred is the identity a request acts as (AUTH_SYS after squashing).
type Cred struct {
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups
}

// Attr is an inode's attributes.
type Attr struct {
	Ino   uint64
	Gen   uint32 // generation; inode ids are never reused, Gen guards handles further
	Type  FileType
	Mode  uint32 // permission bits incl. setuid (04000), setgid (02000), sticky (01000); no type bits
	Nlink uint32
	UID   uint32
	GID   uint32
	Size  uint64
	Used  uint64 // bytes of storage actually used (chunks present * their length)
	Major uint32 // device numbers, for TypeBlock / TypeChar
	Minor uint32
	Atime time.Time
	Mtime time.Time
	Ctime time.Time
	// FSID, when not 0, says that the inode belongs to another filesystem
	// than the one that returned it: a mount point, such as a snapshot's
	// root seen from the directory that lists the snapshots. The NFS server
	// then answers this FSID in the inode's attributes and handle, and the
	// client crosses into that filesystem. kvfs itself always leaves it 0.
	FSID uint64
}

// Change is what an operation did to one inode: its attributes just before
// and just after, both read under the lock that serialized the operation,
// so that no other change falls between them (what NFSv3 calls weak cache
// consistency data). Before equals After when the operation changed nothing.
type Change struct {
	Before, After Attr
}

// NewEntry is the result of an operation that adds a name to a directory
// (Create, Mkdir, Symlink, Mknod, Link): the attributes of the inode the
// name refers to, after the operation, and the change of the directory.
type NewEntry struct {
	Attr Attr
	Dir  Change
}

// Renamed is the result of Rename: the change of the source directory and
// of the target directory (the same change twice when they are one).
type Renamed struct {
	From, To Change
}

// SetTime says how SetAttr changes a timestamp.
type SetTime uint8

const (
	TimeDontChange SetTime = iota
	TimeServer             // set to the server's current time
	TimeClient             // set to the given value
)

// SetAttrRequest lists attribute changes; nil pointers / TimeDontChange leave a field alone.
type SetAttrRequest struct {
	Mode    *uint32
	UID     *uint32
	GID     *uint32
	Size    *uint64
	Atime   SetTime
	AtimeTo time.Time
	Mtime   SetTime
	MtimeTo time.Time
	// GuardCtime, when set, makes SetAttr fail with ErrNotSync (NFS3ERR_NOT_SYNC)
	// unless the inode's ctime equals it.
	GuardCtime *time.Time
}

// CreateMode selects the semantics of Create.
type CreateMode uint8

const (
	CreateUnchecked CreateMode = iota // succeed on an existing name, applying only Attrs.Size, to a regular file
	CreateGuarded                     // fail with EEXIST if the name exists
	CreateExclusive                   // idempotent via Verifier: same verifier on a file as the create left it = success
)

// CreateRequest describes a Create.
type CreateRequest struct {
	Mode     CreateMode
	Attrs    SetAttrRequest // a new file's mode (0644 when nil), owner (GrantableOwner), size and times
	Verifier [8]byte        // for CreateExclusive
}

// DirEntry is one entry returned by ReadDir.
type DirEntry struct {
	Name   string
	Ino    uint64
	Type   FileType
	Cookie uint64 // resume ReadDir after this entry by passing this cookie
	Attr   *Attr  // filled when ReadDir is asked for attributes (READDIRPLUS)
}

// StatFS reports space and inode usage.
type StatFS struct {
	TotalBytes, FreeBytes, AvailBytes    uint64
	TotalInodes, FreeInodes, AvailInodes uint64
}

// Access bits for Access (the NFSv3 ACCESS3_* values).
const (
	AccessRead    uint32 = 0x01
	AccessLookup  uint32 = 0x02
	AccessModify  uint32 = 0x04
	AccessExtend  uint32 = 0x08
	AccessDelete  uint32 = 0x10
	AccessExecute uint32 = 0x20
)
