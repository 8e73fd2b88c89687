package memory_test

import (
	"testing"

	"github.com/authv2/authv2/apikey"

	"go.uber.org/goleak"

	"github.com/authv2/authv2/mfa"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/store/storetest"
	"github.com/authv2/authv2/user"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	t.Run("User", func(t *testing.T) {
		storetest.RunUserStore(t, func(*testing.T) user.Store { return memory.NewUserStore() })
	})
	t.Run("Session", func(t *testing.T) {
		storetest.RunSessionStore(t, func(*testing.T) session.Store { return memory.NewSessionStore() })
	})
	t.Run("RateLimiter", func(t *testing.T) {
		storetest.RunRateLimiter(t, func(*testing.T) user.RateLimiter { return memory.NewRateLimiter() })
	})
	t.Run("Permission", func(t *testing.T) {
		storetest.RunPermissionStore(t, func(*testing.T) permission.Store { return memory.NewPermissionStore() })
	})
}

func TestConformanceAPIKey(t *testing.T) {
	storetest.RunAPIKeyStore(t, func(*testing.T) apikey.Store { return memory.NewAPIKeyStore() })
}

func TestConformanceImpersonation(t *testing.T) {
	storetest.RunImpersonationStore(t, func(*testing.T) session.ImpersonationStore { return memory.NewImpersonationStore() })
}

func TestConformanceMFA(t *testing.T) {
	t.Run("MFA", func(t *testing.T) {
		storetest.RunMFAStore(t, func(*testing.T) mfa.Store { return memory.NewMFAStore() })
	})
	t.Run("Challenge", func(t *testing.T) {
		storetest.RunChallengeStore(t, func(*testing.T) mfa.ChallengeStore { return memory.NewChallengeStore() })
	})
	t.Run("ReplayGuard", func(t *testing.T) {
		storetest.RunReplayGuard(t, func(*testing.T) mfa.ReplayGuard { return memory.NewReplayGuard() })
	})
}
