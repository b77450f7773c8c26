package config

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/zerofs-go/zerofsd/crypt"
	"github.com/zerofs-go/zerofsd/lsm/compress"
)

// at is where a value came from: a key in the file, or an environment variable.
type at struct {
	env bool
	key string // dotted key, or the variable's name
}

// builder turns the decoded file and the environment into a Config, checking
// every rule on the way and recording problems rather than stopping.
type builder struct {
	ps      *problems
	env     func(string) (string, bool)
	opts    loadOptions
	baseDir string // the config file's directory; "" without a file
	raw     *fileConfig
	cfg     *Config

	// where the global S3 settings came from, to name them in problems.
	s3At struct{ endpoint, bucket, accessKeyID, secret, region, allowHTTP at }
}

func (b *builder) problem(a at, format string, args ...any) {
	if a.env {
		b.ps.addEnv(a.key, format, args...)
		return
	}
	b.ps.add(a.key, format, args...)
}

func (b *builder) build() {
	b.buildServer()
	b.buildCache()
	b.buildS3()
	b.buildLSM()
	b.buildExports()
	b.checkOverlaps()
}

func fileKey(key string) at { return at{key: key} }
func envKey(name string) at { return at{env: true, key: name} }

func (b *builder) buildServer() {
	raw := b.raw.Server
	if raw == nil {
		raw = &fileServer{}
	}
	s := &b.cfg.Server
	s.Listen = strDefault(raw.Listen, DefaultListen)
	if err := checkListen(s.Listen); err != nil {
		b.ps.add("server.listen", "%v", err)
	}
	s.MetricsListen = strDefault(raw.MetricsListen, "")
	if s.MetricsListen != "" {
		if err := checkListen(s.MetricsListen); err != nil {
			b.ps.add("server.metrics_listen", "%v", err)
		} else if s.MetricsListen == s.Listen {
			b.ps.add("server.metrics_listen", "same address as server.listen; give metrics an address of its own")
		}
	}
	s.LogLevel = DefaultLogLevel
	if raw.LogLevel != nil {
		switch strings.ToLower(*raw.LogLevel) {
		case "debug":
			s.LogLevel = slog.LevelDebug
		case "info":
			s.LogLevel = slog.LevelInfo
		case "warn", "warning":
			s.LogLevel = slog.LevelWarn
		case "error":
			s.LogLevel = slog.LevelError
		default:
			b.ps.add("server.log_level", "%q is not a level: use debug, info, warn or error", *raw.LogLevel)
		}
	}
	s.LogFormat = DefaultLogFormat
	if raw.LogFormat != nil {
		switch f := LogFormat(strings.ToLower(*raw.LogFormat)); f {
		case LogFormatText, LogFormatJSON:
			s.LogFormat = f
		default:
			b.ps.add("server.log_format", "%q is not a format: use text or json", *raw.LogFormat)
		}
	}
	s.MaxConnections = b.intIn("server.max_connections", raw.MaxConnections, DefaultMaxConnections, 1, 1<<20)
	s.MaxRequestsPerConn = b.intIn("server.max_requests_per_conn", raw.MaxRequestsPerConn, DefaultMaxRequestsPerConn, 1, 1<<16)
	s.ShutdownTimeout = b.durationIn("server.shutdown_timeout", raw.ShutdownTimeout, DefaultShutdownTimeout, time.Second, time.Hour)
	b.buildPortmapper(raw)
}

func (b *builder) buildPortmapper(raw *fileServer) {
	s := &b.cfg.Server
	s.Portmapper = DefaultPortmapper
	if raw.Portmapper != nil {
		switch m := PortmapperMode(strings.ToLower(*raw.Portmapper)); m {
		case PortmapperAuto, PortmapperRegister, PortmapperServe, PortmapperOff:
			s.Portmapper = m
		default:
			b.ps.add("server.portmapper", "%q is not a mode: use auto, register, serve or off", *raw.Portmapper)
		}
	}
	if raw.PortmapperListen != nil && *raw.PortmapperListen != "" {
		s.PortmapperListen = *raw.PortmapperListen
		switch {
		case s.Portmapper == PortmapperRegister || s.Portmapper == PortmapperOff:
			b.ps.add("server.portmapper_listen", "set, but portmapper = %q serves no portmapper of its own: remove it, or use auto or serve", s.Portmapper)
		case checkListen(s.PortmapperListen) != nil:
			b.ps.add("server.portmapper_listen", "%v", checkListen(s.PortmapperListen))
		case s.PortmapperListen == s.Listen || s.PortmapperListen == s.MetricsListen:
			b.ps.add("server.portmapper_listen", "%q is already server.listen or server.metrics_listen; give the portmapper an address of its own", s.PortmapperListen)
		}
		return
	}
	if host, _, err := net.SplitHostPort(s.Listen); err == nil {
		s.PortmapperListen = net.JoinHostPort(host, strconv.Itoa(DefaultPortmapperPort))
	}
}

