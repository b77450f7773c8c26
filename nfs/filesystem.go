package nfs

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// Filesystem is what the NFS server needs from one export's filesystem.
// *kvfs.FS implements it. Errors are syscall.Errno values (possibly wrapped,
// match with errors.As) which the server maps to NFS3ERR_* codes; kvfs.ErrStale
// maps to NFS3ERR_STALE and kvfs.ErrNotSync to NFS3ERR_NOT_SYNC. A failure
// of the storage beneath is NFS3ERR_IO whatever errno it holds: an error
// marked kvfs.StorageError, or one of an OS call (fs.PathError,
// os.LinkError, os.SyscallError); kvfs.ErrKVReadOnly (a fenced or
// read-only store) is NFS3ERR_ROFS.
//
// Every operation that changes an inode returns a kvfs.Change (or a result
// holding them) whose Before and After were read under the same lock as the
// change: the server answers them as the wcc_data of the reply.
type Filesystem interface {
	// FSID is a stable random 64-bit id of this filesystem, kept in its database.
	FSID() uint64
	GetAttr(ctx context.Context, ino uint64) (kvfs.Attr, error)
	SetAttr(ctx context.Context, cred kvfs.Cred, ino uint64, req kvfs.SetAttrRequest) (kvfs.Change, error)
	Lookup(ctx context.Context, cred kvfs.Cred, dir uint64, name string) (kvfs.Attr, error)
	// Access returns the subset of the requested kvfs.Access* bits that cred is granted.
	Access(ctx context.Context, cred kvfs.Cred, ino uint64, mask uint32) (uint32, error)
	Readlink(ctx context.Context, ino uint64) (string, error)
	// Read fills buf from off; n < len(buf) only at end of file. eof is true when off+n reaches the size.
	Read(ctx context.Context, cred kvfs.Cred, ino uint64, off uint64, buf []byte) (n int, eof bool, err error)
	// Write applies data at off (not yet durable: call Flush for that) and returns the file's change.
	Write(ctx context.Context, cred kvfs.Cred, ino uint64, off uint64, data []byte) (kvfs.Change, error)
	Create(ctx context.Context, cred kvfs.Cred, dir uint64, name string, req kvfs.CreateRequest) (kvfs.NewEntry, error)
	Mkdir(ctx context.Context, cred kvfs.Cred, dir uint64, name string, mode uint32) (kvfs.NewEntry, error)
	Symlink(ctx context.Context, cred kvfs.Cred, dir uint64, name, target string, mode uint32) (kvfs.NewEntry, error)
	Mknod(ctx context.Context, cred kvfs.Cred, dir uint64, name string, typ kvfs.FileType, mode, major, minor uint32) (kvfs.NewEntry, error)
	Link(ctx context.Context, cred kvfs.Cred, ino uint64, dir uint64, name string) (kvfs.NewEntry, error)
	Unlink(ctx context.Context, cred kvfs.Cred, dir uint64, name string) (kvfs.Change, error)
	Rmdir(ctx context.Context, cred kvfs.Cred, dir uint64, name string) (kvfs.Change, error)
	Rename(ctx context.Context, cred kvfs.Cred, fromDir uint64, fromName string, toDir uint64, toName string) (kvfs.Renamed, error)
	// ReadDir returns up to max entries after cookie (0 = from the start; "." and ".." are
	// not included, the server adds them). withAttr fills DirEntry.Attr if cred may
	// search dir (the server sends an entry without one with no attributes and no
	// handle). eof is true when no entries follow. A cookie that no longer exists
	// resumes at the next entry.
	ReadDir(ctx context.Context, cred kvfs.Cred, dir uint64, cookie uint64, max int, withAttr bool) (entries []kvfs.DirEntry, eof bool, err error)
	// Parent returns the inode id of a directory's parent (the root is its own parent).
	Parent(ctx context.Context, dir uint64) (uint64, error)
	StatFS(ctx context.Context) (kvfs.StatFS, error)
	// Flush makes every change made so far durable.
	Flush(ctx context.Context) error
}

// SquashMode maps client identities (like exportfs' root_squash / all_squash).
type SquashMode uint8

const (
	SquashNone SquashMode = iota
	SquashRoot
	SquashAll
)

// Export is one filesystem served under a mount path.
type Export struct {
	Name     string
	Path     string // mount path, e.g. "/team-a"
	FS       Filesystem
	ReadOnly bool
	// AllowedClients lists the client networks allowed to mount and use the export; empty = everyone.
	AllowedClients []netip.Prefix
	Squash         SquashMode
	// AnonUID and AnonGID are the identity of AUTH_NONE callers and of
	// squashed users, used as given: 0 is root. The server has no default
	// of its own; package config fills in its DefaultAnonID when the file
	// sets none.
	AnonUID uint32
	AnonGID uint32
	// Secure refuses MNT, and every call on the export's handles, from a
	// client source port of 1024 or above (exports(5)'s "secure"): only
	// root can bind the ports below, so an ordinary user on a client host
	// cannot send AUTH_SYS credentials of their choosing. Such calls are
	// answered AUTH_ERROR AUTH_TOOWEAK. NULL, EXPORT, DUMP, UMNT and
	// UMNTALL are served from any port.
	Secure bool
	// StrictSync makes metadata operations durable before their reply.
	StrictSync bool
	// WriteVerifier names the open instance of the export's storage. WRITE
	// and COMMIT answer it combined with the server's own verifier (random at
	// each start). Whoever builds the export must give it a new value
	// whenever writes acknowledged UNSTABLE through an earlier Export with the
	// same FSID may not be in what FS now serves (a database reopened, or
	// another store with the same filesystem), so that clients resend every
	// write they have not seen committed.
	WriteVerifier [8]byte
	Logger        *slog.Logger
}

// ExportSet is how the server finds exports; the exports registry implements it,
// and its contents may change at any time (reload).
type ExportSet interface {
	ByPath(path string) (*Export, bool)
	ByFSID(fsid uint64) (*Export, bool)
	All() []*Export
}
