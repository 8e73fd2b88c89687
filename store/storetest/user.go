package storetest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/authv2/authv2/store"
	"github.com/authv2/authv2/user"
)

// UserStoreFactory returns a fresh, isolated user.Store.
type UserStoreFactory func(t *testing.T) user.Store

// injection strings every text field must store and return literally.
var nasty = []string{"'; DROP TABLE users; --", "Robert\tTables", "line\r\nbreak", "ünïcødé 🦊", `\"%_*{}[]`}

func newUser(id string) *user.User {
	return &user.User{
		ID:           id,
		Email:        id + "@Example.com",
		DisplayName:  "User " + id,
		Status:       user.StatusActive,
		PasswordHash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5",
		Attributes:   map[string]string{"team": "blue"},
		CreatedAt:    base,
		UpdatedAt:    base,
	}
}

// RunUserStore runs the user.Store conformance cases, grouped by method.
func RunUserStore(t *testing.T, newStore UserStoreFactory) {
	method(t, "Create", newStore, userCreate)
	method(t, "Get", newStore, userGet)
	method(t, "GetByEmail", newStore, userGetByEmail)
	method(t, "Update", newStore, userUpdate)
	method(t, "Delete", newStore, userDelete)
}

func userCreate(t *testing.T, newStore UserStoreFactory) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		u := newUser("u1")
		u.LastLoginAt = base.Add(-1)
		u.PasswordChangedAt = base.Add(-2)
		u.DefaultTenantID = "t1"
		u.SecurityStamp = "stamp-1"
		u.PendingEmail = "next@example.com"
		u.Tokens = map[string]user.OneTimeToken{
			user.TokenPasswordReset: {Hash: []byte{1, 2, 3}, ExpiresAt: base.Add(time.Hour)},
		}
		require.NoError(t, s.Create(ctx(t), u))
		got, err := s.Get(ctx(t), "u1")
		require.NoError(t, err)
		assertUserEqual(t, u, got)
		got.Attributes["team"] = "changed"
		again, err := s.Get(ctx(t), "u1")
		require.NoError(t, err)
		assert.Equal(t, "blue", again.Attributes["team"], "a store must not share maps with callers")
	})
	t.Run("DuplicateIDConflicts", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.Create(ctx(t), newUser("u1")))
		dup := newUser("u1")
		dup.Email = "other@example.com"
		assert.ErrorIs(t, s.Create(ctx(t), dup), store.ErrConflict)
	})
	t.Run("DuplicateEmailIgnoresCase", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.Create(ctx(t), newUser("u1")))
		dup := newUser("u2")
		dup.Email = "u1@example.COM"
		assert.ErrorIs(t, s.Create(ctx(t), dup), store.ErrConflict)
	})
	t.Run("TextFieldsStoredLiterally", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for i, v := range nasty {
			u := newUser(fmt.Sprintf("n%d", i))
			u.DisplayName = v
			u.Email = fmt.Sprintf("n%d+%s@example.com", i, "x'y")
			u.Attributes = map[string]string{v: v}
			require.NoError(t, s.Create(ctx(t), u))
			got, err := s.Get(ctx(t), u.ID)
			require.NoError(t, err)
			assertUserEqual(t, u, got)
		}
	})
}

func userGet(t *testing.T, newStore UserStoreFactory) {
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.Get(ctx(t), "nope")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("CanceledContext", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.Get(canceled(t), "u1")
		assert.Error(t, err)
	})
}

func userGetByEmail(t *testing.T, newStore UserStoreFactory) {
	t.Run("IgnoresCase", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.Create(ctx(t), newUser("u1")))
		got, err := s.GetByEmail(ctx(t), "U1@EXAMPLE.COM")
		require.NoError(t, err)
		assert.Equal(t, "u1", got.ID)
	})
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.GetByEmail(ctx(t), "nope@example.com")
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
}

