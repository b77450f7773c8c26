package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// want is one expected problem: its key, a substring of its message, and
// whether it is about an environment variable.
type want struct {
	key, msg string
	env      bool
}

func TestValidationProblems(t *testing.T) {
	cases := []struct {
		name  string
		toml  string
		env   map[string]string
		files map[string]string // beside the config (key files)
		wants []want
	}{
		{
			name: "unknown keys everywhere, each with its full path",
			toml: validBase + `
[server]
lsten = "x"
[lsm]
flush = "1s"
[zzz]
a = 1
[[exports]]
name = "a"
path = "/a"
store = "s3://bucket-a/p"
raed_only = true
[exports.s3]
secret = "x"
[[exports]]
name = "b"
path = "/b"
store = "memory://"
bogus = 1
`,
			wants: []want{
				{key: "server.lsten", msg: "unknown key"},
				{key: "lsm.flush", msg: "unknown key"},
				{key: "zzz", msg: "unknown key"},
				{key: "exports[0].raed_only", msg: "unknown key"},
				{key: "exports[0].s3.secret", msg: "unknown key"},
				{key: "exports[1].bogus", msg: "unknown key"},
			},
		},
		{
			name: "an unknown key makes no required key of its table missing",
			toml: `
[cache]
dir = "cache"
size_gb = 2
bogus = 1
[[exports]]
name = "a"
path = "/a"
store = "memory://"
tyop = 1
`,
			wants: []want{
				{key: "cache.bogus", msg: "unknown key"},
				{key: "exports[0].tyop", msg: "unknown key"},
			},
		},
		{
			name: "wrong types",
			toml: validBase + `
[server]
max_connections = "many"
[[exports]]
name = "a"
path = "/a"
store = "memory://"
read_only = "yes"
secure = 1
anon_uid = 1.5
`,
			wants: []want{
				{key: "server.max_connections", msg: "want an integer"},
				{key: "exports[0].read_only", msg: "want a boolean"},
				{key: "exports[0].secure", msg: "want a boolean"},
				{key: "exports[0].anon_uid", msg: "whole number"},
			},
		},
		{
			// Before, the decoder dropped the whole table: dir was then
			// "required" and memory_mb went unchecked.
			name: "a wrong type is its key's only problem; the rest of its table is still read and checked",
			toml: `
[cache]
dir = "cache"
size_gb = "ten"
memory_mb = -1
[[exports]]
name = "a"
path = "/a"
store = "memory://"
anon_uid = "nobody"
squash = "some"
allowed_clients = [10, "10.0.0.0/33"]
`,
			wants: []want{
				{key: "cache.size_gb", msg: "want a number, got a string"},
				{key: "cache.memory_mb", msg: "out of range"},
				{key: "exports[0].anon_uid", msg: "want an integer, got a string"},
				{key: "exports[0].squash", msg: "not a squash mode"},
				{key: "exports[0].allowed_clients[0]", msg: "want a string, got an integer"},
				{key: "exports[0].allowed_clients[1]", msg: "not a CIDR"},
			},
		},
		{
			name: "a table of the wrong type: no problems about the keys it would hold",
			toml: "cache = 5\n" + oneExport,
			wants: []want{
				{key: "cache", msg: "map"},
			},
		},
		{
			name:  "cache dir and size required",
			toml:  oneExport,
			wants: []want{{key: "cache.dir", msg: "SLATEDB_CACHE_DIR"}, {key: "cache.size_gb", msg: "SLATEDB_CACHE_SIZE_GB"}},
		},
		{
			name:  "cache size zero",
			toml:  "[cache]\ndir = \"c\"\nsize_gb = 0\n" + oneExport,
			wants: []want{{key: "cache.size_gb", msg: "positive"}},
		},
		{
			name:  "cache size negative",
			toml:  "[cache]\ndir = \"c\"\nsize_gb = -1.5\n" + oneExport,
			wants: []want{{key: "cache.size_gb", msg: "positive"}},
		},
		{
			name:  "cache size from env not a number",
			toml:  validBase + oneExport,
			env:   map[string]string{EnvCacheSizeGB: "ten"},
			wants: []want{{key: EnvCacheSizeGB, msg: "not a number", env: true}},
		},
		{
			name:  "cache size from env zero",
			toml:  validBase + oneExport,
			env:   map[string]string{EnvCacheSizeGB: "0"},
			wants: []want{{key: EnvCacheSizeGB, msg: "positive", env: true}},
		},
		{
			name:  "no exports",
			toml:  validBase,
			wants: []want{{key: "exports", msg: "at least one"}},
		},
		{
			name: "export name, path and store required",
			toml: validBase + "[[exports]]\nread_only = true\n",
			wants: []want{
				{key: "exports[0].name", msg: "required"},
				{key: "exports[0].path", msg: "required"},
				{key: "exports[0].store", msg: "required"},
			},
		},
		{
			name: "bad names and paths",
			toml: validBase + `
[[exports]]
name = "Team A"
path = "team-a"
store = "memory://"
[[exports]]
name = "b"
path = "/x/../b/"
store = "memory://"
`,
			wants: []want{
				{key: "exports[0].name", msg: "lower-case"},
				{key: "exports[0].path", msg: "absolute"},
				{key: "exports[1].path", msg: `write it as "/b"`},
			},
		},
		{
			name: "duplicate names and paths",
			toml: validBase + `
[[exports]]
name = "a"
path = "/a"
store = "memory://"
[[exports]]
name = "a"
path = "/a"
store = "memory://"
`,
			wants: []want{
				{key: "exports[1].name", msg: "already the name of exports[0]"},
				{key: "exports[1].path", msg: "already the path of exports[0]"},
			},
		},
		{
			name: "bad store URLs",
			toml: validBase + `
[[exports]]
name = "a"
path = "/a"
store = "ftp://x"
[[exports]]
name = "b"
path = "/b"
store = "s3://Bad_Bucket/p"
[[exports]]
name = "c"
path = "/c"
store = "s3://bk1/x//y"
[[exports]]
name = "d"
path = "/d"
store = "/plain/dir"
`,
			wants: []want{
				{key: "exports[0].store", msg: "unknown scheme"},
				{key: "exports[1].store", msg: "bucket"},
				{key: "exports[2].store", msg: "empty segment"},
				{key: "exports[3].store", msg: "want file://DIR"},
			},
		},
		{
			name: "same bucket, one prefix inside another",
			toml: validBase + `
[[exports]]
name = "a"
path = "/a"
store = "s3://shared/teams/a"
[[exports]]
name = "b"
path = "/b"
store = "s3://shared/teams/a/sub"
[[exports]]
name = "c"
path = "/c"
store = "s3://shared/teams/a"
`,
			wants: []want{
				{key: "exports[1].store", msg: "overlaps s3://shared/teams/a of exports[0] (a)"},
				{key: "exports[2].store", msg: "of exports[0] (a)"},
				{key: "exports[2].store", msg: "of exports[1] (b)"},
			},
		},
		{
			name: "same bucket and prefix on two endpoints",
			toml: validBase + `
[[exports]]
name = "a"
path = "/a"
store = "s3://one/p"
[exports.s3]
endpoint = "https://s3.one.example"
[[exports]]
name = "b"
path = "/b"
store = "s3://one/p"
[exports.s3]
endpoint = "https://s3.two.example"
`,
			wants: []want{{key: "exports[1].store", msg: "overlaps s3://one/p of exports[0] (a)"}},
		},
		{
			name: "whole bucket and a prefix in it; default bucket spelled two ways",
			toml: validBase + `
[[exports]]
name = "a"
path = "/a"
store = "s3://whole"
[[exports]]
name = "b"
path = "/b"
store = "s3://whole/inside"
[[exports]]
name = "c"
path = "/c"
store = "s3:///x"
[[exports]]
name = "d"
path = "/d"
store = "s3://slatedb/x/y"
`,
			wants: []want{
				{key: "exports[1].store", msg: "exports[0] (a)"},
				{key: "exports[3].store", msg: "overlaps s3://slatedb/x of exports[2] (c)"},
			},
		},
		{
			name: "local directories nested, and the cache inside a store",
			toml: `
[cache]
dir = "data/a/cache"
size_gb = 1
[[exports]]
name = "a"
path = "/a"
store = "file://data/a"
[[exports]]
name = "b"
path = "/b"
store = "file://data/a/../a/b"
`,
			wants: []want{
				{key: "exports[0].store", msg: "cache directory"},
				{key: "exports[1].store", msg: "exports[0] (a)"},
			},
		},
		{
			name:  "local durability on a memory store",
			toml:  validBase + oneExport + "durability = \"local\"\n",
			wants: []want{{key: "exports[0].durability", msg: "memory://"}},
		},
		{
			name:  "max_unflushed_mb below twice memtable_mb",
			toml:  validBase + "[lsm]\nmemtable_mb = 100\nmax_unflushed_mb = 199\n" + oneExport,
			wants: []want{{key: "lsm.max_unflushed_mb", msg: "199 is less than twice lsm.memtable_mb (100)"}},
		},
		{
			name:  "max_unflushed_mb out of range",
			toml:  validBase + "[lsm]\nmax_unflushed_mb = 1\n" + oneExport,
			wants: []want{{key: "lsm.max_unflushed_mb", msg: "1 is out of range: from 2 to 65536"}},
		},
		{
			name: "journal directory inside a store",
			toml: `
[cache]
dir = "cache"
size_gb = 1
journal_dir = "data/a/journal"
[[exports]]
name = "a"
path = "/a"
store = "file://data/a"
`,
			wants: []want{{key: "exports[0].store", msg: "journal directory"}},
		},
		{
			name:  "http endpoint without allow_http (file)",
			toml:  validBase + "[s3]\nendpoint = \"http://127.0.0.1:7070\"\n[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"s3://bk1/a\"\n",
			wants: []want{{key: "s3.endpoint", msg: "allow_http = true or AWS_ALLOW_HTTP=true"}},
		},
		{
			name:  "http endpoint without allow_http (environment)",
			toml:  validBase + "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"s3://bk1/a\"\n",
			env:   map[string]string{EnvEndpoint: "http://127.0.0.1:7070"},
			wants: []want{{key: EnvEndpoint, msg: "plain http:// endpoint refused", env: true}},
		},
		{
			name:  "http endpoint on the export, AWS_ALLOW_HTTP=false",
			toml:  validBase + "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"s3://bk1/a\"\n[exports.s3]\nendpoint = \"http://h:1\"\n",
			env:   map[string]string{EnvAllowHTTP: "false"},
			wants: []want{{key: "exports[0].s3.endpoint", msg: "plain http://"}},
		},
		{
			name:  "bad AWS_ALLOW_HTTP",
			toml:  validBase + oneExport,
			env:   map[string]string{EnvAllowHTTP: "maybe"},
			wants: []want{{key: EnvAllowHTTP, msg: `"maybe" is not a boolean`, env: true}},
		},
		{
			name:  "bad endpoint forms",
			toml:  validBase + "[s3]\nendpoint = \"ftp://h\"\n" + oneExport + "[[exports]]\nname = \"b\"\npath = \"/b\"\nstore = \"s3://bk1/b\"\n[exports.s3]\nendpoint = \"https://\"\n",
			wants: []want{{key: "s3.endpoint", msg: "http:// or https://"}, {key: "exports[1].s3.endpoint", msg: "no host"}},
		},
		{
			name:  "access key without secret",
			toml:  validBase + "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"s3://bk1/a\"\n",
			env:   map[string]string{EnvAccessKeyID: "AKIAEXAMPLE"},
			wants: []want{{key: "s3.secret_access_key", msg: "missing while AWS_ACCESS_KEY_ID is set"}},
		},
		{
			name:  "s3 settings on a file store",
			toml:  validBase + "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"memory://\"\n[exports.s3]\nregion = \"x\"\n",
			wants: []want{{key: "exports[0].s3", msg: "on a memory:// store"}},
		},
		{
			name: "bad clients",
			toml: validBase + `
[[exports]]
name = "a"
path = "/a"
store = "memory://"
allowed_clients = ["10.0.0.0/33", "host.example", "10.0.0.1", "fe80::1%eth0"]
`,
			wants: []want{
				{key: "exports[0].allowed_clients[0]", msg: "not a CIDR"},
				{key: "exports[0].allowed_clients[1]", msg: "host names are not supported"},
				{key: "exports[0].allowed_clients[3]", msg: "zones"},
			},
		},
		{
			name: "bad enumerations and ranges",
			toml: validBase + `
[server]
listen = "2049"
metrics_listen = "127.0.0.1:99999"
log_level = "loud"
log_format = "xml"
max_requests_per_conn = 0
shutdown_timeout = "500ms"
[lsm]
flush_interval = "soon"
memtable_mb = 0
compression = "lzma"
zstd_level = 23
[[exports]]
name = "a"
path = "/a"
store = "memory://"
compression = "snappy"
zstd_level = 5
squash = "some"
durability = "disk"
sync = "always"
anon_uid = -1
anon_gid = 4294967296
inode_cache_entries = 0
size_limit_gb = -1
snapshot_dir = "a/b"
`,
			wants: []want{
				{key: "server.listen", msg: "host:port"},
				{key: "server.metrics_listen", msg: "port must be"},
				{key: "server.log_level", msg: "debug, info, warn or error"},
				{key: "server.log_format", msg: "text or json"},
				{key: "server.max_requests_per_conn", msg: "out of range"},
				{key: "server.shutdown_timeout", msg: "500ms is out of range: from 1s to 1h"},
				{key: "lsm.flush_interval", msg: "not a duration"},
				{key: "lsm.memtable_mb", msg: "out of range"},
				{key: "lsm.compression", msg: "none, snappy or zstd"},
				{key: "lsm.zstd_level", msg: "23 is out of range: from 1 to 22"},
				{key: "exports[0].zstd_level", msg: `only applies with compression = "zstd" (this export's compression is "snappy")`},
				{key: "exports[0].squash", msg: "none, root or all"},
				{key: "exports[0].durability", msg: "bucket or local"},
				{key: "exports[0].sync", msg: "commit or strict"},
				{key: "exports[0].anon_uid", msg: "out of range"},
				{key: "exports[0].anon_gid", msg: "out of range"},
				{key: "exports[0].inode_cache_entries", msg: "0 is out of range: from 1 to"},
				{key: "exports[0].size_limit_gb", msg: "positive"},
				{key: "exports[0].snapshot_dir", msg: "one name"},
			},
		},
		{
			name: "size limit too large",
			toml: validBase + `
[[exports]]
name = "a"
path = "/a"
store = "memory://"
size_limit_gb = 1e10
`,
			wants: []want{{key: "exports[0].size_limit_gb", msg: "more than 1e+09 GB"}},
		},
		{
			name: "size limit under a byte",
			toml: validBase + `
[[exports]]
name = "a"
path = "/a"
store = "memory://"
size_limit_gb = 1e-12
`,
			wants: []want{{key: "exports[0].size_limit_gb", msg: "less than one byte"}},
		},
		{
			name: "bad root owner and mode",
			toml: validBase + `
[[exports]]
name = "a"
path = "/a"
store = "memory://a"
root_owner = "alice:staff"
root_mode = "4755"
[[exports]]
name = "b"
path = "/b"
store = "memory://b"
root_owner = "1000"
root_mode = "rwxr-xr-x"
[[exports]]
name = "c"
path = "/c"
store = "memory://c"
root_owner = "0:-1"
root_mode = "17777"
[[exports]]
name = "d"
path = "/d"
store = "memory://d"
root_owner = "0:4294967296"
root_mode = 755
`,
			wants: []want{
				{key: "exports[0].root_owner", msg: "names are not supported"},
				{key: "exports[0].root_mode", msg: "setgid (2000) and sticky (1000)"},
				{key: "exports[1].root_owner", msg: "not uid:gid"},
				{key: "exports[1].root_mode", msg: "not an octal mode"},
				{key: "exports[2].root_owner", msg: "not uid:gid"},
				{key: "exports[2].root_mode", msg: "only permission bits"},
				{key: "exports[3].root_owner", msg: "not uid:gid"},
				{key: "exports[3].root_mode", msg: "want a string"},
			},
		},
		{
			name:  "portmapper mode",
			toml:  validBase + "[server]\nportmapper = \"rpcbind\"\n" + oneExport,
			wants: []want{{key: "server.portmapper", msg: "auto, register, serve or off"}},
		},
		{
			name:  "portmapper_listen not host:port",
			toml:  validBase + "[server]\nportmapper_listen = \"111\"\n" + oneExport,
			wants: []want{{key: "server.portmapper_listen", msg: "host:port"}},
		},
		{
			name:  "portmapper_listen on the NFS address",
			toml:  validBase + "[server]\nlisten = \"127.0.0.1:2049\"\nportmapper = \"serve\"\nportmapper_listen = \"127.0.0.1:2049\"\n" + oneExport,
			wants: []want{{key: "server.portmapper_listen", msg: "an address of its own"}},
		},
		{
			name:  "portmapper_listen without a portmapper to serve",
			toml:  validBase + "[server]\nportmapper = \"register\"\nportmapper_listen = \"127.0.0.1:111\"\n" + oneExport,
			wants: []want{{key: "server.portmapper_listen", msg: "serves no portmapper"}},
		},
		{
			name: "encryption without a key, a key without encryption, two keys, a bad compression",
			toml: validBase + `
[[exports]]
name = "no-key"
path = "/a"
store = "memory://a"
encryption = true
[[exports]]
name = "file-only"
path = "/b"
store = "memory://b"
key_file = "k"
[[exports]]
name = "pass-only"
path = "/c"
store = "memory://c"
[[exports]]
name = "both"
path = "/d"
store = "memory://d"
encryption = true
key_file = "k"
compression = "lz4"
`,
			env: map[string]string{"ZEROFS_KEY_PASS_ONLY": "a passphrase of the third", "ZEROFS_KEY_BOTH": "a passphrase of the fourth"},
			wants: []want{
				{key: "exports[0].encryption", msg: "ZEROFS_KEY_NO_KEY"},
				{key: "exports[1].key_file", msg: "encryption is not on"},
				{key: "ZEROFS_KEY_PASS_ONLY", msg: "exports[2].encryption is not true", env: true},
				{key: "exports[3].key_file", msg: "both set"},
				{key: "exports[3].compression", msg: "use none, snappy or zstd"},
			},
		},
		{
			// Encryption goes with a local journal (it is sealed): the one
			// problem here is the squash.
			name: "encryption with a local journal",
			toml: validBase + `
[[exports]]
name = "a"
path = "/a"
store = "file:///srv/a"
encryption = true
key_file = "k"
durability = "local"
squash = "some"
`,
			files: map[string]string{"k": validKey},
			wants: []want{{key: "exports[0].squash", msg: "some"}},
		},
		{
			// Before, these passed and the export failed to open at
			// start (the passphrase's error not even in this form).
			name: "a passphrase too short; key files missing, of the wrong size, not hexadecimal",
			toml: validBase + `
[[exports]]
name = "short"
path = "/a"
store = "memory://a"
encryption = true
[[exports]]
name = "missing"
path = "/b"
store = "memory://b"
encryption = true
key_file = "missing.key"
[[exports]]
name = "wrong-size"
path = "/c"
store = "memory://c"
encryption = true
key_file = "keys/c.key"
[[exports]]
name = "not-hex"
path = "/d"
store = "memory://d"
encryption = true
key_file = "keys/d.key"
[[exports]]
name = "good"
path = "/e"
store = "memory://e"
encryption = true
key_file = "keys/e.key"
[[exports]]
name = "good-pass"
path = "/f"
store = "memory://f"
encryption = true
`,
			env: map[string]string{"ZEROFS_KEY_SHORT": "elevenchars", "ZEROFS_KEY_GOOD_PASS": "twelve chars"},
			files: map[string]string{
				"keys/c.key": strings.Repeat("ab", 31) + "\n",
				"keys/d.key": strings.Repeat("xy", 32),
				"keys/e.key": validKey,
			},
			wants: []want{
				{key: "ZEROFS_KEY_SHORT", msg: "has 11 characters; use at least 12", env: true},
				{key: "exports[1].key_file", msg: "missing.key: no such file"},
				{key: "exports[2].key_file", msg: "holds 63 bytes: want exactly 32 bytes, or 64 hexadecimal digits"},
				{key: "exports[3].key_file", msg: "holds 64 bytes: want exactly 32 bytes, or 64 hexadecimal digits"},
			},
		},
		{
			// Only where one of the two is encrypted: two exports in
			// the clear read no passphrase (see TestAcceptedEdgeCases).
			name: "export names that share a passphrase variable, one of them encrypted",
			toml: validBase + `
[[exports]]
name = "team-a"
path = "/a"
store = "memory://a"
encryption = true
key_file = "k"
[[exports]]
name = "team_a"
path = "/b"
store = "memory://b"
[[exports]]
name = "x-y_z"
path = "/c"
store = "memory://c"
[[exports]]
name = "x_y-z"
path = "/d"
store = "memory://d"
[[exports]]
name = "x-y-z"
path = "/e"
store = "memory://e"
encryption = true
key_file = "k"
[[exports]]
name = "p-q"
path = "/f"
store = "memory://f"
encryption = true
key_file = "k"
[[exports]]
name = "p_q"
path = "/g"
store = "memory://g"
encryption = true
key_file = "k"
`,
			files: map[string]string{"k": validKey},
			wants: []want{
				{key: "exports[1].name", msg: `"team_a" and "team-a" (exports[0]) would share the passphrase variable ZEROFS_KEY_TEAM_A`},
				{key: "exports[4].name", msg: `"x-y-z" and "x-y_z" (exports[2]) would share the passphrase variable ZEROFS_KEY_X_Y_Z`},
				{key: "exports[6].name", msg: `"p_q" and "p-q" (exports[5]) would share the passphrase variable ZEROFS_KEY_P_Q`},
			},
		},
		{
			name:  "metrics on the NFS address",
			toml:  validBase + "[server]\nlisten = \"127.0.0.1:2049\"\nmetrics_listen = \"127.0.0.1:2049\"\n" + oneExport,
			wants: []want{{key: "server.metrics_listen", msg: "same address"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text, problems := loadProblemsWith(t, tc.toml, tc.env, tc.files)
			for _, w := range tc.wants {
				p, ok := findProblem(problems, w.key, w.msg)
				if !ok {
					t.Errorf("no problem %s: ...%s...; got:\n%s", w.key, w.msg, text)
					continue
				}
				if got := p.Source == SourceEnvironment; got != w.env {
					t.Errorf("%s: from environment = %v, want %v", w.key, got, w.env)
				}
			}
			if len(problems) != len(tc.wants) {
				t.Errorf("got %d problems, want %d:\n%s", len(problems), len(tc.wants), text)
			}
		})
	}
}

// TestKeysCheckedAsAsked: the key of an encrypted export is read only as
// the LoadOptions ask. With y's key file missing and z's passphrase too
// short, a load for export x (or with no key check) succeeds; one that
// checks y's or z's key, or every key, refuses it, naming the key.
func TestKeysCheckedAsAsked(t *testing.T) {
	const toml = validBase + `
[[exports]]
name = "x"
path = "/x"
store = "memory://x"
[[exports]]
name = "y"
path = "/y"
store = "memory://y"
encryption = true
key_file = "y.key"
[[exports]]
name = "z"
path = "/z"
store = "memory://z"
encryption = true
`
	env := envOf(map[string]string{"ZEROFS_KEY_Z": "elevenchars"})
	path := writeFile(t, toml)
	yKey := want{key: "exports[1].key_file", msg: "reading key file: open " + filepath.Join(filepath.Dir(path), "y.key")}
	zPass := want{key: "ZEROFS_KEY_Z", msg: "has 11 characters; use at least 12", env: true}
	for _, tc := range []struct {
		name  string
		opts  []LoadOption
		wants []want // none: loads
	}{
		{"no key check", nil, nil},
		{"x's key", []LoadOption{CheckKeyOf("x")}, nil},
		{"y's key", []LoadOption{CheckKeyOf("y")}, []want{yKey}},
		{"z's key", []LoadOption{CheckKeyOf("z")}, []want{zPass}},
		{"x's and z's keys", []LoadOption{CheckKeyOf("x"), CheckKeyOf("z")}, []want{zPass}},
		{"every key", []LoadOption{CheckKeys()}, []want{yKey, zPass}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(path, env, tc.opts...)
			if len(tc.wants) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if len(cfg.Exports) != 3 {
					t.Fatalf("%d exports, want 3", len(cfg.Exports))
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Load error is %T (%v), want *ValidationError", err, err)
			}
			for _, w := range tc.wants {
				if _, ok := findProblem(ve.Problems, w.key, w.msg); !ok {
					t.Errorf("no problem %s: %q in:\n%v", w.key, w.msg, err)
				}
			}
			if len(ve.Problems) != len(tc.wants) {
				t.Errorf("got %d problems, want %d:\n%v", len(ve.Problems), len(tc.wants), err)
			}
		})
	}
}