// checkListen accepts host:port with a numeric port 0-65535 (an empty host
// listens on every interface).
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:2049)", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	return nil
}

func (b *builder) buildCache() {
	raw := b.raw.Cache
	if raw == nil {
		raw = &fileCache{}
	}
	c := &b.cfg.Cache
	dirAt := fileKey("cache.dir")
	if raw.Dir != nil && *raw.Dir != "" {
		c.Dir = b.resolveDir(*raw.Dir)
	}
	if v, ok := lookupEnv(b.env, EnvCacheDir); ok {
		// Relative to the working directory, made absolute now: in the
		// effective config (check-config) a relative path would read as
		// relative to the file's directory.
		c.Dir = absOrSelf(v)
		dirAt = envKey(EnvCacheDir)
	}
	if c.Dir == "" {
		b.ps.add("cache.dir", "required: set dir in [cache] or %s (where the on-disk cache lives)", EnvCacheDir)
	} else if strings.ContainsFunc(c.Dir, isControl) {
		b.problem(dirAt, "has a control character")
	}

	sizeAt := fileKey("cache.size_gb")
	if raw.SizeGB != nil {
		c.SizeGB = *raw.SizeGB
	}
	if v, ok := lookupEnv(b.env, EnvCacheSizeGB); ok {
		sizeAt = envKey(EnvCacheSizeGB)
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			b.ps.addEnv(EnvCacheSizeGB, "%q is not a number of GB (e.g. 10 or 0.5)", v)
			b.ps.markBad(EnvCacheSizeGB)
		}
		c.SizeGB = f
	}
	switch {
	case raw.SizeGB == nil && !sizeAt.env:
		b.ps.add("cache.size_gb", "required: set size_gb in [cache] or %s (the on-disk cache's size in GB, e.g. 10)", EnvCacheSizeGB)
	case math.IsNaN(c.SizeGB) || math.IsInf(c.SizeGB, 0) || c.SizeGB <= 0:
		b.problem(sizeAt, "must be a positive number of GB, got %v", c.SizeGB)
	case c.SizeGB*1e9 < 1<<20:
		b.problem(sizeAt, "%v GB is less than 1 MiB: too small for a cache", c.SizeGB)
	case c.SizeGB > 1e6:
		b.problem(sizeAt, "%v GB is more than a petabyte: a typo?", c.SizeGB)
	}
	c.MemoryMB = b.intIn("cache.memory_mb", raw.MemoryMB, DefaultCacheMemoryMB, 0, 1<<20)
	c.ReadAheadMB = b.intIn("cache.read_ahead_mb", raw.ReadAheadMB, DefaultCacheReadAheadMB, 0, 1<<20)
	switch {
	case raw.JournalDir != nil && *raw.JournalDir != "":
		c.JournalDir = b.resolveDir(*raw.JournalDir)
		if strings.ContainsFunc(c.JournalDir, isControl) {
			b.ps.add("cache.journal_dir", "has a control character")
		}
	case c.Dir != "":
		c.JournalDir = filepath.Join(c.Dir, DefaultJournalSubdir)
	}
}

