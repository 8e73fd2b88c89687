package postgres_test

import (
	"testing"
	"time"

	"github.com/authv2/authv2/apikey"
)

// TestAPIKeyMethodsFailCleanlyWhenUnreachable is the API key store's
// part of TestEveryMethodFailsCleanlyWhenUnreachable.
func TestAPIKeyMethodsFailCleanlyWhenUnreachable(t *testing.T) {
	s := unreachableStores(t).APIKeys
	ctx, now := t.Context(), time.Now()
	f := apikey.KeyFilter{OwnerID: "u1"}
	calls := map[string]func() error{
		"CreateKey":  func() error { return s.CreateKey(ctx, &apikey.Key{ID: "k"}) },
		"GetKey":     func() error { _, err := s.GetKey(ctx, "k"); return err },
		"ListKeys":   func() error { _, err := s.ListKeys(ctx, f); return err },
		"TouchKey":   func() error { return s.TouchKey(ctx, "k", now, now) },
		"RevokeKey":  func() error { return s.RevokeKey(ctx, "k", now, "r") },
		"RevokeKeys": func() error { _, err := s.RevokeKeys(ctx, f, now, "r"); return err },
		"CreateServiceAccount": func() error {
			return s.CreateServiceAccount(ctx, &apikey.ServiceAccount{ID: "sa"})
		},
		"GetServiceAccount":   func() error { _, err := s.GetServiceAccount(ctx, "sa"); return err },
		"ListServiceAccounts": func() error { _, err := s.ListServiceAccounts(ctx, "t"); return err },
		"SetServiceAccountDisabled": func() error {
			_, err := s.SetServiceAccountDisabled(ctx, "sa", true, now)
			return err
		},
		"DeleteServiceAccount": func() error { return s.DeleteServiceAccount(ctx, "sa") },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) { assertCleanFailure(t, call()) })
	}
}
