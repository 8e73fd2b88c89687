package permission_test

import (
	"context"
	"fmt"

	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store/memory"
)

// A store clerk may edit orders in their store, approve refunds up to 100,
// and never delete; a regional manager inherits the clerk's rights across
// the region.
func Example_storeClerk() {
	ctx := context.Background()
	st := memory.NewPermissionStore()
	_ = st.CreateTenant(ctx, &permission.Tenant{ID: "acme"})

	engine, err := permission.NewEngine(st)
	if err != nil {
		panic(err)
	}
	defer engine.Close()

	clerk := &permission.Role{TenantID: "acme", Name: "clerk", Grants: []permission.Grant{
		{Permission: "orders:*", Effect: permission.Allow},
		{Permission: "orders:delete", Effect: permission.Deny},
		{Permission: "refunds:approve", Effect: permission.Allow, Condition: "request.amount <= 100.0"},
	}}
	manager := &permission.Role{TenantID: "acme", Name: "manager", Parents: []string{"clerk"}}
	for _, r := range []*permission.Role{clerk, manager} {
		if err := engine.ValidateRole(r); err != nil { // reject broken rules at write time
			panic(err)
		}
		_ = st.PutRole(ctx, r)
	}
	_ = st.PutBinding(ctx, permission.Binding{TenantID: "acme", UserID: "ann", Role: "clerk", Scope: "region:eu/store:42"})
	_ = st.PutBinding(ctx, permission.Binding{TenantID: "acme", UserID: "bob", Role: "manager", Scope: "region:eu"})
	_ = engine.PolicyChanged(ctx, "acme")

	check := func(user, action, typ, scope string, amount float64) {
		d, _ := engine.Authorize(ctx,
			permission.Subject{TenantID: "acme", UserID: user},
			action,
			permission.Resource{TenantID: "acme", Type: typ, ID: "x", Scope: scope},
			permission.Request{Attributes: map[string]any{"amount": amount}})
		fmt.Printf("%-4s %-15s at %-20s -> %-5t (%s)\n", user, typ+":"+action, scope, d.Allowed, d.Reason)
	}
	check("ann", "edit", "orders", "region:eu/store:42", 0)
	check("ann", "edit", "orders", "region:eu/store:7", 0)
	check("bob", "edit", "orders", "region:eu/store:7", 0)
	check("bob", "delete", "orders", "region:eu/store:7", 0)
	check("ann", "approve", "refunds", "region:eu/store:42", 80)
	check("ann", "approve", "refunds", "region:eu/store:42", 250)

	// Bad rules never reach the store.
	err = engine.ValidateRole(&permission.Role{TenantID: "acme", Name: "oops", Grants: []permission.Grant{
		{Permission: "orders:read", Effect: permission.Allow, Condition: "request.amount <"},
	}})
	fmt.Println(err != nil)
	// Output:
	// ann  orders:edit     at region:eu/store:42   -> true  (allowed by grant)
	// ann  orders:edit     at region:eu/store:7    -> false (no grant matches)
	// bob  orders:edit     at region:eu/store:7    -> true  (allowed by grant)
	// bob  orders:delete   at region:eu/store:7    -> false (denied by grant)
	// ann  refunds:approve at region:eu/store:42   -> true  (allowed by grant)
	// ann  refunds:approve at region:eu/store:42   -> false (no grant matches)
	// true
}