func (b *builder) buildS3() {
	raw := b.raw.S3
	if raw == nil {
		raw = &fileS3{}
	}
	s := &b.cfg.S3
	a := &b.s3At
	set := func(dst *string, where *at, fileVal *string, fileName, envName, def string) {
		*dst, *where = def, fileKey("s3."+fileName)
		if fileVal != nil && *fileVal != "" {
			*dst = *fileVal
		}
		if v, ok := lookupEnv(b.env, envName); ok {
			*dst, *where = v, envKey(envName)
		}
	}
	set(&s.Endpoint, &a.endpoint, raw.Endpoint, "endpoint", EnvEndpoint, "")
	set(&s.Bucket, &a.bucket, raw.Bucket, "bucket", EnvBucket, DefaultS3Bucket)
	set(&s.AccessKeyID, &a.accessKeyID, raw.AccessKeyID, "access_key_id", EnvAccessKeyID, "")
	set(&s.Region, &a.region, raw.Region, "region", EnvRegion, DefaultS3Region)
	var secret string
	set(&secret, &a.secret, raw.SecretAccessKey, "secret_access_key", EnvSecretAccessKey, "")
	s.SecretAccessKey = Secret(secret)
	b.ps.secrets = append(b.ps.secrets, secret)
	// A session token belongs to the keys it was issued with: those of the
	// environment, never the file's.
	if v, ok := lookupEnv(b.env, EnvSessionToken); ok {
		b.ps.secrets = append(b.ps.secrets, v)
		if a.accessKeyID.env && a.secret.env {
			s.SessionToken = Secret(v)
		}
	}

	a.allowHTTP = fileKey("s3.allow_http")
	if raw.AllowHTTP != nil {
		s.AllowHTTP = *raw.AllowHTTP
	}
	if v, ok := lookupEnv(b.env, EnvAllowHTTP); ok {
		a.allowHTTP = envKey(EnvAllowHTTP)
		allow, err := parseBoolEnv(v)
		if err != nil {
			b.ps.addEnv(EnvAllowHTTP, "%q is not a boolean: use true, false, 1 or 0", v)
		}
		s.AllowHTTP = allow
	}
	// The form of what the file says is checked even if no export uses S3;
	// whether the settings fit together is checked per S3 export.
	// Credentials in the endpoint are refused wherever it came from:
	// check-config prints the endpoint.
	if s.Endpoint != "" {
		check := checkEndpoint
		if a.endpoint.env {
			check = checkEndpointCredentials
		}
		if err := check(s.Endpoint); err != nil {
			b.problem(a.endpoint, "%v", err)
			b.ps.markBad(a.endpoint.key)
		}
	}
	if !a.bucket.env {
		if err := checkBucketName(s.Bucket); err != nil {
			b.ps.add("s3.bucket", "%v", err)
			b.ps.markBad("s3.bucket")
		}
	}
}

