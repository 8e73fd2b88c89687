package authv2_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/authv2/authv2"
)

// FuzzClientIP feeds arbitrary forwarding headers from a trusted proxy:
// the middleware must not panic, and the client IP it reports is always
// an IP address, never header text.
func FuzzClientIP(f *testing.F) {
	f.Add("198.51.100.1, 10.0.0.2", `for="[2001:db8::1]:80";proto=https`, "https")
	f.Add("unknown", "for=_hidden, for=unknown", "http")
	f.Add(",,,", `for="`, "")
	f.Add("[::1", "for=[::1", "https,http")
	cfg := authv2.DefaultConfig()
	cfg.HTTP.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	m, err := authv2.New(authv2.WithConfig(cfg))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = m.Close(f.Context()) })
	var got string
	h := m.Middleware()(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _ := authv2.ClientFrom(r.Context())
			got = c.IP
		}))
	f.Fuzz(func(t *testing.T, xff, forwarded, proto string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.0.0.1:1234"
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Forwarded-Proto", proto)
		if forwarded != "" {
			r.Header.Set("Forwarded", forwarded)
		}
		got = ""
		h.ServeHTTP(httptest.NewRecorder(), r)
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("client IP %q is not an address", got)
		}
	})
}