func TestSyntaxErrorHasPosition(t *testing.T) {
	text, problems := loadProblems(t, "[server]\nlisten = \"x\"\nmax_connections = 12x\n", nil)
	if len(problems) != 1 {
		t.Fatalf("got %d problems, want 1:\n%s", len(problems), text)
	}
	p := problems[0]
	if p.Line != 3 || p.Column == 0 {
		t.Errorf("position = %d:%d, want line 3 and a column", p.Line, p.Column)
	}
	if !strings.Contains(text, ":3:") || !strings.Contains(p.Msg, "TOML syntax") {
		t.Errorf("error %q does not say TOML syntax at line 3", text)
	}
}

func TestDuplicateKeyIsRefused(t *testing.T) {
	text, _ := loadProblems(t, "[cache]\ndir = \"a\"\ndir = \"b\"\n", nil)
	if !strings.Contains(text, "already defined") {
		t.Errorf("error %q does not mention the duplicate key", text)
	}
}

func TestAcceptedEdgeCases(t *testing.T) {
	cases := []struct {
		name string
		toml string
		env  map[string]string
	}{
		{"prefixes that only share a string prefix", validBase + `
[[exports]]
name = "a"
path = "/a"
store = "s3://shared/team"
[[exports]]
name = "b"
path = "/b"
store = "s3://shared/team-b"
`, nil},
		{"same prefix on two buckets", validBase + `
[[exports]]
name = "a"
path = "/a"
store = "s3://one/p"
[[exports]]
name = "b"
path = "/b"
store = "s3://two/p"
`, nil},
		{"sibling directories", validBase + `
[[exports]]
name = "a"
path = "/a"
store = "file://d/a"
[[exports]]
name = "ab"
path = "/ab"
store = "file://d/ab"
`, nil},
		{"http endpoint allowed by environment", validBase + "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"s3://bk1/a\"\n",
			map[string]string{EnvEndpoint: "http://127.0.0.1:7070", EnvAllowHTTP: "1"}},
		{"http endpoint allowed by the export", validBase + "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"s3://bk1/a\"\n[exports.s3]\nendpoint = \"http://127.0.0.1:7070\"\nallow_http = true\n",
			nil},
		{"http endpoint in [s3] unused by file exports", validBase + "[s3]\nendpoint = \"http://127.0.0.1:7070\"\n" + oneExport, nil},
		{"environment endpoint of another form unused by file exports", validBase + oneExport, map[string]string{EnvEndpoint: "ftp://h"}},
		// Neither reads a passphrase, so they cannot share one.
		{"unencrypted export names that differ only in '-' and '_'", validBase + `
[[exports]]
name = "a-b"
path = "/a"
store = "memory://a"
[[exports]]
name = "a_b"
path = "/b"
store = "memory://b"
[[exports]]
name = "x-y_z"
path = "/c"
store = "memory://c"
[[exports]]
name = "x_y-z"
path = "/d"
store = "memory://d"
[[exports]]
name = "x_y_z"
path = "/e"
store = "memory://e"
`, nil},
		{"root mount path", validBase + "[[exports]]\nname = \"root\"\npath = \"/\"\nstore = \"memory://\"\n", nil},
		{"fractional cache size from env, dir from env", oneExport, map[string]string{EnvCacheDir: "/var/cache/z", EnvCacheSizeGB: "0.5"}},
		{"empty env values count as unset", validBase + oneExport, map[string]string{EnvCacheDir: "", EnvAllowHTTP: "", EnvEndpoint: ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustLoad(t, tc.toml, tc.env)
		})
	}
}

