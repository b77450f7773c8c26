package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/lsm/compress"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/portmap"
)

// Defaults. Every key not listed here has no default: it is either required
// or off when absent (see docs/config.md). A key that tunes another package
// takes that package's own default (in this file's units), so that the
// daemon and the package used alone agree; the rest are the daemon's
// policy and are defined here.
const (
	DefaultListen             = "127.0.0.1:2049"
	DefaultLogLevel           = slog.LevelInfo
	DefaultLogFormat          = LogFormatText
	DefaultMaxConnections     = nfs.DefaultMaxConnections
	DefaultMaxRequestsPerConn = nfs.DefaultMaxInFlightPerConn
	DefaultShutdownTimeout    = 90 * time.Second
	DefaultCacheMemoryMB      = lsm.DefaultBlockCacheBytes >> 20
	DefaultCacheReadAheadMB   = kvfs.DefaultReadAheadBytes >> 20
	DefaultS3Bucket           = "slatedb"
	DefaultS3Region           = "us-east-1"
	DefaultFlushInterval      = lsm.DefaultFlushInterval
	DefaultShipInterval       = lsm.DefaultShipInterval
	DefaultMemtableMB         = lsm.DefaultMemtableBytes >> 20
	DefaultMaxUnflushedMB     = lsm.DefaultMaxUnflushedBytes >> 20
	DefaultCompression        = CompressionSnappy
	DefaultZstdLevel          = compress.DefaultZstdLevel
	DefaultSquash             = SquashRoot
	DefaultAnonID             = 65534
	DefaultSync               = SyncCommit // with durability = "bucket"; "local" defaults to strict
	DefaultDurability         = DurabilityBucket
	DefaultJournalSubdir      = "journal" // journal_dir defaults to <cache.dir>/journal
	DefaultInodeCacheEntries  = kvfs.DefaultInodeCacheEntries
	DefaultPortmapper         = PortmapperAuto
	// DefaultPortmapperPort is the port of server.portmapper_listen when
	// it is not set: the portmapper's well-known port.
	DefaultPortmapperPort = portmap.Port
	// DefaultSnapshotKeep is snapshot_keep when snapshot_every is set.
	DefaultSnapshotKeep = 24
	// DefaultGCInterval and DefaultGCMinAge are lsm.gc_interval and
	// lsm.gc_min_age.
	DefaultGCInterval = time.Minute
	DefaultGCMinAge   = 10 * time.Minute
	// DefaultReplicaPoll is replica_poll of a replica.
	DefaultReplicaPoll = time.Second
)

// Environment variables that override the file (an empty value counts as unset).
const (
	EnvCacheDir        = "SLATEDB_CACHE_DIR"
	EnvCacheSizeGB     = "SLATEDB_CACHE_SIZE_GB"
	EnvEndpoint        = "AWS_ENDPOINT_URL"
	EnvBucket          = "AWS_S3_BUCKET"
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	// EnvSessionToken is the session token of temporary credentials (STS,
	// SSO); it goes with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and has
	// no key in the file.
	EnvSessionToken = "AWS_SESSION_TOKEN"
	EnvRegion       = "AWS_DEFAULT_REGION"
	EnvAllowHTTP    = "AWS_ALLOW_HTTP"
	// EnvKeyPrefix starts the name of the variable holding an encrypted
	// export's passphrase: see PassphraseEnv.
	EnvKeyPrefix = "ZEROFS_KEY_"
)

// PassphraseEnv is the environment variable holding the passphrase of the
// export of that name: ZEROFS_KEY_ and the name in upper case with '-'
// written '_' (export "team-a": ZEROFS_KEY_TEAM_A). Load refuses two
// exports whose names give one variable ("team-a" and "team_a") when
// either is encrypted.
func PassphraseEnv(export string) string {
	return EnvKeyPrefix + strings.ToUpper(strings.ReplaceAll(export, "-", "_"))
}

// Config is a loaded, validated configuration with every default filled in.
// It is safe to log or print: secrets are of type Secret.
type Config struct {
	// File is the absolute path of the file it was read from ("" if none).
	File    string
	Server  Server
	Cache   Cache
	S3      S3
	LSM     LSM
	Exports []Export
}

