package config

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// SourceEnvironment is the Problem.Source of a problem with an environment variable.
const SourceEnvironment = "environment"

// ErrInvalid is matched (errors.Is) by every *ValidationError, for callers that
// only need to know the configuration was refused.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Source is the config file's path (as given to Load), or
	// SourceEnvironment for an environment variable.
	Source string
	// Line and Column locate a syntax error in the file (1-based); 0 when unknown.
	Line, Column int
	// Key is the full dotted key ("exports[1].store", "server.listen") or the
	// environment variable's name ("AWS_ALLOW_HTTP"); empty for a syntax error.
	Key string
	// Msg says what is wrong and, where it helps, what to do about it.
	Msg string
}

// String renders the problem as "SOURCE[:LINE:COL]: KEY: MSG".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Source)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, ":%d", p.Column)
		}
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ValidationError lists every problem found in a configuration; Load returns
// it (as error) whenever the configuration is refused after the file was read.
type ValidationError struct {
	Problems []Problem
}

// Error is one line per problem, each "SOURCE: KEY: message".
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// problems collects Problems while a configuration is checked.
type problems struct {
	file string // Source for problems in the file
	list []Problem
	// secrets are values that must never be shown; they are replaced by "***"
	// in every message, as a last line of defence.
	secrets []string
	// bad are keys that already have a problem (a wrong type, say): later
	// rules stay silent about them, and about the keys inside them,
	// instead of piling on.
	bad map[string]bool
}

// isBad reports whether key, or a table or array that holds it
// ("exports[0]" for "exports[0].name"), is marked bad.
func (ps *problems) isBad(key string) bool {
	if len(ps.bad) == 0 {
		return false
	}
	for i := len(key); i > 0; i-- {
		if (i == len(key) || key[i] == '.' || key[i] == '[') && ps.bad[key[:i]] {
			return true
		}
	}
	return false
}

func (ps *problems) markBad(key string) {
	if ps.bad == nil {
		ps.bad = make(map[string]bool)
	}
	ps.bad[key] = true
}

func (ps *problems) add(key, format string, args ...any) {
	if ps.isBad(key) {
		return
	}
	ps.list = append(ps.list, Problem{Source: ps.file, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) addEnv(name, format string, args ...any) {
	if ps.isBad(name) {
		return
	}
	ps.list = append(ps.list, Problem{Source: SourceEnvironment, Key: name, Msg: fmt.Sprintf(format, args...)})
}

func (ps *problems) addAt(line, col int, msg string) {
	ps.list = append(ps.list, Problem{Source: ps.file, Line: line, Column: col, Msg: msg})
}

// err returns nil when nothing was found, else a *ValidationError with the
// problems in the order found, duplicates dropped and secrets scrubbed.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	seen := make(map[Problem]bool, len(ps.list))
	out := make([]Problem, 0, len(ps.list))
	for _, p := range ps.list {
		p.Key = scrub(p.Key, ps.secrets)
		p.Msg = scrub(p.Msg, ps.secrets)
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	// File problems first, ordered by key with indices compared as numbers
	// (so one export's problems read together), then the environment's.
	slices.SortStableFunc(out, func(a, b Problem) int {
		if c := cmp.Compare(boolRank(a.Source == SourceEnvironment), boolRank(b.Source == SourceEnvironment)); c != 0 {
			return c
		}
		return cmp.Compare(sortableKey(a.Key), sortableKey(b.Key))
	})
	return &ValidationError{Problems: out}
}

// scrub replaces every occurrence of a secret in s by "***". No message is
// built from a secret in the first place; this only guards against a value
// echoed by a lower layer. Secrets shorter than 4 bytes are left alone (they
// would mangle ordinary words).
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, redactedText)
		}
	}
	return s
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

var keyIndexRE = regexp.MustCompile(`\[(\d+)\]`)

// sortableKey zero-pads the indices of a key so that exports[2] sorts before
// exports[10].
func sortableKey(key string) string {
	return keyIndexRE.ReplaceAllStringFunc(key, func(m string) string {
		n, err := strconv.Atoi(m[1 : len(m)-1])
		if err != nil {
			return m
		}
		return fmt.Sprintf("[%010d]", n)
	})
}