// checkEndpoint accepts http(s)://host[:port][/path], without credentials,
// query or fragment. Its errors do not repeat the URL.
func checkEndpoint(endpoint string) error {
	if err := checkEndpointCredentials(endpoint); err != nil {
		return err
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("not a URL; want http(s)://host[:port]")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("want an http:// or https:// URL, e.g. https://s3.example.com")
	}
	if u.Host == "" {
		return fmt.Errorf("has no host; want %s://host[:port]", u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must not have a query or fragment")
	}
	return nil
}

// checkEndpointCredentials refuses an endpoint that may hold credentials:
// any "@" in it, which catches user info whether or not the rest parses (a
// secret with a "/" in it moves the "@" into what parses as the path). Its
// errors do not repeat the URL.
func checkEndpointCredentials(endpoint string) error {
	if strings.Contains(endpoint, "@") {
		return fmt.Errorf("credentials do not belong in the endpoint URL; use access_key_id and secret_access_key (or %s and %s)", EnvAccessKeyID, EnvSecretAccessKey)
	}
	return nil
}

func (b *builder) buildLSM() {
	raw := b.raw.LSM
	if raw == nil {
		raw = &fileLSM{}
	}
	l := &b.cfg.LSM
	l.FlushInterval = b.durationIn("lsm.flush_interval", raw.FlushInterval, DefaultFlushInterval, time.Millisecond, time.Minute)
	l.ShipInterval = b.durationIn("lsm.ship_interval", raw.ShipInterval, DefaultShipInterval, time.Millisecond, time.Minute)
	l.MemtableMB = b.intIn("lsm.memtable_mb", raw.MemtableMB, DefaultMemtableMB, 1, 4096)
	l.MaxUnflushedMB = max(DefaultMaxUnflushedMB, 2*l.MemtableMB)
	if raw.MaxUnflushed != nil {
		if v := b.intIn("lsm.max_unflushed_mb", raw.MaxUnflushed, int64(l.MaxUnflushedMB), 2, 65536); v < 2*l.MemtableMB {
			b.ps.add("lsm.max_unflushed_mb", "%d is less than twice lsm.memtable_mb (%d): a memtable is written out while the next one fills", v, l.MemtableMB)
		} else {
			l.MaxUnflushedMB = v
		}
	}
	l.GCInterval = b.durationIn("lsm.gc_interval", raw.GCInterval, DefaultGCInterval, time.Second, 24*time.Hour)
	l.GCMinAge = b.durationIn("lsm.gc_min_age", raw.GCMinAge, DefaultGCMinAge, time.Second, 30*24*time.Hour)
	l.Compression = b.compression("lsm.compression", raw.Compression, DefaultCompression)
	l.ZstdLevel = b.intIn("lsm.zstd_level", raw.ZstdLevel, DefaultZstdLevel, compress.MinZstdLevel, compress.MaxZstdLevel)
}

// compression parses a compression key (def when absent).
func (b *builder) compression(key string, v *string, def Compression) Compression {
	if v == nil {
		return def
	}
	switch c := Compression(strings.ToLower(*v)); c {
	case CompressionNone, CompressionSnappy, CompressionZstd:
		return c
	}
	b.ps.add(key, "%q is not a compression: use none, snappy or zstd", *v)
	return def
}

var exportNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

const (
	maxExportNameLen = 64
	maxMountPathLen  = 1024 // MNTPATHLEN
)

func (b *builder) buildExports() {
	if len(b.raw.Exports) == 0 {
		b.ps.add("exports", "no exports: add at least one [[exports]] table with name, path and store")
		return
	}
	names := map[string]int{}
	keyVars := map[string][]int{} // the exports of each PassphraseEnv
	paths := map[string]int{}
	for i := range b.raw.Exports {
		raw := &b.raw.Exports[i]
		key := func(k string) string { return fmt.Sprintf("exports[%d].%s", i, k) }
		e := Export{}

		e.Name = strDefault(raw.Name, "")
		switch {
		case e.Name == "":
			b.ps.add(key("name"), "required: a short name like \"team-a\" (lower-case letters, digits, '-' and '_')")
		case len(e.Name) > maxExportNameLen || !exportNameRE.MatchString(e.Name):
			b.ps.add(key("name"), "%q: use lower-case letters, digits, '-' and '_', starting with a letter or digit, at most %d characters", e.Name, maxExportNameLen)
		default:
			if j, dup := names[e.Name]; dup {
				b.ps.add(key("name"), "%q is already the name of exports[%d]", e.Name, j)
				break
			}
			names[e.Name] = i
			// '-' and '_' are one character in the variable's name. Two
			// exports in the clear read no passphrase (one set for
			// either is refused by buildEncryption), so they may share it.
			v := PassphraseEnv(e.Name)
			for _, j := range keyVars[v] {
				if isEncrypted(raw) || isEncrypted(&b.raw.Exports[j]) {
					b.ps.add(key("name"), "%q and %q (exports[%d]) would share the passphrase variable %s: give one of them a name that differs in more than '-' and '_'",
						e.Name, b.cfg.Exports[j].Name, j, v)
					break
				}
			}
			keyVars[v] = append(keyVars[v], i)
		}

		e.Path = strDefault(raw.Path, "")
		switch {
		case e.Path == "":
			b.ps.add(key("path"), "required: the mount path clients ask for, e.g. \"/team-a\"")
		case !strings.HasPrefix(e.Path, "/"):
			b.ps.add(key("path"), "%q must be absolute (start with /)", e.Path)
		case strings.ContainsFunc(e.Path, isControl):
			b.ps.add(key("path"), "has a control character")
		case len(e.Path) > maxMountPathLen:
			b.ps.add(key("path"), "longer than %d bytes", maxMountPathLen)
		case path.Clean(e.Path) != e.Path:
			b.ps.add(key("path"), "%q is not clean: write it as %q", e.Path, path.Clean(e.Path))
		default:
			if j, dup := paths[e.Path]; dup {
				b.ps.add(key("path"), "%q is already the path of exports[%d] (%s)", e.Path, j, b.cfg.Exports[j].Name)
			} else {
				paths[e.Path] = i
			}
		}

		b.buildStore(i, raw, &e)

		e.ReadOnly = raw.ReadOnly != nil && *raw.ReadOnly
		e.Secure = raw.Secure != nil && *raw.Secure
		for k, c := range raw.AllowedClients {
			p, err := parseClient(c)
			if err != nil {
				b.ps.add(fmt.Sprintf("exports[%d].allowed_clients[%d]", i, k), "%v", err)
				continue
			}
			e.AllowedClients = append(e.AllowedClients, p)
		}

		e.Squash = DefaultSquash
		if raw.Squash != nil {
			switch s := Squash(strings.ToLower(*raw.Squash)); s {
			case SquashNone, SquashRoot, SquashAll:
				e.Squash = s
			default:
				b.ps.add(key("squash"), "%q is not a squash mode: use none, root or all", *raw.Squash)
			}
		}
		e.AnonUID = uint32(b.intIn(key("anon_uid"), raw.AnonUID, DefaultAnonID, 0, math.MaxUint32))
		e.AnonGID = uint32(b.intIn(key("anon_gid"), raw.AnonGID, DefaultAnonID, 0, math.MaxUint32))

		e.Durability = DefaultDurability
		if raw.Durability != nil {
			switch d := Durability(strings.ToLower(*raw.Durability)); d {
			case DurabilityBucket, DurabilityLocal:
				e.Durability = d
			default:
				b.ps.add(key("durability"), "%q is not a durability: use bucket or local", *raw.Durability)
			}
		}
		if e.Durability == DurabilityLocal && e.Store.Scheme == SchemeMemory {
			b.ps.add(key("durability"), "\"local\" journals writes for a store that outlives the process; a memory:// store does not: use bucket")
		}
		e.Sync, e.SyncDefaulted = DefaultSyncFor(e.Durability), raw.Sync == nil
		if raw.Sync != nil {
			switch s := SyncMode(strings.ToLower(*raw.Sync)); s {
			case SyncCommit, SyncStrict:
				e.Sync = s
			default:
				b.ps.add(key("sync"), "%q is not a sync mode: use commit or strict", *raw.Sync)
			}
		}
		e.InodeCacheEntries = b.intIn(key("inode_cache_entries"), raw.InodeCacheEntries, DefaultInodeCacheEntries, 1, 1<<30)
		if raw.SizeLimitGB != nil {
			e.SizeLimitGB = *raw.SizeLimitGB
			switch {
			case math.IsNaN(e.SizeLimitGB) || math.IsInf(e.SizeLimitGB, 0) || e.SizeLimitGB < 0:
				b.ps.add(key("size_limit_gb"), "must be a positive number of GB, or 0 for no limit")
				e.SizeLimitGB = 0
			case e.SizeLimitGB > MaxSizeLimitGB:
				// Past it the size in bytes overflows.
				b.ps.add(key("size_limit_gb"), "%g is more than %g GB", e.SizeLimitGB, float64(MaxSizeLimitGB))
				e.SizeLimitGB = 0
			case e.SizeLimitGB > 0 && gbToBytes(e.SizeLimitGB) < 1:
				// It would read as 0: no limit at all.
				b.ps.add(key("size_limit_gb"), "%g GB is less than one byte; 0 means no limit", e.SizeLimitGB)
				e.SizeLimitGB = 0
			}
		}
		if raw.RootOwner != nil {
			o, err := parseOwner(*raw.RootOwner)
			if err != nil {
				b.ps.add(key("root_owner"), "%v", err)
			} else {
				e.RootOwner = &o
			}
		}
		if raw.RootMode != nil {
			m, err := parseRootMode(*raw.RootMode)
			if err != nil {
				b.ps.add(key("root_mode"), "%v", err)
			} else {
				e.RootMode = &m
			}
		}
		e.Compression = b.compression(key("compression"), raw.Compression, b.cfg.LSM.Compression)
		e.ZstdLevel = b.intIn(key("zstd_level"), raw.ZstdLevel, int64(b.cfg.LSM.ZstdLevel), compress.MinZstdLevel, compress.MaxZstdLevel)
		if raw.ZstdLevel != nil && e.Compression != CompressionZstd {
			b.ps.add(key("zstd_level"), "only applies with compression = \"zstd\" (this export's compression is %q)", e.Compression)
		}
		b.buildEncryption(i, raw, &e)
		if raw.SnapshotDir != nil && *raw.SnapshotDir != "" {
			d := *raw.SnapshotDir
			switch {
			case d == "." || d == "..":
				b.ps.add(key("snapshot_dir"), "%q is not a name: use a name like \".snapshots\"", d)
			case strings.ContainsAny(d, "/\x00") || strings.ContainsFunc(d, isControl):
				b.ps.add(key("snapshot_dir"), "%q must be one name, without '/' or control characters (the directory is at the export's root)", d)
			case len(d) > maxNameLen:
				b.ps.add(key("snapshot_dir"), "longer than %d bytes", maxNameLen)
			default:
				e.SnapshotDir = d
			}
		}
		e.SnapshotEvery = b.durationIn(key("snapshot_every"), raw.SnapshotEvery, 0, time.Second, 366*24*time.Hour)
		if e.SnapshotEvery > 0 {
			e.SnapshotKeep = b.intIn(key("snapshot_keep"), raw.SnapshotKeep, DefaultSnapshotKeep, 1, 1_000_000)
			if e.ReadOnly {
				b.ps.add(key("snapshot_every"), "a read_only export writes nothing: take scheduled snapshots where the store's writer runs")
			}
		} else if raw.SnapshotKeep != nil {
			b.ps.add(key("snapshot_keep"), "has no effect without snapshot_every (e.g. snapshot_every = \"1h\")")
		}
		e.Replica = raw.Replica != nil && *raw.Replica
		if e.Replica {
			e.ReplicaPoll = b.durationIn(key("replica_poll"), raw.ReplicaPoll, DefaultReplicaPoll, 10*time.Millisecond, time.Hour)
			if e.SnapshotEvery > 0 {
				b.ps.add(key("snapshot_every"), "a replica writes nothing: take scheduled snapshots where the store's writer runs")
			}
			if e.Durability == DurabilityLocal {
				b.ps.add(key("durability"), "a replica writes nothing: \"local\" is for its writer")
			}
		} else if raw.ReplicaPoll != nil {
			b.ps.add(key("replica_poll"), "has no effect without replica = true")
		}
		b.cfg.Exports = append(b.cfg.Exports, e)
	}
}

// parseOwner reads "uid:gid", both numbers (names would be looked up on
// this host, not on the clients).
func parseOwner(s string) (Owner, error) {
	u, g, ok := strings.Cut(strings.TrimSpace(s), ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return Owner{}, fmt.Errorf("%q is not uid:gid, two numbers from 0 to 4294967295 (e.g. \"0:1000\"); user and group names are not supported", s)
	}
	return Owner{UID: uint32(uid), GID: uint32(gid)}, nil
}

// parseRootMode reads an octal mode ("2775", "0755", "755") of permission,
// setgid and sticky bits.
func parseRootMode(s string) (uint32, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "0o")
	m, err := strconv.ParseUint(t, 8, 32)
	switch {
	case t == "" || err != nil:
		return 0, fmt.Errorf("%q is not an octal mode (e.g. \"2775\" or \"0755\")", s)
	case m&^RootModeBits != 0:
		return 0, fmt.Errorf("%q: only permission bits, setgid (2000) and sticky (1000) are allowed (setuid and file type bits are not)", s)
	}
	return uint32(m), nil
}

