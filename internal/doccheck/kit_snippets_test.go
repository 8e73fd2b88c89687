package doccheck

// The Go block of README "Handler kit", and an example that runs it.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/handlers"
)

// readmeKit is README "Handler kit".
func readmeKit(m *authv2.Manager, logger *slog.Logger) *http.ServeMux {
	kit := handlers.New(m, handlers.WithLogger(logger))
	mux := http.NewServeMux()
	mux.Handle("/auth/", http.StripPrefix("/auth", m.Middleware()(kit))) // the middleware your other routes use
	return mux
}

func Example_readmeKit() {
	m := exampleManager()
	defer m.Close(context.Background())
	ts := httptest.NewTLSServer(readmeKit(m, slog.New(slog.DiscardHandler)))
	defer ts.Close()
	post := func(path, body string, header ...string) *http.Response {
		req, _ := http.NewRequest("POST", ts.URL+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		return resp
	}
	creds := `{"email":"ada@example.com","password":"correct horse battery staple"}`
	fmt.Println(post("/auth/register", creds).StatusCode)
	browser := post("/auth/login", creds)
	fmt.Println(browser.StatusCode, browser.Cookies()[0].Name)
	api := post("/auth/login", creds, handlers.AuthModeHeader, "bearer")
	fmt.Println(api.StatusCode, len(api.Cookies()))
	fmt.Println(post("/auth/login", creds, "Sec-Fetch-Site", "cross-site").StatusCode)
	// Output:
	// 201
	// 200 __Host-authv2
	// 200 0
	// 403
}