func userUpdate(t *testing.T, newStore UserStoreFactory) {
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		_, err := s.Update(ctx(t), "nope", func(*user.User) error { return nil })
		assert.ErrorIs(t, err, store.ErrNotFound)
	})
	t.Run("SavesAndReturns", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.Create(ctx(t), newUser("u1")))
		got, err := s.Update(ctx(t), "u1", func(u *user.User) error {
			u.Status = user.StatusDisabled
			u.Email = "new@example.com"
			u.Attributes = map[string]string{"k": "v"}
			u.SecurityStamp, u.PendingEmail = "rotated", "pending@example.com"
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, user.StatusDisabled, got.Status)
		again, err := s.Get(ctx(t), "u1")
		require.NoError(t, err)
		assert.Equal(t, "rotated", again.SecurityStamp)
		assert.Equal(t, "pending@example.com", again.PendingEmail)
		byEmail, err := s.GetByEmail(ctx(t), "NEW@example.com")
		require.NoError(t, err)
		assert.Equal(t, "u1", byEmail.ID)
		assert.Equal(t, map[string]string{"k": "v"}, byEmail.Attributes)
		_, err = s.GetByEmail(ctx(t), "u1@example.com")
		assert.ErrorIs(t, err, store.ErrNotFound, "the old email must be free after a change")
	})
	t.Run("CallbackErrorWritesNothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.Create(ctx(t), newUser("u1")))
		boom := errors.New("boom")
		_, err := s.Update(ctx(t), "u1", func(u *user.User) error {
			u.DisplayName = "changed"
			return boom
		})
		assert.ErrorIs(t, err, boom)
		got, err := s.Get(ctx(t), "u1")
		require.NoError(t, err)
		assert.Equal(t, "User u1", got.DisplayName)
	})
	t.Run("EmailConflict", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.Create(ctx(t), newUser("u1")))
		require.NoError(t, s.Create(ctx(t), newUser("u2")))
		_, err := s.Update(ctx(t), "u2", func(u *user.User) error { u.Email = "U1@example.com"; return nil })
		assert.ErrorIs(t, err, store.ErrConflict)
		got, err := s.Get(ctx(t), "u2")
		require.NoError(t, err)
		assert.Equal(t, "u2@Example.com", got.Email)
	})
	t.Run("ConcurrentUpdatesLoseNothing", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.Create(ctx(t), newUser("u1")))
		const n = 200
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				_, err := s.Update(ctx(t), "u1", func(u *user.User) error {
					// A read-modify-write: each update counts one more.
					n, _ := strconv.Atoi(u.Attributes["n"])
					u.Attributes = map[string]string{"n": strconv.Itoa(n + 1)}
					return nil
				})
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		got, err := s.Get(ctx(t), "u1")
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(n), got.Attributes["n"])
	})
}

func userDelete(t *testing.T, newStore UserStoreFactory) {
	t.Run("MissingIsNotFound", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		assert.ErrorIs(t, s.Delete(ctx(t), "nope"), store.ErrNotFound)
	})
	t.Run("FreesEmail", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		require.NoError(t, s.Create(ctx(t), newUser("u1")))
		require.NoError(t, s.Delete(ctx(t), "u1"))
		_, err := s.Get(ctx(t), "u1")
		assert.ErrorIs(t, err, store.ErrNotFound)
		again := newUser("u9")
		again.Email = "u1@example.com"
		assert.NoError(t, s.Create(ctx(t), again))
	})
}

func assertUserEqual(t *testing.T, want, got *user.User) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.Email, got.Email)
	assert.Equal(t, want.DisplayName, got.DisplayName)
	assert.Equal(t, want.Status, got.Status)
	assert.Equal(t, want.PasswordHash, got.PasswordHash)
	assert.Equal(t, want.DefaultTenantID, got.DefaultTenantID)
	assert.Equal(t, want.SecurityStamp, got.SecurityStamp)
	assert.Equal(t, want.PendingEmail, got.PendingEmail)
	assertTimeEqual(t, want.LastLoginAt, got.LastLoginAt)
	assertTimeEqual(t, want.PasswordChangedAt, got.PasswordChangedAt)
	assertTimeEqual(t, want.CreatedAt, got.CreatedAt)
	assert.Equal(t, len(want.Tokens), len(got.Tokens))
	for k, tok := range want.Tokens {
		assert.Equal(t, tok.Hash, got.Tokens[k].Hash)
		assertTimeEqual(t, tok.ExpiresAt, got.Tokens[k].ExpiresAt)
	}
	if len(want.Attributes) == 0 {
		assert.Empty(t, got.Attributes)
	} else {
		assert.Equal(t, want.Attributes, got.Attributes)
	}
}
