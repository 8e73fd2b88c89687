package authv2_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/authv2/authv2"
)

// Protect handlers with Middleware: the Principal is in the request
// context, anonymous requests to a route that requires authentication get
// an RFC 9457 problem, and a token in the URL is never accepted.
func ExampleManager_Middleware() {
	ctx := context.Background()
	m := exampleManager() // authv2.New() with cheap hashing (example_helpers_test.go)
	defer m.Close(ctx)
	if _, err := m.Register(ctx, authv2.RegisterInput{Email: "ada@example.com", Password: "correct horse battery staple"}); err != nil {
		panic(err)
	}
	res, err := m.Login(ctx, authv2.LoginInput{Email: "ada@example.com", Password: "correct horse battery staple"})
	if err != nil {
		panic(err)
	}

	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := authv2.MustPrincipal(r.Context()) // safe: RequireAuthentication ran first
		u, err := m.User(r.Context(), p.UserID)
		if err != nil {
			authv2.DefaultErrorHandler(w, r, err)
			return
		}
		fmt.Fprintln(w, u.Email)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /me", m.Middleware(authv2.RequireAuthentication())(me))

	do := func(r *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		return rec
	}

	r := httptest.NewRequest(http.MethodGet, "/me", nil)
	r.Header.Set("Authorization", "Bearer "+res.Token)
	rec := do(r)
	fmt.Print(rec.Code, " ", rec.Body.String())

	rec = do(httptest.NewRequest(http.MethodGet, "/me?token="+res.Token, nil))
	var p authv2.Problem
	_ = json.Unmarshal(rec.Body.Bytes(), &p)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), p.Title)
	// Output:
	// 200 ada@example.com
	// 401 application/problem+json Authentication required
}
