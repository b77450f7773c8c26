package nfs

// ONC RPC program numbers and the versions served. These and the
// procedure numbers below are the one definition for the server and for
// clients (package nfsclient, tests).
const (
	ProgramNFS   = 100003
	ProgramMount = 100005
	VersionNFS   = 3
	VersionMount = 3
)

// NFSv3 procedure numbers (RFC 1813 section 3.3).
const (
	ProcNull        = 0
	ProcGetattr     = 1
	ProcSetattr     = 2
	ProcLookup      = 3
	ProcAccess      = 4
	ProcReadlink    = 5
	ProcRead        = 6
	ProcWrite       = 7
	ProcCreate      = 8
	ProcMkdir       = 9
	ProcSymlink     = 10
	ProcMknod       = 11
	ProcRemove      = 12
	ProcRmdir       = 13
	ProcRename      = 14
	ProcLink        = 15
	ProcReaddir     = 16
	ProcReaddirplus = 17
	ProcFsstat      = 18
	ProcFsinfo      = 19
	ProcPathconf    = 20
	ProcCommit      = 21
)

// MOUNT v3 procedure numbers (RFC 1813 appendix I).
const (
	MountProcNull    = 0
	MountProcMnt     = 1
	MountProcDump    = 2
	MountProcUmnt    = 3
	MountProcUmntall = 4
	MountProcExport  = 5
)

// Status is an nfsstat3 value.
type Status uint32

// nfsstat3 values (RFC 1813 section 2.6).
const (
	StatusOK          Status = 0
	StatusPerm        Status = 1
	StatusNoEnt       Status = 2
	StatusIO          Status = 5
	StatusNXIO        Status = 6
	StatusAcces       Status = 13
	StatusExist       Status = 17
	StatusXDev        Status = 18
	StatusNoDev       Status = 19
	StatusNotDir      Status = 20
	StatusIsDir       Status = 21
	StatusInval       Status = 22
	StatusFBig        Status = 27
	StatusNoSpc       Status = 28
	StatusROFS        Status = 30
	StatusMLink       Status = 31
	StatusNameTooLong Status = 63
	StatusNotEmpty    Status = 66
	StatusDQuot       Status = 69
	StatusStale       Status = 70
	StatusRemote      Status = 71
	StatusBadHandle   Status = 10001
	StatusNotSync     Status = 10002
	StatusBadCookie   Status = 10003
	StatusNotSupp     Status = 10004
	StatusTooSmall    Status = 10005
	StatusServerFault Status = 10006
	StatusBadType     Status = 10007
	StatusJukebox     Status = 10008
)

// MountStatus is a mountstat3 value.
type MountStatus uint32

// mountstat3 values.
const (
	MountOK          MountStatus = 0
	MountPerm        MountStatus = 1
	MountNoEnt       MountStatus = 2
	MountIO          MountStatus = 5
	MountAcces       MountStatus = 13
	MountNotDir      MountStatus = 20
	MountInval       MountStatus = 22
	MountNameTooLong MountStatus = 63
	MountNotSupp     MountStatus = 10004
	MountServerFault MountStatus = 10006
)

// ftype3 values.
const (
	nf3Reg  = 1
	nf3Dir  = 2
	nf3Blk  = 3
	nf3Chr  = 4
	nf3Lnk  = 5
	nf3Sock = 6
	nf3Fifo = 7
)

// stable_how values for WRITE.
const (
	stableUnstable = 0
	stableDataSync = 1
	stableFileSync = 2
)

// createmode3 values.
const (
	createUnchecked = 0
	createGuarded   = 1
	createExclusive = 2
)

// time_how values in sattr3.
const (
	timeDontChange = 0
	timeServer     = 1
	timeClient     = 2
)

// FSINFO properties.
const (
	fsfLink        = 0x0001
	fsfSymlink     = 0x0002
	fsfHomogeneous = 0x0008
	fsfCanSetTime  = 0x0010
)

// Limits of what the server reads and answers.
const (
	// maxIOSize is rtmax, rtpref, wtmax and wtpref.
	maxIOSize = 1 << 20
	// dirPref is dtpref, the preferred READDIR request size.
	dirPref = 64 << 10
	// maxNameWire bounds a filename3 on the wire (NFSv3 gives no limit);
	// names above kvfs.MaxNameLen are NAMETOOLONG, above this GARBAGE_ARGS.
	maxNameWire = 4096
	// maxPathWire bounds a symlink target (nfspath3) on the wire; targets
	// above kvfs.MaxSymlinkLen are NAMETOOLONG, above this GARBAGE_ARGS.
	maxPathWire = 64 << 10
	// mountPathMax is MNTPATHLEN.
	mountPathMax = 1024
)
