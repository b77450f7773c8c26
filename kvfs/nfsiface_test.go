//go:build !kvfs_no_nfs

package kvfs_test

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
)

// *kvfs.FS serves NFS exports. (Build with -tags kvfs_no_nfs to test kvfs
// while package nfs does not compile.)
var _ nfs.Filesystem = (*kvfs.FS)(nil)
