package config

import (
	"reflect"
	"regexp"
	"strings"
)

var indexRE = regexp.MustCompile(`\[\d+\]`)

// knownKeys lists the keys the table at tablePath takes ("" for the top
// level, "exports[3].s3" for an export's s3 table), read from the file
// schema's mapstructure tags.
func knownKeys(tablePath string) []string {
	t := reflect.TypeFor[fileConfig]()
	tablePath = indexRE.ReplaceAllString(tablePath, "")
	if tablePath != "" {
		for seg := range strings.SplitSeq(tablePath, ".") {
			f, ok := fieldByTag(t, seg)
			if !ok {
				return nil
			}
			t = f.Type
			for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
				t = t.Elem()
			}
			if t.Kind() != reflect.Struct {
				return nil
			}
		}
	}
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		keys = append(keys, t.Field(i).Tag.Get("mapstructure"))
	}
	return keys
}

func fieldByTag(t reflect.Type, tag string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); f.Tag.Get("mapstructure") == tag {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// suggestKey returns the known key closest to an unknown one, if it is close
// enough to be a typo (at most a third of its letters differ), else "".
func suggestKey(tablePath, unknown string) string {
	best, bestDist := "", len(unknown)/3+1
	for _, k := range knownKeys(tablePath) {
		if d := editDistance(unknown, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (optimal string alignment)
// between two short keys, in bytes.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
