package totp_test

import (
	"syscall"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/authv2/authv2/internal/mfatest"
)

// BenchmarkTOTPCheck measures verifying a code without the store: opening
// the sealed secret (AES-256-GCM) and computing HOTP for the steps tried.
// "current" matches the current step (the usual case); "wrong" tries all
// three steps of the drift window and fails (the worst case). Besides
// wall time it reports the process's CPU time per operation (cpu-ns/op),
// which a machine shared with other work inflates far less.
func BenchmarkTOTPCheck(b *testing.B) {
	s := newStores()
	r := mfatest.Ring(b, "k1")
	tp := newTOTP(b, s, r)
	key, err := pqtotp.Generate(pqtotp.GenerateOpts{Issuer: "x", AccountName: "y"})
	if err != nil {
		b.Fatal(err)
	}
	c := sealed(r, "u1", "c1", key.Secret())
	now := time.Unix(1_800_000_010, 0)
	current, err := pqtotp.GenerateCode(key.Secret(), now)
	if err != nil {
		b.Fatal(err)
	}
	wrong := "000000"
	if wrong == current {
		wrong = "000001"
	}
	b.Run("current", func(b *testing.B) {
		cpu := cpuTime(b)
		for b.Loop() {
			if _, err := tp.Check(c, current, now); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
	b.Run("wrong", func(b *testing.B) {
		cpu := cpuTime(b)
		for b.Loop() {
			if _, err := tp.Check(c, wrong, now); err == nil {
				b.Fatal("accepted")
			}
		}
		reportCPU(b, cpu)
	})
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-since)/float64(b.N), "cpu-ns/op")
}
