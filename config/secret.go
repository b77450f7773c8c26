package config

import (
	"fmt"
	"log/slog"
)

// redactedText is what a non-empty Secret prints as.
const redactedText = "***"

// Secret holds a credential (an S3 secret access key). Every way of printing
// it — fmt verbs, slog, JSON, encoding.TextMarshaler — shows "***" (or ""
// when it is empty), so a Config can be logged as a whole. Reveal returns the
// value for the code that must use it.
type Secret string

// Reveal returns the secret's value. Call it only where the value is handed to
// the code that needs it (an S3 client), never for printing.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s != "" }

// String returns "***" for a non-empty secret and "" for an empty one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redactedText
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format makes every fmt verb (%s, %v, %q, %x, %d...) print the redacted form.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.String())
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.String())
	default:
		fmt.Fprint(f, s.String())
	}
}

// LogValue makes slog print the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText makes encoders (JSON, TOML) write the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