// Server is the [server] table.
type Server struct {
	// Listen is the NFS (and MOUNT) TCP address, host:port. Default DefaultListen.
	Listen string
	// LogLevel is one of debug, info, warn, error. Default info.
	LogLevel slog.Level
	// LogFormat is text or json. Default text.
	LogFormat LogFormat
	// MetricsListen is the Prometheus /metrics address; empty = no metrics endpoint.
	MetricsListen string
	// MaxConnections bounds concurrent client connections. Default DefaultMaxConnections.
	MaxConnections int
	// MaxRequestsPerConn bounds requests in flight on one connection. Default DefaultMaxRequestsPerConn.
	MaxRequestsPerConn int
	// ShutdownTimeout bounds a shutdown (SIGTERM): waiting for the requests
	// in flight, then flushing every export. Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Portmapper is how clients find Listen's port without being told it.
	// Default auto.
	Portmapper PortmapperMode
	// PortmapperListen is where a portmapper of our own listens (modes auto
	// and serve), host:port. Default: port 111 on Listen's host.
	PortmapperListen string
}

// PortmapperMode is how clients find the NFS and MOUNT port.
type PortmapperMode string

const (
	// PortmapperAuto registers with the host's rpcbind when one answers on
	// 127.0.0.1:111, else serves a portmapper of our own; when neither
	// works it warns and goes on (clients then need port= and mountport=).
	PortmapperAuto PortmapperMode = "auto"
	// PortmapperRegister registers with the host's rpcbind, or fails to start.
	PortmapperRegister PortmapperMode = "register"
	// PortmapperServe serves a portmapper of our own on PortmapperListen,
	// or fails to start.
	PortmapperServe PortmapperMode = "serve"
	// PortmapperOff does neither.
	PortmapperOff PortmapperMode = "off"
)

// LogFormat is how log lines are written.
type LogFormat string

const (
	LogFormatText LogFormat = "text"
	LogFormatJSON LogFormat = "json"
)

// Cache is the [cache] table: the local caches shared by all exports.
type Cache struct {
	// Dir holds the on-disk cache of object byte ranges. Required (file or
	// SLATEDB_CACHE_DIR). Absolute: relative to the file's directory when it
	// came from the file, to the working directory when from the variable.
	Dir string
	// SizeGB bounds Dir, in GB (10^9 bytes), fractions allowed. Required, > 0
	// (file or SLATEDB_CACHE_SIZE_GB).
	SizeGB float64
	// MemoryMB bounds the in-memory block cache of each export, in MiB.
	// Default DefaultCacheMemoryMB; 0 = none.
	MemoryMB int
	// ReadAheadMB bounds the memory each export's read-ahead of files read
	// sequentially may hold, in MiB. Default DefaultCacheReadAheadMB; 0 =
	// no read-ahead.
	ReadAheadMB int
	// JournalDir holds the local journals of exports with durability =
	// "local", one subdirectory per export. Default Dir/journal. Absolute
	// when it came from the file.
	JournalDir string
}

// SizeBytes is SizeGB in bytes.
func (c Cache) SizeBytes() int64 { return gbToBytes(c.SizeGB) }

// S3 holds S3 connection settings: the [s3] defaults, or one export's
// effective settings (defaults, environment and its own overrides merged).
type S3 struct {
	// Endpoint is the S3 endpoint URL; empty = AWS's own endpoints.
	Endpoint string
	// Bucket is the default bucket (for s3:///PREFIX stores); in an export's
	// effective settings, the export's bucket. Default "slatedb".
	Bucket string
	// AccessKeyID and SecretAccessKey are static credentials; both empty =
	// the SDK's default credential chain.
	AccessKeyID     string
	SecretAccessKey Secret
	// SessionToken makes them temporary credentials. It comes only from
	// AWS_SESSION_TOKEN, and only with the keys of the environment: an
	// export whose keys come from the file has none.
	SessionToken Secret
	// Region defaults to us-east-1.
	Region string
	// AllowHTTP permits an http:// endpoint. Default false.
	AllowHTTP bool
}

