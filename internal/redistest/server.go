package redistest

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Server is a redis-server of the test's own, on a free port, for fault
// tests that kill it and start it again (empty: it never saves).
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	Port int
	Addr string
	cmd  *exec.Cmd
}

// NewServer starts a Server, stopped when the test ends. Without a
// redis-server binary the test is skipped, or fails when CI=true, where
// the fault tests must run.
func NewServer(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found; CI=true requires the Redis fault tests to run")
		}
		t.Skip("install redis-server to run the Redis fault tests")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	t.Cleanup(s.Kill)
	s.Start()
	return s
}

// Start starts the server and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", s.Addr)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not start: %v", s.Addr, err)
		}
	}
}

// Kill stops the server at once, as a crash would. It is a no-op when the
// server is not running.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
