package spool_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

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
	require.Error(t, err, "one process at a time: bbolt's file lock")
}

func TestOpenFailsOnAnUnusablePath(t *testing.T) {
	_, err := spool.Open(filepath.Join(t.TempDir(), "missing", "dir", "audit.spool"))
	require.Error(t, err)
}