// isEncrypted reports whether the export sets encryption = true.
func isEncrypted(raw *fileExport) bool {
	return raw.Encryption != nil && *raw.Encryption
}

// buildEncryption reads an export's encryption, key_file and passphrase
// variable. Exactly one key source goes with encryption = true, and none
// without: a passphrase set for an export that is not encrypted is refused
// rather than ignored, since it means data would be written in the clear.
func (b *builder) buildEncryption(i int, raw *fileExport, e *Export) {
	key := func(k string) string { return fmt.Sprintf("exports[%d].%s", i, k) }
	enc := &e.Encryption
	enc.Enabled = isEncrypted(raw)
	if e.Name != "" {
		enc.PassphraseEnv = PassphraseEnv(e.Name)
	}
	if raw.KeyFile != nil && *raw.KeyFile != "" {
		switch {
		case strings.ContainsFunc(*raw.KeyFile, isControl):
			b.ps.add(key("key_file"), "has a control character")
		default:
			enc.KeyFile = b.resolveDir(*raw.KeyFile)
		}
	}
	if enc.PassphraseEnv != "" {
		if v, ok := lookupEnv(b.env, enc.PassphraseEnv); ok {
			enc.Passphrase = Secret(v)
			b.ps.secrets = append(b.ps.secrets, v)
		}
	}
	hasFile, hasPass := raw.KeyFile != nil && *raw.KeyFile != "", enc.Passphrase.IsSet()
	switch {
	case !enc.Enabled && hasFile:
		b.ps.add(key("key_file"), "set, but encryption is not on: add encryption = true (or remove key_file)")
	case !enc.Enabled && hasPass:
		b.ps.addEnv(enc.PassphraseEnv, "set, but %s is not true: data would be written unencrypted; add encryption = true to the export, or unset the variable", key("encryption"))
	case enc.Enabled && hasFile && hasPass:
		b.ps.add(key("key_file"), "and the passphrase in %s are both set: give one key (the other would be ignored)", enc.PassphraseEnv)
	case enc.Enabled && !hasFile && !hasPass && e.Name != "":
		b.ps.add(key("encryption"), "needs a key: key_file = \"PATH\" (32 bytes, or 64 hex digits) or a passphrase in the environment variable %s", enc.PassphraseEnv)
	case enc.Enabled && b.opts.checksKeyOf(e.Name):
		b.checkKey(i, enc, hasFile, hasPass)
	}
}

