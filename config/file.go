package config

// The file's schema, as decoded by mapstructure. Every scalar is a pointer so
// that "absent" and "zero" differ; defaults are applied afterwards. The
// mapstructure tags are the keys a file may use: any other key is refused.

type fileConfig struct {
	Server  *fileServer  `mapstructure:"server"`
	Cache   *fileCache   `mapstructure:"cache"`
	S3      *fileS3      `mapstructure:"s3"`
	LSM     *fileLSM     `mapstructure:"lsm"`
	Exports []fileExport `mapstructure:"exports"`
}

type fileServer struct {
	Listen             *string `mapstructure:"listen"`
	LogLevel           *string `mapstructure:"log_level"`
	LogFormat          *string `mapstructure:"log_format"`
	MetricsListen      *string `mapstructure:"metrics_listen"`
	MaxConnections     *int64  `mapstructure:"max_connections"`
	MaxRequestsPerConn *int64  `mapstructure:"max_requests_per_conn"`
	ShutdownTimeout    *string `mapstructure:"shutdown_timeout"`
	Portmapper         *string `mapstructure:"portmapper"`
	PortmapperListen   *string `mapstructure:"portmapper_listen"`
}

type fileCache struct {
	Dir         *string  `mapstructure:"dir"`
	SizeGB      *float64 `mapstructure:"size_gb"`
	MemoryMB    *int64   `mapstructure:"memory_mb"`
	ReadAheadMB *int64   `mapstructure:"read_ahead_mb"`
	JournalDir  *string  `mapstructure:"journal_dir"`
}

type fileS3 struct {
	Endpoint        *string `mapstructure:"endpoint"`
	Bucket          *string `mapstructure:"bucket"`
	AccessKeyID     *string `mapstructure:"access_key_id"`
	SecretAccessKey *string `mapstructure:"secret_access_key"`
	Region          *string `mapstructure:"region"`
	AllowHTTP       *bool   `mapstructure:"allow_http"`
}

// fileS3Override is an export's s3 table: the bucket comes from its store URL.
type fileS3Override struct {
	Endpoint        *string `mapstructure:"endpoint"`
	AccessKeyID     *string `mapstructure:"access_key_id"`
	SecretAccessKey *string `mapstructure:"secret_access_key"`
	Region          *string `mapstructure:"region"`
	AllowHTTP       *bool   `mapstructure:"allow_http"`
}

type fileLSM struct {
	FlushInterval *string `mapstructure:"flush_interval"`
	ShipInterval  *string `mapstructure:"ship_interval"`
	MemtableMB    *int64  `mapstructure:"memtable_mb"`
	MaxUnflushed  *int64  `mapstructure:"max_unflushed_mb"`
	Compression   *string `mapstructure:"compression"`
	ZstdLevel     *int64  `mapstructure:"zstd_level"`
	GCInterval    *string `mapstructure:"gc_interval"`
	GCMinAge      *string `mapstructure:"gc_min_age"`
}

type fileExport struct {
	Name              *string         `mapstructure:"name"`
	Path              *string         `mapstructure:"path"`
	Store             *string         `mapstructure:"store"`
	S3                *fileS3Override `mapstructure:"s3"`
	ReadOnly          *bool           `mapstructure:"read_only"`
	Secure            *bool           `mapstructure:"secure"`
	AllowedClients    []string        `mapstructure:"allowed_clients"`
	Squash            *string         `mapstructure:"squash"`
	AnonUID           *int64          `mapstructure:"anon_uid"`
	AnonGID           *int64          `mapstructure:"anon_gid"`
	Durability        *string         `mapstructure:"durability"`
	Sync              *string         `mapstructure:"sync"`
	InodeCacheEntries *int64          `mapstructure:"inode_cache_entries"`
	SizeLimitGB       *float64        `mapstructure:"size_limit_gb"`
	RootOwner         *string         `mapstructure:"root_owner"`
	RootMode          *string         `mapstructure:"root_mode"`
	Compression       *string         `mapstructure:"compression"`
	ZstdLevel         *int64          `mapstructure:"zstd_level"`
	Encryption        *bool           `mapstructure:"encryption"`
	KeyFile           *string         `mapstructure:"key_file"`
	SnapshotDir       *string         `mapstructure:"snapshot_dir"`
	SnapshotEvery     *string         `mapstructure:"snapshot_every"`
	SnapshotKeep      *int64          `mapstructure:"snapshot_keep"`
	Replica           *bool           `mapstructure:"replica"`
	ReplicaPoll       *string         `mapstructure:"replica_poll"`
}
