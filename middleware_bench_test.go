package authv2_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authv2/authv2/session"
)

// The middleware's cost over calling Authenticate directly: compare
// BenchmarkAuthenticateDirect (the baseline) with the others of one run.
//
//	go test -run XXX -bench 'AuthenticateDirect|MiddlewareBearer|MiddlewareCookie|MiddlewareAnonymous' -benchmem .

func benchToken(b *testing.B) (*env, string) {
	e := newEnv(b)
	e.register(b, "ada@example.com")
	return e, e.login(b, "ada@example.com").Token
}

func BenchmarkAuthenticateDirect(b *testing.B) {
	e, tok := benchToken(b)
	client := session.ClientInfo{IP: "192.0.2.1", UserAgent: "bench"}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.m.Authenticate(ctx, tok, client); err != nil {
			b.Fatal(err)
		}
	}
}

func benchMiddleware(b *testing.B, prepare func(r *http.Request, tok string)) {
	e, tok := benchToken(b)
	h := e.m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("User-Agent", "bench")
	prepare(r, tok)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

func BenchmarkMiddlewareBearer(b *testing.B) {
	benchMiddleware(b, func(r *http.Request, tok string) { r.Header.Set("Authorization", "Bearer "+tok) })
}

func BenchmarkMiddlewareCookie(b *testing.B) {
	benchMiddleware(b, func(r *http.Request, tok string) { r.AddCookie(&http.Cookie{Name: "__Host-authv2", Value: tok}) })
}

func BenchmarkMiddlewareAnonymous(b *testing.B) {
	benchMiddleware(b, func(*http.Request, string) {})
}
