package doccheck

// The Go blocks of docs/GUIDE.md (its first block is README "Usage",
// readmeUsage).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authv2/authv2"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/store/memory"
	"github.com/authv2/authv2/store/storetest"
	"github.com/authv2/authv2/user"
)

type order struct {
	ID, TenantID, Scope string
	Amount              float64
}

type orderBook map[string]order

func (b orderBook) Get(id string) order { return b[id] }

// guideProtectedEndpoint is the guide's "From zero to a protected
// endpoint"; it returns the routes instead of serving them.
func guideProtectedEndpoint(ctx context.Context, m *authv2.Manager, clerkID string, orders orderBook, refundHandler http.Handler) (http.Handler, error) {
	err := m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{
		{Permission: "orders:read", Effect: permission.Allow},
		{Permission: "orders:refund", Effect: permission.Allow, Condition: "resource.amount <= 500.0"},
	}})
	if err != nil {
		return nil, err
	}
	// A clerk of store 42: the binding covers that scope and everything below it.
	err = m.Bind(ctx, permission.Binding{UserID: clerkID, TenantID: "acme", Role: "clerk", Scope: "region:eu/store:42"})
	if err != nil {
		return nil, err
	}

	refund := m.Require("refund", func(r *http.Request) permission.Resource {
		o := orders.Get(r.PathValue("id")) // tenant and scope come from your data, never from the request
		return permission.Resource{Type: "orders", ID: o.ID, TenantID: o.TenantID, Scope: o.Scope,
			Attributes: map[string]any{"amount": o.Amount}}
	})
	authed := m.Middleware(authv2.RequireAuthentication()) // 401 when anonymous
	mux := http.NewServeMux()
	mux.Handle("POST /orders/{id}/refund", authed(refund(refundHandler)))
	return mux, nil
}