// LSM is the optional [lsm] table: tuning shared by all exports.
type LSM struct {
	// FlushInterval is how often the WAL is flushed. Default DefaultFlushInterval.
	FlushInterval time.Duration
	// ShipInterval is how often exports with durability = "local" ship
	// their journal to the store. Default DefaultShipInterval.
	ShipInterval time.Duration
	// MemtableMB is the size at which a memtable is frozen and flushed, in MiB. Default DefaultMemtableMB.
	MemtableMB int
	// MaxUnflushedMB bounds each export's memtables not yet written as
	// SSTs, in MiB: writers wait above it. Default DefaultMaxUnflushedMB,
	// or 2*MemtableMB if that is more; never less than 2*MemtableMB.
	MaxUnflushedMB int
	// Compression of SST blocks and file data: none, snappy or zstd.
	// Default snappy.
	Compression Compression
	// ZstdLevel is the zstd level (1 to 22) of stores compressed with zstd.
	// Default DefaultZstdLevel.
	ZstdLevel int
	// GCInterval is how often a writer collects objects nothing needs.
	// Default DefaultGCInterval.
	GCInterval time.Duration
	// GCMinAge is how old an SST or manifest no manifest, checkpoint or
	// replica lease references must be before it is collected. Default
	// DefaultGCMinAge.
	GCMinAge time.Duration
}

// Compression is how a store compresses SST blocks and separated values
// (file data).
type Compression string

const (
	CompressionNone   Compression = "none"
	CompressionSnappy Compression = "snappy"
	CompressionZstd   Compression = "zstd"
)

// Export is one [[exports]] entry.
type Export struct {
	// Name is [a-z0-9][a-z0-9_-]*, unique; an encrypted export's is
	// unique also with '-' read as '_' (its PassphraseEnv is its own). It
	// names the export in logs and commands (zerofsd checkpoint --export
	// NAME).
	Name string
	// Path is the mount path clients ask for (e.g. /team-a): absolute, clean, unique.
	Path string
	// Store is where the export's database lives. An s3 store's Bucket is
	// always filled in (the default bucket when the URL left it out).
	Store StoreURL
	// S3 is the export's effective S3 settings (meaningful for s3 stores only):
	// the [s3] defaults, then the environment, then the export's own s3 table.
	// S3.Bucket equals Store.Bucket.
	S3 S3
	// ReadOnly refuses every change. Default false.
	ReadOnly bool
	// Secure refuses MNT and NFS calls from client source ports of 1024 and
	// above (exports(5)'s "secure"), so that ordinary users of an allowed
	// client host cannot send AUTH_SYS credentials of their choosing. Default
	// false, unlike Linux: macOS clients use unprivileged ports unless told
	// otherwise, relays and port-rewriting NAT hide the client's port, and
	// test clients run unprivileged.
	Secure bool
	// AllowedClients are the networks allowed to mount and use the export
	// (bare addresses become /32 or /128, host bits are masked off); empty =
	// every client.
	AllowedClients []netip.Prefix
	// Squash maps client identities. Default root (like exportfs' root_squash).
	Squash Squash
	// AnonUID and AnonGID are the identity squashed users and AUTH_NONE
	// callers get. Default DefaultAnonID; 0 is root, taken as given.
	AnonUID, AnonGID uint32
	// Durability is what durable means for the export. Default bucket.
	Durability Durability
	// Sync is when metadata changes become durable. Default commit, or
	// strict with Durability local (DefaultSyncFor).
	Sync SyncMode
	// SyncDefaulted says the file sets no sync: Sync is the default of
	// Durability, and follows the durability in use (StrictSyncWith).
	SyncDefaulted bool
	// InodeCacheEntries sizes the in-memory inode/dentry LRU (at least 1: it
	// cannot be turned off). Default DefaultInodeCacheEntries.
	InodeCacheEntries int
	// SizeLimitGB is the export's reported (and enforced) size, in GB; 0 = unlimited.
	SizeLimitGB float64
	// RootOwner is the owner given to the export's root directory when its
	// filesystem is created; nil = 0:0. An existing root keeps its owner.
	RootOwner *Owner
	// RootMode is the mode given to the export's root directory when its
	// filesystem is created: permission bits, setgid (02000) and sticky
	// (01000); nil = kvfs.DefaultRootMode (0755). An existing root keeps its mode.
	RootMode *uint32
	// Compression of the export's SST blocks and file data. Default:
	// LSM.Compression.
	Compression Compression
	// ZstdLevel is the zstd level of the export's compression when it is
	// zstd. Default: LSM.ZstdLevel.
	ZstdLevel int
	// Encryption seals every object of the export's store. Default off.
	Encryption Encryption
	// SnapshotDir is the name of the hidden read-only directory at the
	// export's root that shows each checkpoint of its store (".snapshots");
	// empty = none. One path component, not "." or "..".
	SnapshotDir string
	// SnapshotEvery takes a checkpoint of the export (named
	// ScheduledSnapshotPrefix + UTC time) this often; 0 = never.
	SnapshotEvery time.Duration
	// SnapshotKeep is how many scheduled checkpoints are kept (the oldest
	// are deleted first; other checkpoints are never deleted by the
	// schedule). Default DefaultSnapshotKeep when SnapshotEvery is set.
	SnapshotKeep int
	// Replica serves the store read-only while following its writer
	// (another zerofsd): nothing is written to the database, only a lease
	// that keeps what the replica reads from the writer's GC. Default false.
	Replica bool
	// ReplicaPoll is how often a replica reads the writer's new state.
	// Default DefaultReplicaPoll.
	ReplicaPoll time.Duration
}

