package pgtest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// fakeTB records Skip and Fatal instead of ending the goroutine.
type fakeTB struct {
	testing.TB
	skipped, fatal string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Skip(args ...any)  { f.skipped = fmt.Sprint(args...) }
func (f *fakeTB) Fatal(args ...any) { f.fatal = fmt.Sprint(args...) }

func TestURLSkipsWithoutDatabase(t *testing.T) {
	t.Setenv(EnvURL, "")
	t.Setenv("CI", "")
	f := &fakeTB{TB: t}
	URL(f)
	assert.Contains(t, f.skipped, EnvURL, "the skip message names the variable")
	assert.Empty(t, f.fatal)
}

func TestURLFailsOnCIWithoutDatabase(t *testing.T) {
	t.Setenv(EnvURL, "")
	t.Setenv("CI", "true")
	f := &fakeTB{TB: t}
	URL(f)
	assert.Contains(t, f.fatal, EnvURL)
	assert.Empty(t, f.skipped)
}

func TestURLReturnsTheVariable(t *testing.T) {
	t.Setenv(EnvURL, "postgres://example/db")
	f := &fakeTB{TB: t}
	assert.Equal(t, "postgres://example/db", URL(f))
	assert.Empty(t, f.skipped+f.fatal)
}
