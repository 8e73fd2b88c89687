// Package spool is an audit.Journal on a local file: the durable copy of
// the audit events an application's flows have answered for, kept until
// every sink has them and replayed on start after a crash.
//
// The file is a bbolt database (go.etcd.io/bbolt, the embedded B+tree
// store etcd keeps its data in): every Append is one transaction committed
// with fsync before it returns, so a crash of the process or the machine
// keeps it, and a file that a crash left mid-write opens at its last
// committed transaction. bbolt locks the file, so one process at a time
// uses a spool; give every instance of a service its own file, on a disk
// that outlives the process (a persistent volume, not a container's
// writable layer).
package spool

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/authv2/authv2/audit"
	"github.com/authv2/authv2/internal/randid"
)

var (
	bucketEvents = []byte("events") // append sequence (8 bytes, big endian) -> event (JSON)
	bucketIDs    = []byte("ids")    // event ID -> append sequence
)

// ErrInvalidPosition reports a Leftover position this spool did not
// return.
var ErrInvalidPosition = errors.New("spool: invalid position")

// ErrLocked reports a spool file another process holds open: two
// instances were given the same file. The error Open returns also wraps
// bbolt's ErrTimeout.
var ErrLocked = errors.New("spool: file locked by another process")

// Journal is an audit.Journal in one bbolt file. It is safe for
// concurrent use; Close it when the Manager using it is closed.
type Journal struct {
	db *bolt.DB
	// opened is the last sequence appended before Open: Leftover returns
	// no event after it.
	opened uint64
}

var _ audit.Journal = (*Journal)(nil)

// Open opens the spool file at path, creating it if needed, with mode
// 0600 (an existing file's mode is set to it too): events name users and
// their addresses. It waits at most a second for another process's lock
// on the file and then fails with ErrLocked, so that two instances
// sharing a file is an error at start, not a silent wait.
func Open(path string) (*Journal, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("spool: opening %s: %w (one process per spool file): %w", path, ErrLocked, err)
	}
	if err != nil {
		return nil, fmt.Errorf("spool: opening %s: %w", path, err)
	}
	// bbolt applies the mode only to a file it creates.
	if err := os.Chmod(path, 0o600); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("spool: restricting %s to its owner: %w", path, err)
	}
	j := &Journal{db: db}
	err = db.Update(func(tx *bolt.Tx) error {
		events, err := tx.CreateBucketIfNotExists(bucketEvents)
		_, err2 := tx.CreateBucketIfNotExists(bucketIDs)
		if err := errors.Join(err, err2); err != nil {
			return err
		}
		j.opened = events.Sequence()
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("spool: preparing %s: %w", path, err)
	}
	return j, nil
}

// Close closes the file.
func (j *Journal) Close() error { return j.db.Close() }

// Append stores events in one transaction, synced to disk before it
// returns. An event without ID is given a fresh one.
func (j *Journal) Append(ctx context.Context, events []audit.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ids := make([][]byte, len(events))
	vals := make([][]byte, len(events))
	for i := range events {
		e := events[i]
		if e.ID == "" {
			e.ID = randid.ID()
		}
		v, err := json.Marshal(&e)
		if err != nil {
			return fmt.Errorf("spool: encoding event %s: %w", e.ID, err)
		}
		ids[i], vals[i] = []byte(e.ID), v
	}
	return j.db.Update(func(tx *bolt.Tx) error {
		evs, idx := tx.Bucket(bucketEvents), tx.Bucket(bucketIDs)
		for i, v := range vals {
			if idx.Get(ids[i]) != nil {
				continue
			}
			seq, err := evs.NextSequence()
			if err != nil {
				return err
			}
			k := key(seq)
			if err := errors.Join(evs.Put(k, v), idx.Put(ids[i], k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Leftover returns the events appended before Open and not removed, in
// append order. A position is the hex sequence of the last event of the
// previous page.
func (j *Journal) Leftover(ctx context.Context, after string, limit int) ([]audit.Event, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		return nil, "", fmt.Errorf("spool: Leftover limit %d must be positive", limit)
	}
	var from uint64 = 1
	if after != "" {
		b, err := hex.DecodeString(after)
		if err != nil || len(b) != 8 {
			return nil, "", fmt.Errorf("%w: %q", ErrInvalidPosition, after)
		}
		from = binary.BigEndian.Uint64(b) + 1
	}
	var out []audit.Event
	next := ""
	err := j.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(key(from)); k != nil; k, v = c.Next() {
			if binary.BigEndian.Uint64(k) > j.opened {
				break
			}
			if len(out) == limit {
				next = hex.EncodeToString(key(binary.BigEndian.Uint64(k) - 1))
				break
			}
			var e audit.Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("spool: decoding event at %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// Remove deletes the events with these IDs in one synced transaction.
func (j *Journal) Remove(ctx context.Context, ids []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	return j.db.Update(func(tx *bolt.Tx) error {
		evs, idx := tx.Bucket(bucketEvents), tx.Bucket(bucketIDs)
		for _, id := range ids {
			k := idx.Get([]byte(id))
			if k == nil {
				continue
			}
			if err := errors.Join(evs.Delete(k), idx.Delete([]byte(id))); err != nil {
				return err
			}
		}
		return nil
	})
}

// Len returns the number of events kept, for metrics and tests.
func (j *Journal) Len() (int, error) {
	n := 0
	err := j.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketIDs).Stats().KeyN
		return nil
	})
	return n, err
}

func key(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}
