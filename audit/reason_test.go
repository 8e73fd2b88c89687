package audit_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/authv2/authv2/audit"
)

// TestIsThrottled: only the throttles' reasons count as throttled in the
// login metrics; every other failure is a checked attempt.
func TestIsThrottled(t *testing.T) {
	for reason, want := range map[string]bool{
		audit.ReasonIPThrottled:             true,
		audit.ReasonAccountThrottled:        true,
		audit.ReasonUnknownUserThrottled:    true,
		audit.ReasonUnknownUser:             false,
		audit.ReasonBadPassword:             false,
		audit.ReasonStatusPrefix + "locked": false,
		"":                                  false,
	} {
		assert.Equal(t, want, audit.IsThrottled(reason), "%q", reason)
	}
}
