package permission_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The engine runs a clock goroutine while checks use it; Close must stop it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
