package authv2

import (
	"cmp"
	"context"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/session"
	"github.com/authv2/authv2/user"
)

// User returns the user with the given ID, or ErrNotFound.
func (m *Manager) User(ctx context.Context, id string) (*user.User, error) {
	if err := checkText("ID", id); err != nil {
		return nil, err
	}
	u, err := m.users.Get(ctx, id)
	if err != nil {
		return nil, translate("user.get", err)
	}
	return u, nil
}

// setStatus changes an account's status and, for anything but active,
// ends all its sessions at once: Authenticate reads only sessions, so
// revocation is what makes the change take effect. The event names the
// actor in ctx and the status before and after.
func (m *Manager) setStatus(ctx context.Context, userID string, status user.Status, typ audit.Type, reason string) error {
	now := m.clock.Now()
	var before user.Status
	saved, err := m.users.Update(ctx, userID, func(x *user.User) error {
		before = x.Status
		x.Status, x.UpdatedAt = status, now
		if status != user.StatusActive {
			// A locked account keeps its reset token: a reset unlocks it.
			rotateStamp(x, status == user.StatusDisabled)
		}
		return nil
	})
	if err != nil {
		return translate("user.update", err)
	}
	if status == user.StatusActive {
		m.resetLoginThrottle(ctx, saved.Email)
	}
	// Recorded before the sessions end: the change is made even if that
	// fails.
	if err := m.emit(ctx, withActor(ctx, audit.Event{Type: typ, Outcome: audit.Success, Target: userID, Reason: reason,
		Attributes: changeAttrs(statusState{before}, statusState{status})})); err != nil {
		return err
	}
	if status != user.StatusActive {
		if _, err := m.endUserSessions(ctx, userID, session.RevokeFilter{}, now, reason); err != nil {
			return err
		}
	}
	return nil
}

// DisableUser disables an account and ends all its sessions.
func (m *Manager) DisableUser(ctx context.Context, userID string) error {
	if err := cmp.Or(notImpersonating(ctx), checkText("UserID", userID)); err != nil {
		return err
	}
	return m.setStatus(ctx, userID, user.StatusDisabled, audit.TypeUserDisabled, session.ReasonUserDisabled)
}

// LockUser locks an account (until UnlockUser or a password reset) and
// ends all its sessions.
func (m *Manager) LockUser(ctx context.Context, userID string) error {
	if err := cmp.Or(notImpersonating(ctx), checkText("UserID", userID)); err != nil {
		return err
	}
	return m.setStatus(ctx, userID, user.StatusLocked, audit.TypeLockout, session.ReasonUserLocked)
}

// UnlockUser re-activates a locked, disabled or throttled account and
// clears its email's login failure budget.
func (m *Manager) UnlockUser(ctx context.Context, userID string) error {
	if err := cmp.Or(notImpersonating(ctx), checkText("UserID", userID)); err != nil {
		return err
	}
	return m.setStatus(ctx, userID, user.StatusActive, audit.TypeUnlock, "")
}

// DeleteUser ends all of a user's sessions, removes their memberships and
// bindings in every tenant, then deletes the account.
func (m *Manager) DeleteUser(ctx context.Context, userID string) error {
	if err := cmp.Or(notImpersonating(ctx), checkText("UserID", userID)); err != nil {
		return err
	}
	// The stamp changes first, as in every account change, so that a login
	// in flight cannot keep a session (see Login).
	var before user.Status
	_, err := m.users.Update(ctx, userID, func(x *user.User) error {
		before = x.Status
		x.Status = user.StatusDisabled
		rotateStamp(x, true)
		return nil
	})
	if err != nil {
		return translate("user.update", err)
	}
	if _, err := m.endUserSessions(ctx, userID, session.RevokeFilter{}, m.clock.Now(), session.ReasonUserDeleted); err != nil {
		return err
	}
	// Memberships and bindings go before the record, so that a retry after
	// a failure here still finds the user.
	tenants, err := m.permissions.RemoveUser(ctx, userID)
	if err != nil {
		return translate("permission.remove_user", err)
	}
	for _, t := range tenants {
		m.policyChanged(ctx, t)
	}
	if err := m.users.Delete(ctx, userID); err != nil {
		return translate("user.delete", err)
	}
	// A retry finds the status disabled (set above): before is then what
	// the first attempt left.
	return m.emit(ctx, withActor(ctx, audit.Event{Type: audit.TypeUserDeleted, Outcome: audit.Success, Target: userID,
		Attributes: changeAttrs(deletedState{Status: before, Tenants: tenants}, nil)}))
}
