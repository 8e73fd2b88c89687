package cicheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// profile is a -coverpkg profile of the root package (50%) and handlers
// (80%).
const profile = `mode: atomic
github.com/authv2/authv2/a.go:1.1,2.2 10 1
github.com/authv2/authv2/a.go:3.1,4.2 10 0
github.com/authv2/authv2/handlers/h.go:1.1,2.2 8 1
github.com/authv2/authv2/handlers/h.go:3.1,4.2 2 0
`

// TestCoverageGate runs .ci/coverage on profile with a floor of 40%: a
// gate that checks nothing (a package not in the profile, a floor that is
// no number, a package listed twice with two floors) must fail, not pass.
func TestCoverageGate(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(t.TempDir(), "cover.out")
	if err := os.WriteFile(prof, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		gated []string
		pass  bool
	}{
		{[]string{".", "handlers"}, true},
		{[]string{".", "handlers=80"}, true},
		{[]string{".", "handlers=80.5"}, false},
		{[]string{".=60", "handlers"}, false},
		{[]string{".", "mfa/webauthn=85"}, false}, // not in the profile
		{[]string{"./handlers"}, false},           // misspelt: not in the profile
		{[]string{"handlers="}, false},
		{[]string{"handlers=85%"}, false},
		{[]string{"handlers=101"}, false},
		{[]string{"handlers=85", "handlers"}, false}, // which floor holds?
		{[]string{".", "."}, false},
	} {
		cmd := exec.Command("bash", append([]string{".ci/coverage", prof, "40"}, c.gated...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if _, failed := err.(*exec.ExitError); err != nil && !failed {
			t.Fatalf("%v: %v", c.gated, err)
		}
		if passed := err == nil; passed != c.pass {
			t.Errorf("%v: passed %v, want %v\n%s", c.gated, passed, c.pass, out)
		}
	}
}
