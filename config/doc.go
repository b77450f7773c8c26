// Package config loads zerofsd's configuration: a TOML file read with viper,
// overridden by environment variables, with defaults filled in and every
// rule checked before anything starts.
//
// # Entry point
//
//	cfg, err := config.Load("zerofs.toml", os.LookupEnv)
//
// Load reads the file (none when the path is ""), applies the environment,
// fills in defaults and validates. Encrypted exports' keys are checked
// only when asked: config.Load(path, os.LookupEnv, config.CheckKeys()) for
// every export, as the daemon loads at start and reload, or
// config.CheckKeyOf(name) for one. The full reference of keys, types,
// defaults and environment variables is docs/config.md.
//
// # Precedence
//
// For the S3 settings, from weakest to strongest: the built-in default, the
// file's [s3] table, the environment (AWS_ENDPOINT_URL, AWS_S3_BUCKET,
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION,
// AWS_ALLOW_HTTP), then an export's own [exports.s3] table, which is the most
// specific. AWS_SESSION_TOKEN (temporary credentials) has no key in the file
// and goes only with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: an export
// whose keys come from the file, [s3] or its own, gets no session token. For the cache, SLATEDB_CACHE_DIR and SLATEDB_CACHE_SIZE_GB win
// over [cache]. An encrypted export's passphrase comes only from the
// environment, from ZEROFS_KEY_<NAME> (PassphraseEnv). An environment
// variable set to the empty string counts as unset.
//
// # Paths
//
// Relative directories in the file (cache.dir, cache.journal_dir, file://
// stores) are relative to the directory of the config file, so a file works
// the same from any working directory. A relative SLATEDB_CACHE_DIR is relative to the working
// directory, like any path given on the command line.
//
// # Guarantees
//
//   - Every problem is reported at once: Load returns a *ValidationError whose
//     Error() has one line per problem, "FILE: KEY: message" (or
//     "environment: VARIABLE: message"), with the full dotted key such as
//     exports[1].store or exports[0].raed_only. A TOML syntax error is reported
//     alone, as FILE:LINE:COL.
//   - Unknown keys are refused, each named with its full path.
//   - Two exports never share storage: no two on the same bucket (whatever
//     their endpoints: a store is known by its bucket and prefix) where one
//     prefix equals or contains the other, no local directory inside
//     another's or overlapping the cache directory or the journal directory.
//   - Secrets never appear in an error or in the printed Config: the secret
//     access key and export passphrases are Secrets, which print as "***"
//     through fmt, slog, JSON and TOML; Config.String renders the effective
//     configuration as TOML with secrets redacted (a passphrase appears only
//     as a comment naming its variable). An S3 endpoint with credentials in
//     it is refused, from the file or AWS_ENDPOINT_URL, even when no export
//     uses S3.
//   - No package-level mutable state: each Load uses its own viper instance.
//
// # What it does not do
//
// It opens nothing: it does not create directories, contact S3 or bind
// addresses; it only checks the forms of values, and with CheckKeys (or
// CheckKeyOf for one export) reads encrypted exports' key files. It does not watch the file:
// reloading (SIGHUP) is calling Load again and comparing.
package config