func TestUnknownKeySuggestions(t *testing.T) {
	_, problems := loadProblems(t, validBase+`
[server]
listn = "x"
[[exports]]
name = "a"
path = "/a"
store = "s3://bkt/p"
raed_only = true
squahs = "all"
completely_different = 1
[exports.s3]
regoin = "x"
`, nil)
	for key, want := range map[string]string{
		"server.listn":                    "did you mean listen?",
		"exports[0].raed_only":            "did you mean read_only?",
		"exports[0].squahs":               "did you mean squash?",
		"exports[0].s3.regoin":            "did you mean region?",
		"exports[0].completely_different": "see docs/config.md",
	} {
		if _, ok := findProblem(problems, key, want); !ok {
			t.Errorf("no problem %s: %s; got %+v", key, want, problems)
		}
	}
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"listen", "listen", 0},
		{"raed_only", "read_only", 1}, {"listn", "listen", 1}, {"kitten", "sitting", 3},
	}
	for _, tc := range cases {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestProblemsOrderedByKey(t *testing.T) {
	var b strings.Builder
	b.WriteString(validBase)
	for i := range 12 {
		fmt.Fprintf(&b, "[[exports]]\nname = \"e%d\"\npath = \"/e%d\"\nstore = \"s3://bkt/e%d\"\nsquash = \"bad\"\n", i, i, i)
	}
	_, problems := loadProblems(t, b.String(), map[string]string{EnvAccessKeyID: "ID", EnvAllowHTTP: "perhaps"})
	var keys []string
	for _, p := range problems {
		keys = append(keys, p.Key)
	}
	var want []string
	for i := range 12 {
		want = append(want, fmt.Sprintf("exports[%d].squash", i))
	}
	// The missing secret is reported once, not once per export; the
	// environment's problems come last.
	want = append(want, "s3.secret_access_key", EnvAllowHTTP)
	if !slices.Equal(keys, want) {
		t.Errorf("keys in order\n%q\nwant\n%q", keys, want)
	}
}

func TestBadDefaultBucketFromEnvironment(t *testing.T) {
	_, problems := loadProblems(t, validBase+`
[[exports]]
name = "a"
path = "/a"
store = "s3:///a"
[[exports]]
name = "b"
path = "/b"
store = "s3:///b"
[[exports]]
name = "c"
path = "/c"
store = "s3://explicit/c"
`, map[string]string{EnvBucket: "No_Such"})
	if len(problems) != 1 || problems[0].Key != EnvBucket || problems[0].Source != SourceEnvironment {
		t.Errorf("problems = %+v, want one about %s", problems, EnvBucket)
	}
}

// TestEndpointCredentialsRefused: an endpoint with credentials in it is
// refused wherever it comes from, even when no export uses S3
// (check-config prints the endpoint), and the error names where it came
// from without repeating it.
func TestEndpointCredentialsRefused(t *testing.T) {
	const secret = "endpoint-secret-9f3c"
	s3Export := "[[exports]]\nname = \"b\"\npath = \"/b\"\nstore = \"s3://bk1/b\"\n"
	cases := []struct {
		name string
		toml string
		env  map[string]string
		want want
	}{
		{"environment, no S3 export", validBase + oneExport,
			map[string]string{EnvEndpoint: "https://KEY:" + secret + "@h.example"},
			want{key: EnvEndpoint, msg: "credentials do not belong in the endpoint URL", env: true}},
		{"environment, an S3 export", validBase + oneExport + s3Export,
			map[string]string{EnvEndpoint: "https://KEY:" + secret + "@h.example"},
			want{key: EnvEndpoint, msg: "credentials do not belong in the endpoint URL", env: true}},
		{"environment, user only", validBase + oneExport,
			map[string]string{EnvEndpoint: "https://" + secret + "@h.example"},
			want{key: EnvEndpoint, msg: "credentials do not belong in the endpoint URL", env: true}},
		{"environment, not a URL, with credentials", validBase + oneExport,
			map[string]string{EnvEndpoint: "https://KEY:" + secret + "/x@h.example"},
			want{key: EnvEndpoint, msg: "credentials do not belong in the endpoint URL", env: true}},
		{"environment, a numeric secret with a slash", validBase + oneExport,
			map[string]string{EnvEndpoint: "https://KEY:1234/" + secret + "@h.example"},
			want{key: EnvEndpoint, msg: "credentials do not belong in the endpoint URL", env: true}},
		{"file, not a URL, with credentials", validBase + "[s3]\nendpoint = \"https://KEY:" + secret + "/x@h.example\"\n" + oneExport, nil,
			want{key: "s3.endpoint", msg: "credentials do not belong in the endpoint URL"}},
		{"file, no S3 export", validBase + "[s3]\nendpoint = \"https://KEY:" + secret + "@h.example\"\n" + oneExport, nil,
			want{key: "s3.endpoint", msg: "credentials do not belong in the endpoint URL"}},
		{"export", validBase + oneExport + s3Export + "[exports.s3]\nendpoint = \"https://KEY:" + secret + "@h.example\"\n", nil,
			want{key: "exports[1].s3.endpoint", msg: "credentials do not belong in the endpoint URL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text, problems := loadProblems(t, tc.toml, tc.env)
			if len(problems) != 1 {
				t.Fatalf("problems:\n%s\nwant one, about %s", text, tc.want.key)
			}
			p := problems[0]
			if p.Key != tc.want.key || !strings.Contains(p.Msg, tc.want.msg) || (p.Source == SourceEnvironment) != tc.want.env {
				t.Errorf("problem %q, want %s: ...%s... (environment: %v)", p, tc.want.key, tc.want.msg, tc.want.env)
			}
			if strings.Contains(text, secret) {
				t.Errorf("the secret appears in:\n%s", text)
			}
		})
	}
}
