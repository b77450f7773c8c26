package nfs

import "fmt"

// String returns the status's name in RFC 1813 (NFS3_OK, NFS3ERR_IO, ...),
// or nfsstat3(N) for a value it does not define. Logs and metrics use it.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "NFS3_OK"
	case StatusPerm:
		return "NFS3ERR_PERM"
	case StatusNoEnt:
		return "NFS3ERR_NOENT"
	case StatusIO:
		return "NFS3ERR_IO"
	case StatusNXIO:
		return "NFS3ERR_NXIO"
	case StatusAcces:
		return "NFS3ERR_ACCES"
	case StatusExist:
		return "NFS3ERR_EXIST"
	case StatusXDev:
		return "NFS3ERR_XDEV"
	case StatusNoDev:
		return "NFS3ERR_NODEV"
	case StatusNotDir:
		return "NFS3ERR_NOTDIR"
	case StatusIsDir:
		return "NFS3ERR_ISDIR"
	case StatusInval:
		return "NFS3ERR_INVAL"
	case StatusFBig:
		return "NFS3ERR_FBIG"
	case StatusNoSpc:
		return "NFS3ERR_NOSPC"
	case StatusROFS:
		return "NFS3ERR_ROFS"
	case StatusMLink:
		return "NFS3ERR_MLINK"
	case StatusNameTooLong:
		return "NFS3ERR_NAMETOOLONG"
	case StatusNotEmpty:
		return "NFS3ERR_NOTEMPTY"
	case StatusDQuot:
		return "NFS3ERR_DQUOT"
	case StatusStale:
		return "NFS3ERR_STALE"
	case StatusRemote:
		return "NFS3ERR_REMOTE"
	case StatusBadHandle:
		return "NFS3ERR_BADHANDLE"
	case StatusNotSync:
		return "NFS3ERR_NOT_SYNC"
	case StatusBadCookie:
		return "NFS3ERR_BAD_COOKIE"
	case StatusNotSupp:
		return "NFS3ERR_NOTSUPP"
	case StatusTooSmall:
		return "NFS3ERR_TOOSMALL"
	case StatusServerFault:
		return "NFS3ERR_SERVERFAULT"
	case StatusBadType:
		return "NFS3ERR_BADTYPE"
	case StatusJukebox:
		return "NFS3ERR_JUKEBOX"
	}
	return fmt.Sprintf("nfsstat3(%d)", uint32(s))
}

// statusName names the status word of a reply of program prog: a
// mountstat3 for MOUNT, else an nfsstat3.
func statusName(prog, st uint32) string {
	if prog == ProgramMount {
		return MountStatus(st).String()
	}
	return Status(st).String()
}

// String returns the status's name in RFC 1813 appendix I (MNT3_OK,
// MNT3ERR_ACCES, ...), or mountstat3(N) for a value it does not define.
func (s MountStatus) String() string {
	switch s {
	case MountOK:
		return "MNT3_OK"
	case MountPerm:
		return "MNT3ERR_PERM"
	case MountNoEnt:
		return "MNT3ERR_NOENT"
	case MountIO:
		return "MNT3ERR_IO"
	case MountAcces:
		return "MNT3ERR_ACCES"
	case MountNotDir:
		return "MNT3ERR_NOTDIR"
	case MountInval:
		return "MNT3ERR_INVAL"
	case MountNameTooLong:
		return "MNT3ERR_NAMETOOLONG"
	case MountNotSupp:
		return "MNT3ERR_NOTSUPP"
	case MountServerFault:
		return "MNT3ERR_SERVERFAULT"
	}
	return fmt.Sprintf("mountstat3(%d)", uint32(s))
}