// checkKey reads the key of the encrypted export i as opening it will
// (opening no store), so that a key that cannot unlock anything is refused
// with the config, not when the export opens: its key file, or its
// passphrase's length. With both or neither set there is nothing to read
// (buildEncryption has refused that).
func (b *builder) checkKey(i int, enc *Encryption, hasFile, hasPass bool) {
	switch {
	case enc.KeyFile != "" && !hasPass:
		if _, err := crypt.ReadKeyFile(enc.KeyFile); err != nil {
			b.ps.add(fmt.Sprintf("exports[%d].key_file", i), "%s", strings.TrimPrefix(err.Error(), "crypt: "))
		}
	case hasPass && !hasFile:
		if _, err := crypt.Passphrase(enc.Passphrase.Reveal(), enc.PassphraseEnv); err != nil {
			b.ps.addEnv(enc.PassphraseEnv, "%s", strings.TrimPrefix(err.Error(), "crypt: "))
		}
	}
}

// maxNameLen is the longest file name an export holds.
const maxNameLen = 255

// buildStore parses the export's store and, for S3, merges its settings.
func (b *builder) buildStore(i int, raw *fileExport, e *Export) {
	key := fmt.Sprintf("exports[%d].store", i)
	if raw.Store == nil || *raw.Store == "" {
		b.ps.add(key, "required: file:///DIR, s3://BUCKET/PREFIX or memory://")
		return
	}
	u, err := ParseStoreURL(*raw.Store, b.baseDir)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), ErrBadStoreURL.Error()+": ")
		if strings.Contains(*raw.Store, "@") {
			b.ps.add(key, "%s", msg) // may hold credentials: not repeated
		} else {
			b.ps.add(key, "%q: %s", *raw.Store, msg)
		}
		return
	}
	e.Store = u
	if raw.S3 != nil && u.Scheme != SchemeS3 {
		b.ps.add(fmt.Sprintf("exports[%d].s3", i), "S3 settings on a %s:// store: remove them or make the store s3://", u.Scheme)
	}
	if u.Scheme != SchemeS3 {
		return
	}
	// Effective S3 settings: [s3] and the environment, then the export's own.
	s3 := b.cfg.S3
	a := b.s3At
	ov := raw.S3
	if ov == nil {
		ov = &fileS3Override{}
	}
	okey := func(k string) at { return fileKey(fmt.Sprintf("exports[%d].s3.%s", i, k)) }
	if ov.Endpoint != nil && *ov.Endpoint != "" {
		s3.Endpoint, a.endpoint = *ov.Endpoint, okey("endpoint")
	}
	if ov.AccessKeyID != nil && *ov.AccessKeyID != "" {
		s3.AccessKeyID, a.accessKeyID = *ov.AccessKeyID, okey("access_key_id")
	}
	if ov.SecretAccessKey != nil && *ov.SecretAccessKey != "" {
		s3.SecretAccessKey, a.secret = Secret(*ov.SecretAccessKey), okey("secret_access_key")
		b.ps.secrets = append(b.ps.secrets, *ov.SecretAccessKey)
	}
	if ov.Region != nil && *ov.Region != "" {
		s3.Region, a.region = *ov.Region, okey("region")
	}
	if !a.accessKeyID.env || !a.secret.env {
		s3.SessionToken = "" // the export's own keys: not the environment's token's
	}
	if ov.AllowHTTP != nil {
		s3.AllowHTTP, a.allowHTTP = *ov.AllowHTTP, okey("allow_http")
	}
	if u.Bucket == "" {
		u.Bucket = s3.Bucket
		e.Store.Bucket = s3.Bucket
		if err := checkBucketName(u.Bucket); err != nil {
			b.problem(a.bucket, "%v (the default bucket, for s3:///PREFIX stores)", err)
		}
	}
	s3.Bucket = u.Bucket
	e.S3 = s3

	if s3.Endpoint != "" {
		if err := checkEndpoint(s3.Endpoint); err != nil {
			b.problem(a.endpoint, "%v", err)
		} else if strings.HasPrefix(strings.ToLower(s3.Endpoint), "http://") && !s3.AllowHTTP {
			b.problem(a.endpoint, "plain http:// endpoint refused (credentials and data would cross the network unencrypted): use https://, or allow it with allow_http = true or %s=true", EnvAllowHTTP)
		}
	}
	if (s3.AccessKeyID == "") != (s3.SecretAccessKey == "") {
		missing, have := a.secret, a.accessKeyID
		if s3.AccessKeyID == "" {
			missing, have = a.accessKeyID, a.secret
		}
		b.problem(missing, "missing while %s is set: give both (in [s3], the environment or the export's s3 table), or neither to use the default credential chain", have.key)
	}
}

