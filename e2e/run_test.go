package e2e

import (
	"os/exec"
	"testing"
)

// runBinary runs zerofsd with args and returns its combined output.
func runBinary(t testing.TB, args ...string) (string, error) {
	t.Helper()
	out, err := exec.CommandContext(stepContext(t), zerofsdBinary, args...).CombinedOutput()
	return string(out), err
}
