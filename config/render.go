package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"
)

// String renders the effective configuration (every default filled in) as
// TOML that Load reads back; secrets appear as "***". It is what
// `zerofsd check-config` prints.
func (c *Config) String() string {
	var w tomlWriter
	if c.File != "" {
		w.comment("effective configuration loaded from " + c.File)
	}
	w.table("server")
	w.str("listen", c.Server.Listen)
	w.str("log_level", levelName(c.Server.LogLevel))
	w.str("log_format", string(c.Server.LogFormat))
	if c.Server.MetricsListen != "" {
		w.str("metrics_listen", c.Server.MetricsListen)
	}
	w.int("max_connections", c.Server.MaxConnections)
	w.int("max_requests_per_conn", c.Server.MaxRequestsPerConn)
	w.str("shutdown_timeout", c.Server.ShutdownTimeout.String())
	w.str("portmapper", string(c.Server.Portmapper))
	if c.Server.Portmapper == PortmapperAuto || c.Server.Portmapper == PortmapperServe {
		w.str("portmapper_listen", c.Server.PortmapperListen)
	}

	w.table("cache")
	w.str("dir", c.Cache.Dir)
	w.float("size_gb", c.Cache.SizeGB)
	w.int("memory_mb", c.Cache.MemoryMB)
	w.int("read_ahead_mb", c.Cache.ReadAheadMB)
	if c.Cache.JournalDir != "" {
		w.str("journal_dir", c.Cache.JournalDir)
	}

	w.table("s3")
	w.s3(c.S3, true)

	w.table("lsm")
	w.str("flush_interval", c.LSM.FlushInterval.String())
	w.str("ship_interval", c.LSM.ShipInterval.String())
	w.int("memtable_mb", c.LSM.MemtableMB)
	w.int("max_unflushed_mb", c.LSM.MaxUnflushedMB)
	w.str("compression", string(c.LSM.Compression))
	w.int("zstd_level", c.LSM.ZstdLevel)
	w.str("gc_interval", durationText(c.LSM.GCInterval))
	w.str("gc_min_age", durationText(c.LSM.GCMinAge))

	for _, e := range c.Exports {
		w.arrayTable("exports")
		w.str("name", e.Name)
		w.str("path", e.Path)
		w.str("store", e.Store.String())
		w.bool("read_only", e.ReadOnly)
		w.bool("secure", e.Secure)
		clients := make([]string, len(e.AllowedClients))
		for i, p := range e.AllowedClients {
			clients[i] = p.String()
		}
		w.strs("allowed_clients", clients)
		w.str("squash", string(e.Squash))
		w.int("anon_uid", int(e.AnonUID))
		w.int("anon_gid", int(e.AnonGID))
		w.str("durability", string(e.Durability))
		if e.SyncDefaulted {
			// Not set: the default follows the durability in use.
			w.comment(fmt.Sprintf("sync = %q (the default with durability %q)", e.Sync, e.Durability))
		} else {
			w.str("sync", string(e.Sync))
		}
		w.int("inode_cache_entries", e.InodeCacheEntries)
		if e.SizeLimitGB > 0 {
			w.float("size_limit_gb", e.SizeLimitGB)
		}
		if e.RootOwner != nil {
			w.str("root_owner", e.RootOwner.String())
		}
		if e.RootMode != nil {
			w.str("root_mode", fmt.Sprintf("%04o", *e.RootMode))
		}
		w.str("compression", string(e.Compression))
		if e.Compression == CompressionZstd {
			w.int("zstd_level", e.ZstdLevel)
		}
		w.bool("encryption", e.Encryption.Enabled)
		if e.Encryption.KeyFile != "" {
			w.str("key_file", e.Encryption.KeyFile)
		}
		if e.Encryption.Passphrase.IsSet() {
			w.comment("passphrase from " + e.Encryption.PassphraseEnv)
		}
		if e.SnapshotDir != "" {
			w.str("snapshot_dir", e.SnapshotDir)
		}
		if e.SnapshotEvery > 0 {
			w.str("snapshot_every", durationText(e.SnapshotEvery))
			w.int("snapshot_keep", e.SnapshotKeep)
		}
		w.bool("replica", e.Replica)
		if e.Replica {
			w.str("replica_poll", durationText(e.ReplicaPoll))
		}
		if e.Store.Scheme == SchemeS3 {
			w.table("exports.s3")
			w.s3(e.S3, false)
		}
	}
	return w.b.String()
}

