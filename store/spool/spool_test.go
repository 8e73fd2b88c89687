package spool_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/store/spool"
	"github.com/authv2/authv2/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunJournal(t, func(t *testing.T) func() audit.Journal {
		path := filepath.Join(t.TempDir(), "audit.spool")
		var last *spool.Journal
		t.Cleanup(func() {
			if last != nil {
				require.NoError(t, last.Close())
			}
		})
		return func() audit.Journal {
			if last != nil {
				require.NoError(t, last.Close())
			}
			j, err := spool.Open(path)
			require.NoError(t, err)
			last = j
			return j
		}
	})
}

func TestOpenRefusesASecondUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.spool")
	j, err := spool.Open(path)
	require.NoError(t, err)
	defer j.Close()
	_, err = spool.Open(path)
	require.ErrorIs(t, err, spool.ErrLocked, "one process at a time: bbolt's file lock")
	require.ErrorIs(t, err, bolt.ErrTimeout)
}

func TestOpenRestrictsAnExistingFileToItsOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.spool")
	j, err := spool.Open(path)
	require.NoError(t, err)
	require.NoError(t, j.Close())
	require.NoError(t, os.Chmod(path, 0o644))

	j, err = spool.Open(path)
	require.NoError(t, err)
	defer j.Close()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "events name users and their addresses")
}

func TestOpenFailsOnAnUnusablePath(t *testing.T) {
	_, err := spool.Open(filepath.Join(t.TempDir(), "missing", "dir", "audit.spool"))
	require.Error(t, err)
}

func TestOpenRefusesAFileThatIsNotASpool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.spool")
	require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte("not a bbolt file "), 1024), 0o600))
	_, err := spool.Open(path)
	require.Error(t, err)
}

func TestLenCountsKeptEvents(t *testing.T) {
	j, err := spool.Open(filepath.Join(t.TempDir(), "audit.spool"))
	require.NoError(t, err)
	defer j.Close()
	require.NoError(t, j.Append(t.Context(), []audit.Event{{ID: "a"}, {ID: "b"}, {ID: "a"}}))
	n, err := j.Len()
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.NoError(t, j.Remove(t.Context(), []string{"a"}))
	n, err = j.Len()
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// TestLeftoverReportsAnUndecodableEvent: a value that is not an event (a
// spool written by something else) is an error, not a silent skip.
func TestLeftoverReportsAnUndecodableEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.spool")
	j, err := spool.Open(path)
	require.NoError(t, err)
	require.NoError(t, j.Append(t.Context(), []audit.Event{{ID: "a"}}))
	require.NoError(t, j.Close())
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("events")).Put([]byte{0, 0, 0, 0, 0, 0, 0, 1}, []byte("{not json"))
	}))
	require.NoError(t, db.Close())
	j, err = spool.Open(path)
	require.NoError(t, err)
	defer j.Close()
	_, _, err = j.Leftover(t.Context(), "", 10)
	require.Error(t, err)
}
