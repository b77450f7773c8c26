package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	fileSecret   = "FileSecretValue123"
	exportSecret = "ExportSecretValue456"
	envSecret    = "EnvSecretValue789"
)

func TestSecretPrintsRedacted(t *testing.T) {
	s := Secret("hunter2-secret")
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "key", s)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "key", s)
	js, err := json.Marshal(struct{ K Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		s.String(), fmt.Sprint(s), fmt.Sprintf("%s %v %+v %#v %q %x %X %d %10s", s, s, s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", struct{ K Secret }{s}, &struct{ K Secret }{s}, []Secret{s}),
		logged.String(), string(js),
	}
	for _, out := range outputs {
		if strings.Contains(out, "hunter2") {
			t.Errorf("secret leaked: %s", out)
		}
	}
	if !strings.Contains(fmt.Sprint(s), redactedText) {
		t.Errorf("%q does not show %q", fmt.Sprint(s), redactedText)
	}
	if s.Reveal() != "hunter2-secret" || !s.IsSet() || Secret("").IsSet() || Secret("").String() != "" {
		t.Errorf("Reveal/IsSet/String of empty are wrong")
	}
}

// TestSecretsNeverInErrorsOrOutput loads configurations carrying secrets in
// the file, an export and the environment, broken in many ways, and checks
// that no error and no rendering shows a secret.
func TestSecretsNeverInErrorsOrOutput(t *testing.T) {
	secrets := []string{fileSecret, exportSecret, envSecret}
	env := map[string]string{EnvSecretAccessKey: envSecret, EnvAccessKeyID: "ENVID"}
	cases := []struct{ name, toml string }{
		{"syntax error on the secret's line", "[s3]\nsecret_access_key = " + fileSecret + "\n"},
		{"unterminated secret", "[s3]\nsecret_access_key = \"" + fileSecret + "\n"},
		{"secret of the wrong type", "[s3]\nsecret_access_key = [\"" + fileSecret + "\"]\n" + validBase + oneExport},
		{"secret in a URL", validBase + "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"s3://id:" + exportSecret + "@bucket/p\"\n"},
		{"secret in an endpoint", validBase + "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"s3://bkt/p\"\n[exports.s3]\nendpoint = \"https://id:" + exportSecret + "@h.example\"\n"},
		{"secret pasted into another key", validBase + oneExport + "[server]\nlisten = \"" + fileSecret + "\"\n[s3]\nsecret_access_key = \"" + fileSecret + "\"\n"},
		{"environment secret pasted into a key", validBase + oneExport + "[server]\nlog_level = \"" + envSecret + "\"\n"},
		{"secret given as a key name", validBase + oneExport + "[s3]\n" + fileSecret + " = 1\n"},
		{"valid secrets and other errors", `
[s3]
secret_access_key = "` + fileSecret + `"
access_key_id = "FILEID"
endpoint = "http://127.0.0.1:1"
[[exports]]
name = "a"
path = "/a"
store = "s3://bkt/p"
[exports.s3]
secret_access_key = "` + exportSecret + `"
region = 5
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text, _ := loadProblems(t, tc.toml, env)
			for _, s := range secrets {
				if strings.Contains(text, s) {
					t.Errorf("secret %q appears in:\n%s", s, text)
				}
			}
		})
	}

	cfg := mustLoad(t, validBase+`
[s3]
secret_access_key = "`+fileSecret+`"
access_key_id = "FILEID"
[[exports]]
name = "a"
path = "/a"
store = "s3://bkt/p"
[exports.s3]
secret_access_key = "`+exportSecret+`"
[[exports]]
name = "b"
path = "/b"
store = "s3://bkt/q"
`, env)
	if cfg.S3.SecretAccessKey.Reveal() != envSecret || cfg.Exports[0].S3.SecretAccessKey.Reveal() != exportSecret ||
		cfg.Exports[1].S3.SecretAccessKey.Reveal() != envSecret {
		t.Fatalf("secrets not loaded as expected (environment over [s3], export over both)")
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "config", cfg, "export", cfg.Exports[0])
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{cfg.String(), fmt.Sprintf("%v %+v %#v", cfg, *cfg, cfg), logged.String(), string(js)} {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("secret %q appears in:\n%s", s, out)
			}
		}
	}
	if !strings.Contains(cfg.String(), `secret_access_key = "***"`) {
		t.Errorf("String() does not show the redacted secret:\n%s", cfg)
	}
}

// TestSessionTokenFollowsEnvironmentKeys checks that AWS_SESSION_TOKEN
// reaches an export with the keys of the environment (temporary credentials
// need all three), and only those: keys from the file or an export's own
// table were not issued with it.
func TestSessionTokenFollowsEnvironmentKeys(t *testing.T) {
	const token = "SessionTokenValue042"
	envKeys := map[string]string{EnvAccessKeyID: "ENVID", EnvSecretAccessKey: envSecret, EnvSessionToken: token}
	tokenOnly := map[string]string{EnvSessionToken: token}
	export := func(name, extra string) string {
		return "[[exports]]\nname = \"" + name + "\"\npath = \"/" + name + "\"\nstore = \"s3://bkt/" + name + "\"\n" + extra
	}
	ownKeys := "[exports.s3]\naccess_key_id = \"OWNID\"\nsecret_access_key = \"" + exportSecret + "\"\n"
	fileKeys := "[s3]\naccess_key_id = \"FILEID\"\nsecret_access_key = \"" + fileSecret + "\"\n"
	tests := []struct {
		name      string
		toml      string
		env       map[string]string
		wantS3    string // cfg.S3's token
		wantByExp []string
	}{
		{"environment keys", validBase + export("a", ""), envKeys, token, []string{token}},
		{"environment keys over the file's", validBase + fileKeys + export("a", ""), envKeys, token, []string{token}},
		{"an export's own keys drop it", validBase + export("a", ownKeys) + export("b", ""), envKeys, token, []string{"", token}},
		{"keys from the file", validBase + fileKeys + export("a", ""), tokenOnly, "", []string{""}},
		{"no keys: the default chain", validBase + export("a", ""), tokenOnly, "", []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustLoad(t, tc.toml, tc.env)
			if got := cfg.S3.SessionToken.Reveal(); got != tc.wantS3 {
				t.Errorf("s3 session token = %q, want %q", got, tc.wantS3)
			}
			for i, want := range tc.wantByExp {
				if got := cfg.Exports[i].S3.SessionToken.Reveal(); got != want {
					t.Errorf("exports[%d] session token = %q, want %q", i, got, want)
				}
			}
			var logged bytes.Buffer
			slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "config", cfg)
			for _, out := range []string{cfg.String(), fmt.Sprintf("%v %+v %#v", cfg, *cfg, cfg), logged.String()} {
				if strings.Contains(out, token) {
					t.Errorf("the session token appears in:\n%s", out)
				}
			}
			if (tc.wantS3 != "") != strings.Contains(cfg.String(), "session token from "+EnvSessionToken) {
				t.Errorf("String() should say where the session token comes from exactly when one is used:\n%s", cfg)
			}
		})
	}
	// A broken config with the token in the environment never shows it.
	text, _ := loadProblems(t, validBase+oneExport+"[server]\nlog_level = \""+token+"\"\n", envKeys)
	if strings.Contains(text, token) {
		t.Errorf("the session token appears in:\n%s", text)
	}
}