// Encryption is an export's encryption at rest. When Enabled, exactly one
// of KeyFile and Passphrase is set.
type Encryption struct {
	// Enabled seals every object of the store with the export's data key.
	Enabled bool
	// KeyFile holds the 32-byte key that locks the data key (absolute
	// when it came from the file).
	KeyFile string
	// Passphrase locks the data key; it comes from the environment
	// variable PassphraseEnv, never from the file.
	Passphrase Secret
	// PassphraseEnv is the name of that variable (PassphraseEnv(Name)).
	PassphraseEnv string
}

// Writable reports whether the export takes changes: neither read_only
// nor a replica.
func (e Export) Writable() bool { return !e.ReadOnly && !e.Replica }

// Owner is a numeric uid and gid.
type Owner struct {
	UID, GID uint32
}

// String is "uid:gid", as written in the file.
func (o Owner) String() string { return fmt.Sprintf("%d:%d", o.UID, o.GID) }

// RootModeBits are the bits root_mode may hold: permissions, setgid, sticky
// (kvfs's rule for a root's mode).
const RootModeBits = kvfs.RootModeBits

// ScheduledSnapshotPrefix starts the name of every scheduled checkpoint;
// the schedule deletes only checkpoints so named.
const ScheduledSnapshotPrefix = "auto-"

// SizeLimitBytes is SizeLimitGB in bytes (0 = unlimited).
func (e Export) SizeLimitBytes() int64 { return gbToBytes(e.SizeLimitGB) }

// StrictSync reports whether metadata changes must be durable before their reply.
func (e Export) StrictSync() bool { return e.Sync == SyncStrict }

// StrictSyncWith is StrictSync for a store whose database runs with
// durability inUse, which may not be e.Durability (a reload that changes
// durability applies it at the next start): a sync set in the file holds
// as it is, a defaulted one follows the durability in use.
func (e Export) StrictSyncWith(inUse Durability) bool {
	if e.SyncDefaulted {
		return DefaultSyncFor(inUse) == SyncStrict
	}
	return e.StrictSync()
}

// DefaultSyncFor is the sync mode of an export that sets none: strict with
// a local journal (a strict reply costs one shared local fsync), commit
// otherwise.
func DefaultSyncFor(d Durability) SyncMode {
	if d == DurabilityLocal {
		return SyncStrict
	}
	return DefaultSync
}

// Squash is how client identities are mapped, like exportfs' options.
type Squash string

const (
	// SquashNone trusts the client's uid and gid (no_root_squash).
	SquashNone Squash = "none"
	// SquashRoot maps uid 0 to AnonUID/AnonGID (root_squash).
	SquashRoot Squash = "root"
	// SquashAll maps every user to AnonUID/AnonGID (all_squash).
	SquashAll Squash = "all"
)

// SyncMode is when an export's metadata changes become durable.
type SyncMode string

const (
	// SyncCommit: within one flush interval, and before COMMIT's reply
	// (data written UNSTABLE is durable after COMMIT either way).
	SyncCommit SyncMode = "commit"
	// SyncStrict: before the reply of every metadata-changing request.
	SyncStrict SyncMode = "strict"
)

// Durability is what an export's durable writes (COMMIT, FILE_SYNC, strict
// metadata) wait for.
type Durability string

const (
	// DurabilityBucket: a write is durable once it is in the object store.
	DurabilityBucket Durability = "bucket"
	// DurabilityLocal: a write is durable once it is fsynced to the local
	// journal (Cache.JournalDir); the object store follows in the
	// background.
	DurabilityLocal Durability = "local"
)

func gbToBytes(gb float64) int64 { return int64(gb * 1e9) }

// MaxSizeLimitGB is the largest size_limit_gb (1 EB): its size in bytes
// fits an int64 with room to spare.
const MaxSizeLimitGB = 1e9
