package authv2

import (
	"context"
	"errors"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
	"github.com/authv2/authv2/permission"
	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// RegisterInput is what Register needs. Unknown fields cannot be smuggled
// in: status, roles and tenants other than TenantID are never taken from it.
type RegisterInput struct {
	Email       string
	Password    string
	DisplayName string
	// TenantID, when set, makes the user a member of that existing tenant
	// and their default tenant for logins.
	TenantID   string
	Attributes map[string]string
}

// Register creates a user with a password: active, or
// pending_verification with a token sent through the Notifier when
// Config.RequireEmailVerification is on. Input errors come back
// as a *ValidationError listing every rejected field; a taken email is
// ErrUserExists.
//
// With Config.EnumerationSafeRegistration, a taken email answers exactly
// as a new one: (nil, nil), the same work on the caller's time, and the
// address's owner told through the Notifier (ExistingAccountNotifier);
// the new user exists once they verify the address.
func (m *Manager) Register(ctx context.Context, in RegisterInput) (_ *user.User, err error) {
	ctx, span := m.tel.Start(ctx, "authv2.Register")
	defer m.endSpan(span, &err)
	if err := m.inputs.register(in); err != nil {
		return nil, err
	}
	if in.TenantID != "" {
		if _, err := m.permissions.GetTenant(ctx, in.TenantID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, &ValidationError{Fields: []FieldError{{Field: "TenantID", Reason: "no such tenant"}}}
			}
			return nil, translate("tenant.get", err)
		}
	}
	status := user.StatusActive
	if m.cfg.RequireEmailVerification {
		status = user.StatusPendingVerification
	}
	u, err := m.newUser(ctx, in, status)
	if err != nil {
		return nil, err
	}
	now := u.CreatedAt
	safe := m.cfg.EnumerationSafeRegistration
	registered := audit.Event{Type: audit.TypeRegister, Outcome: audit.Success, ActorUserID: u.ID, TenantID: in.TenantID, Target: u.ID}
	// The user's creation is the commit point unless a membership follows
	// it: then the event waits for both (below).
	recorded := m.usersOutbox != nil && in.TenantID == ""
	create := func() error { return m.users.Create(ctx, u) }
	if recorded {
		create = func() error {
			return m.recorded(ctx, []audit.Event{registered}, func(events []audit.Event) error {
				return m.usersOutbox.CreateRecorded(ctx, u, events)
			})
		}
	}
	if err := create(); err != nil {
		if !errors.Is(err, store.ErrConflict) {
			return nil, translate("user.create", err)
		}
		if !safe {
			return nil, ErrUserExists
		}
		// The attempt is recorded on the caller's time, as a new
		// address's user.register is (with a journal, both wait for one
		// Append); which account owns the address takes a read a new
		// address does not make, so it is added in the background, in a
		// second event naming the attempt.
		attempt := audit.Event{ID: randid.ID(), Type: audit.TypeRegister, Outcome: audit.Failure, Reason: audit.ReasonEmailTaken}
		if err := m.emit(ctx, attempt); err != nil {
			return nil, err
		}
		m.background(ctx, func(ctx context.Context) error {
			owner, err := m.users.GetByEmail(ctx, in.Email)
			if err != nil {
				return translate("user.get_by_email", err)
			}
			m.emit(ctx, audit.Event{Type: audit.TypeRegister, Outcome: audit.Failure, Target: owner.ID, Reason: audit.ReasonEmailTaken,
				Attributes: map[string]string{audit.AttrAttempt: attempt.ID}})
			return m.notifier.(ExistingAccountNotifier).AccountExists(ctx, owner)
		})
		return nil, nil
	}
	if in.TenantID != "" {
		if err := m.permissions.AddMember(ctx, permission.Membership{UserID: u.ID, TenantID: in.TenantID, CreatedAt: now}); err != nil {
			return nil, translate("membership.add", err)
		}
	}
	if !recorded {
		if err := m.emit(ctx, registered); err != nil {
			return nil, err
		}
	}
	if safe {
		// Off the caller's time, like the taken address's notice.
		m.background(ctx, func(ctx context.Context) error {
			return m.issueToken(ctx, user.TokenEmailVerification, u, m.cfg.VerifyTokenTTL)
		})
		return nil, nil
	}
	if status == user.StatusPendingVerification {
		if err := m.issueToken(ctx, user.TokenEmailVerification, u, m.cfg.VerifyTokenTTL); err != nil {
			return nil, err
		}
	}
	return u.Clone(), nil
}

// newUser checks in's password against the checker and builds the user
// Register and AcceptInvitation create, its password hashed.
func (m *Manager) newUser(ctx context.Context, in RegisterInput, status user.Status) (*user.User, error) {
	if err := m.runPasswordChecker(ctx, in.Email, in.DisplayName, in.Password); err != nil {
		return nil, err
	}
	hash, err := m.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	now := m.clock.Now()
	return &user.User{
		ID:                randid.ID(),
		SecurityStamp:     randid.ID(),
		Email:             in.Email,
		DisplayName:       in.DisplayName,
		Status:            status,
		PasswordHash:      hash,
		PasswordChangedAt: now,
		DefaultTenantID:   in.TenantID,
		Attributes:        in.Attributes,
		CreatedAt:         now,
		UpdatedAt:         now,
	}, nil
}