func Example_guideProtectedEndpoint() {
	ctx := context.Background()
	m := exampleManager()
	defer m.Close(ctx)
	const pw = "correct horse battery staple"
	if _, err := m.CreateTenant(ctx, "acme", "Acme Inc."); err != nil {
		panic(err)
	}
	clerk, err := m.Register(ctx, authv2.RegisterInput{Email: "clerk@example.com", Password: pw, TenantID: "acme"})
	if err != nil {
		panic(err)
	}
	orders := orderBook{
		"small": {ID: "small", TenantID: "acme", Scope: "region:eu/store:42", Amount: 120},
		"large": {ID: "large", TenantID: "acme", Scope: "region:eu/store:42", Amount: 900},
		"other": {ID: "other", TenantID: "acme", Scope: "region:eu/store:7", Amount: 120},
	}
	refunded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "refunded") })
	h, err := guideProtectedEndpoint(ctx, m, clerk.ID, orders, refunded)
	if err != nil {
		panic(err)
	}
	res, err := m.Login(ctx, authv2.LoginInput{Email: "clerk@example.com", Password: pw})
	if err != nil {
		panic(err)
	}
	for _, id := range []string{"small", "large", "other"} {
		r := httptest.NewRequest(http.MethodPost, "/orders/"+id+"/refund", nil)
		r.Header.Set("Authorization", "Bearer "+res.Token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		fmt.Println(id, rec.Code, rec.Header().Get(authv2.DecisionIDHeader) != "")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/orders/small/refund", nil))
	fmt.Println("anonymous", rec.Code)
	// Output:
	// small 200 true
	// large 403 true
	// other 403 true
	// anonymous 401
}

// TestMyStore is the guide's "Adopting authv2": the conformance suite,
// here on the memory store.
func TestMyStore(t *testing.T) {
	storetest.RunUserStore(t, func(t *testing.T) user.Store { return newStoreInFreshSchema(t) })
}

func newStoreInFreshSchema(*testing.T) user.Store { return memory.NewUserStore() }

// guideDeviceCookieLogin is the guide's device-cookie login (inside a
// handler that has email and pw from the request body).
func guideDeviceCookieLogin(ctx context.Context, m *authv2.Manager, w http.ResponseWriter, r *http.Request, email, pw string) error {
	client, _ := authv2.ClientFrom(r.Context())
	res, err := m.Login(ctx, authv2.LoginInput{Email: email, Password: pw, Client: client,
		DeviceToken: m.DeviceToken(r)}) // "" on a first visit
	if err != nil {
		return err
	}
	// Sets the session cookie and the device cookie; refused over plain HTTP.
	if err := m.SetSessionCookie(w, r, res); err != nil {
		return err
	}
	return nil
}

// guideAPIKeys is the guide's "Machine identities: API keys and service
// accounts"; p is a signed-in principal of tenant acme allowed orders:*.
func guideAPIKeys(ctx context.Context, m *authv2.Manager, p *authv2.Principal) (userKey, botKey *authv2.CreatedAPIKey, err error) {
	// A key of the signed-in user, in their session's tenant, that can only read orders.
	created, err := m.CreateAPIKey(authv2.WithActor(ctx, p), authv2.CreateAPIKeyInput{
		Name: "reporting", Permissions: []string{"orders:read"}, ExpiresAt: time.Now().Add(90 * 24 * time.Hour),
	})
	if err != nil {
		return nil, nil, err // a *ValidationError names a pattern the user holds nothing of
	}
	fmt.Println(created.Secret[:5]) // av2k_…: the whole key is shown once; only its hash is stored

	// A service account: a machine of the tenant, bound to roles like a user, with keys and no password.
	bot, err := m.CreateServiceAccount(authv2.WithActor(ctx, p), "acme", "nightly-export", "exports orders")
	if err != nil {
		return nil, nil, err
	}
	if err := m.Bind(ctx, permission.Binding{UserID: bot.ID, TenantID: "acme", Role: "clerk"}); err != nil {
		return nil, nil, err
	}
	job, err := m.CreateAPIKey(authv2.WithActor(ctx, p), authv2.CreateAPIKeyInput{
		OwnerID: bot.ID, Name: "export job", Permissions: []string{"orders:*"},
	})
	if err != nil {
		return nil, nil, err
	}
	// The job sends "Authorization: Bearer " + job.Secret; m.Middleware() authenticates it.
	return created, job, nil
}

func Example_guideAPIKeys() {
	ctx := context.Background()
	m := exampleManager()
	defer m.Close(ctx)
	const pw = "correct horse battery staple"
	if _, err := m.CreateTenant(ctx, "acme", "Acme Inc."); err != nil {
		panic(err)
	}
	u, err := m.Register(ctx, authv2.RegisterInput{Email: "ada@example.com", Password: pw, TenantID: "acme"})
	if err != nil {
		panic(err)
	}
	if err := m.PutRole(ctx, &permission.Role{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{
		{Permission: "orders:*", Effect: permission.Allow}}}); err != nil {
		panic(err)
	}
	if err := m.Bind(ctx, permission.Binding{UserID: u.ID, TenantID: "acme", Role: "clerk"}); err != nil {
		panic(err)
	}
	res, err := m.Login(ctx, authv2.LoginInput{Email: "ada@example.com", Password: pw, TenantID: "acme"})
	if err != nil {
		panic(err)
	}
	p, err := m.Authenticate(ctx, res.Token, session.ClientInfo{})
	if err != nil {
		panic(err)
	}
	userKey, botKey, err := guideAPIKeys(ctx, m, p)
	if err != nil {
		panic(err)
	}
	order := permission.Resource{Type: "orders", ID: "o1", TenantID: "acme"}
	for _, k := range []*authv2.CreatedAPIKey{userKey, botKey} {
		kp, err := m.Authenticate(ctx, k.Secret, session.ClientInfo{})
		if err != nil {
			panic(err)
		}
		fmt.Println(kp.Kind, m.Can(ctx, kp, "read", order), m.Can(ctx, kp, "refund", order))
	}
	if err := m.RevokeAPIKey(ctx, botKey.Key.ID); err != nil {
		panic(err)
	}
	_, err = m.Authenticate(ctx, botKey.Secret, session.ClientInfo{})
	fmt.Println(errors.Is(err, authv2.ErrAPIKeyRevoked))
	// Output:
	// av2k_
	// user true false
	// service_account true true
	// true
}
