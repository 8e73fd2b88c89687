package memory_test

import (
	"testing"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/store/storetest"
)

func TestAuditConformance(t *testing.T) {
	storetest.RunAuditStore(t, func(*testing.T) audit.Store { return memory.NewAuditStore() })
}