// LogValue logs a short summary: where it listens, the cache, the exports.
func (c *Config) LogValue() slog.Value {
	names := make([]string, len(c.Exports))
	for i, e := range c.Exports {
		names[i] = e.Name + "=" + e.Path
	}
	return slog.GroupValue(
		slog.String("file", c.File),
		slog.String("listen", c.Server.Listen),
		slog.String("cache_dir", c.Cache.Dir),
		slog.Float64("cache_size_gb", c.Cache.SizeGB),
		slog.String("exports", strings.Join(names, ",")),
	)
}

// LogValue logs an export's identity and options (never credentials).
func (e Export) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", e.Name),
		slog.String("path", e.Path),
		slog.String("store", e.Store.String()),
		slog.Bool("read_only", e.ReadOnly),
		slog.Bool("secure", e.Secure),
		slog.String("squash", string(e.Squash)),
		slog.String("durability", string(e.Durability)),
		slog.String("sync", string(e.Sync)),
		slog.String("compression", string(e.Compression)),
		slog.Bool("encryption", e.Encryption.Enabled),
	)
}

func levelName(l slog.Level) string {
	switch l {
	case slog.LevelDebug:
		return "debug"
	case slog.LevelWarn:
		return "warn"
	case slog.LevelError:
		return "error"
	}
	return "info"
}

type tomlWriter struct{ b strings.Builder }

func (w *tomlWriter) comment(s string) { fmt.Fprintf(&w.b, "# %s\n", s) }

func (w *tomlWriter) table(name string) {
	if w.b.Len() > 0 {
		w.b.WriteByte('\n')
	}
	fmt.Fprintf(&w.b, "[%s]\n", name)
}

func (w *tomlWriter) arrayTable(name string) {
	w.b.WriteByte('\n')
	fmt.Fprintf(&w.b, "[[%s]]\n", name)
}

func (w *tomlWriter) str(k, v string) { fmt.Fprintf(&w.b, "%s = %s\n", k, tomlQuote(v)) }
func (w *tomlWriter) int(k string, v int) {
	fmt.Fprintf(&w.b, "%s = %d\n", k, v)
}
func (w *tomlWriter) bool(k string, v bool) { fmt.Fprintf(&w.b, "%s = %t\n", k, v) }

func (w *tomlWriter) float(k string, v float64) {
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	fmt.Fprintf(&w.b, "%s = %s\n", k, s)
}

func (w *tomlWriter) strs(k string, vs []string) {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = tomlQuote(v)
	}
	fmt.Fprintf(&w.b, "%s = [%s]\n", k, strings.Join(q, ", "))
}

func (w *tomlWriter) s3(s S3, withBucket bool) {
	if s.Endpoint != "" {
		w.str("endpoint", s.Endpoint)
	}
	if withBucket {
		w.str("bucket", s.Bucket)
	}
	w.str("region", s.Region)
	if s.AccessKeyID != "" {
		w.str("access_key_id", s.AccessKeyID)
	}
	if s.SecretAccessKey.IsSet() {
		w.str("secret_access_key", s.SecretAccessKey.String())
	}
	if s.SessionToken.IsSet() {
		w.comment("session token from " + EnvSessionToken)
	}
	w.bool("allow_http", s.AllowHTTP)
}

// tomlQuote writes a TOML basic string: \" \\ and \uXXXX for control
// characters; invalid UTF-8 becomes U+FFFD.
func tomlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, string(utf8.RuneError)) {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
