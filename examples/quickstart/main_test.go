package main

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQuickstart runs the walkthrough so CI notices when it stops behaving.
func TestQuickstart(t *testing.T) {
	if err := run(t.Context()); err != nil {
		t.Fatal(err)
	}
}
