package authv2_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/authv2/authv2/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, redistest.LeakOptions()...) }

const goodPassword = "correct horse battery staple"
