// Package snapdir shows the snapshots of a filesystem read-only inside it,
// under a hidden directory at its root (like ZFS's .zfs/snapshot): each
// snapshot is a directory there, and under it the filesystem as it was.
//
// It works on the NFS server's interfaces only (nfs.Filesystem and
// kvfs.Attr): where snapshots come from and how one is opened is a Source
// (package exports implements it with the checkpoints of an lsm database).
//
// # What a client sees
//
// Set.Wrap returns the live filesystem with one more directory, named as
// configured (".snapshots"), at its root: it is not listed by READDIR of the
// root (hidden), but LOOKUP finds it, and a file of that name in the live
// tree is shadowed (creating one answers EEXIST; removing or renaming it
// EROFS). The directory is read-only (mode 0555, owned by root) and lists one
// entry per snapshot, ordered by creation; its modification time changes
// when the list does, so clients revalidate their caches.
//
// Each snapshot is its own filesystem, with its own FSID derived from the
// live filesystem's FSID and the snapshot's identity (its name and its
// Info.ID): the entry's attributes carry that FSID (kvfs.Attr.FSID), so the
// Linux client makes a submount there, and every handle inside a snapshot
// names the snapshot's FSID. Handles are therefore stable across restarts
// and never equal a handle of the live tree or of another snapshot. A
// snapshot deleted and created again under the same name is another
// snapshot: old handles are stale.
//
// # Guarantees
//
//   - A snapshot's content is exactly what its Source opens; nothing is
//     written through it (every change answers EROFS).
//   - A snapshot that no longer exists answers kvfs.ErrStale
//     (NFS3ERR_STALE), never other data: a failed read makes the Set ask
//     the Source again whether the snapshot still exists, and a snapshot
//     found gone is closed and answers ErrStale from then on. Only a
//     listing that no longer names the snapshot says it is gone: a Source
//     that fails to list or open answers a kvfs.StorageError (NFS3ERR_IO),
//     whatever errno it holds (an ESTALE of a store directory on an NFS
//     mount included).
//   - Readers are opened lazily, on the first call that needs one, at most
//     Options.MaxOpen at a time (least recently used idle readers are closed
//     first; readers in use are never closed under a call), and closed after
//     Options.IdleTimeout without use. Memory is bounded by MaxOpen times
//     what one reader holds (the Source decides: package exports gives each
//     a small block cache and inode cache).
//   - The list of snapshots is read from the Source at most once per
//     Options.ListTTL for listings, and again (at most every MinRefresh) when
//     a name or FSID is not found, so a snapshot made by another process
//     appears at once.
package snapdir