// parseClient reads a CIDR or a bare address (which becomes a /32 or /128).
func parseClient(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("%q: zones (%%eth0) are not supported", s)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8 or fd00::/8", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR (e.g. 192.168.1.10, 10.0.0.0/8, fd00::/8); host names are not supported", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// checkOverlaps refuses two exports sharing storage: the same bucket (on any
// endpoints) with one prefix equal to or inside the other, or one local
// directory inside another or inside the cache directory.
func (b *builder) checkOverlaps() {
	exports := b.cfg.Exports
	cacheDir := absOrSelf(b.cfg.Cache.Dir)
	journalDir := absOrSelf(b.cfg.Cache.JournalDir)
	for j := range exports {
		ej := exports[j].Store
		key := fmt.Sprintf("exports[%d].store", j)
		if ej.Scheme == SchemeFile && cacheDir != "" && (within(ej.Dir, cacheDir) || within(cacheDir, ej.Dir)) {
			b.ps.add(key, "directory %s and the cache directory %s overlap: the cache must live outside every export's directory, and the other way round", ej.Dir, cacheDir)
		}
		// A journal directory inside the cache directory is covered by the
		// check above.
		if ej.Scheme == SchemeFile && journalDir != "" && !within(journalDir, cacheDir) && (within(ej.Dir, journalDir) || within(journalDir, ej.Dir)) {
			b.ps.add(key, "directory %s and the journal directory %s (cache.journal_dir) overlap: journals must live outside every export's directory, and the other way round", ej.Dir, journalDir)
		}
		for i := 0; i < j; i++ {
			ei := exports[i].Store
			if ei.Scheme != ej.Scheme {
				continue
			}
			switch ej.Scheme {
			case SchemeFile:
				if within(ej.Dir, ei.Dir) || within(ei.Dir, ej.Dir) {
					b.ps.add(key, "directory %s overlaps %s of exports[%d] (%s): each export needs a directory of its own, neither inside the other", ej.Dir, ei.Dir, i, exports[i].Name)
				}
			case SchemeS3:
				// Not the endpoint: a store is known by its bucket and prefix
				// (a reload may move its endpoint), so one bucket name on two
				// endpoints counts as one bucket.
				if ei.Bucket != ej.Bucket {
					continue
				}
				if within(ej.Prefix, ei.Prefix) || within(ei.Prefix, ej.Prefix) {
					b.ps.add(key, "%s overlaps %s of exports[%d] (%s): two exports may share a bucket only under prefixes neither of which contains the other", ej, ei, i, exports[i].Name)
				}
			}
		}
	}
}

func absOrSelf(dir string) string {
	if dir == "" {
		return ""
	}
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// resolveDir cleans a directory from the file and makes a relative one
// relative to the file's directory.
func (b *builder) resolveDir(dir string) string {
	dir = filepath.Clean(dir)
	if !filepath.IsAbs(dir) && b.baseDir != "" {
		dir = filepath.Join(b.baseDir, dir)
	}
	return dir
}

// intIn returns *v (or def when nil), recording a problem when it is outside [lo, hi].
func (b *builder) intIn(key string, v *int64, def, lo, hi int64) int {
	if v == nil {
		return int(def)
	}
	if *v < lo || *v > hi {
		b.ps.add(key, "%d is out of range: from %d to %d", *v, lo, hi)
		return int(def)
	}
	return int(*v)
}

// durationIn parses a duration key (def when absent) that must lie in [lo, hi].
func (b *builder) durationIn(key string, v *string, def, lo, hi time.Duration) time.Duration {
	if v == nil {
		return def
	}
	d, err := time.ParseDuration(*v)
	switch {
	case err != nil:
		b.ps.add(key, "%q is not a duration (e.g. \"50ms\", \"1s\")", *v)
	case d < lo || d > hi:
		b.ps.add(key, "%s is out of range: from %s to %s", durationText(d), durationText(lo), durationText(hi))
	default:
		return d
	}
	return def
}

// durationText writes d as a person would: "1m", "1h30m", not "1m0s".
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func strDefault(v *string, def string) string {
	if v == nil || *v == "" {
		return def
	}
	return *v
}
