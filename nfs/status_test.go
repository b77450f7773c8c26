package nfs

import (
	"strings"
	"syscall"
	"testing"
)

func TestStatusString(t *testing.T) {
	tests := []struct {
		st   Status
		want string
	}{
		{StatusOK, "NFS3_OK"},
		{StatusPerm, "NFS3ERR_PERM"},
		{StatusIO, "NFS3ERR_IO"},
		{StatusAcces, "NFS3ERR_ACCES"},
		{StatusNameTooLong, "NFS3ERR_NAMETOOLONG"},
		{StatusStale, "NFS3ERR_STALE"},
		{StatusBadHandle, "NFS3ERR_BADHANDLE"},
		{StatusNotSync, "NFS3ERR_NOT_SYNC"},
		{StatusServerFault, "NFS3ERR_SERVERFAULT"},
		{StatusJukebox, "NFS3ERR_JUKEBOX"},
		{Status(12345), "nfsstat3(12345)"},
	}
	for _, tt := range tests {
		if got := tt.st.String(); got != tt.want {
			t.Errorf("Status(%d).String() = %q, want %q", uint32(tt.st), got, tt.want)
		}
	}
}

// TestEveryStatusHasAName: every nfsstat3 of RFC 1813 the server defines,
// and every status a Filesystem error maps to, has its own RFC name.
func TestEveryStatusHasAName(t *testing.T) {
	all := []Status{StatusOK, StatusPerm, StatusNoEnt, StatusIO, StatusNXIO, StatusAcces, StatusExist,
		StatusXDev, StatusNoDev, StatusNotDir, StatusIsDir, StatusInval, StatusFBig, StatusNoSpc,
		StatusROFS, StatusMLink, StatusNameTooLong, StatusNotEmpty, StatusDQuot, StatusStale,
		StatusRemote, StatusBadHandle, StatusNotSync, StatusBadCookie, StatusNotSupp, StatusTooSmall,
		StatusServerFault, StatusBadType, StatusJukebox}
	for errno := syscall.Errno(1); errno < 256; errno++ {
		if st, ok := errnoStatus(errno); ok {
			all = append(all, st)
		}
	}
	names := map[string]Status{}
	for _, st := range all {
		name := st.String()
		if !strings.HasPrefix(name, "NFS3") {
			t.Errorf("status %d has no name: %q", uint32(st), name)
		}
		if other, dup := names[name]; dup && other != st {
			t.Errorf("statuses %d and %d are both %s", uint32(other), uint32(st), name)
		}
		names[name] = st
	}
}

func TestMountStatusString(t *testing.T) {
	tests := []struct {
		st   MountStatus
		want string
	}{
		{MountOK, "MNT3_OK"},
		{MountPerm, "MNT3ERR_PERM"},
		{MountNoEnt, "MNT3ERR_NOENT"},
		{MountIO, "MNT3ERR_IO"},
		{MountAcces, "MNT3ERR_ACCES"},
		{MountNotDir, "MNT3ERR_NOTDIR"},
		{MountInval, "MNT3ERR_INVAL"},
		{MountNameTooLong, "MNT3ERR_NAMETOOLONG"},
		{MountNotSupp, "MNT3ERR_NOTSUPP"},
		{MountServerFault, "MNT3ERR_SERVERFAULT"},
		{MountStatus(7), "mountstat3(7)"},
	}
	for _, tt := range tests {
		if got := tt.st.String(); got != tt.want {
			t.Errorf("MountStatus(%d).String() = %q, want %q", uint32(tt.st), got, tt.want)
		}
	}
}
