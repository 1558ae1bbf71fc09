package store

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tally/audit"
	"tally/ledger"
)

// forgeTail rewrites the last record (not yet checkpointed) with another
// actor and amount, and recomputes its tree hashes and the head, so that
// only a replay of the state finds it (review s22c).
func forgeTail(t *testing.T, s *Store) {
	t.Helper()
	err := s.db.Update(func(txn *badger.Txn) error {
		k := badgerKV{txn}
		h, err := loadHead(k)
		if err != nil {
			return err
		}
		n := h.Size - 1
		raw, err := k.get(recordKey(n))
		if err != nil {
			return err
		}
		rec, err := audit.Decode(raw)
		if err != nil {
			return err
		}
		rec.Actor = "mallory"
		effs, _ := rec.Content["effects"].([]any)
		for _, e := range effs {
			if m, ok := e.(map[string]any); ok {
				if _, ok := m["amount"]; ok {
					m["amount"] = int64(900)
				}
			}
		}
		data, err := audit.Encode(rec)
		if err != nil {
			return err
		}
		hashes, err := audit.StoredHashes(int64(n), data, hashReader{k})
		if err != nil {
			return err
		}
		if err := txn.Set(recordKey(n), data); err != nil {
			return err
		}
		first := audit.StoredHashIndex(0, int64(n))
		for i, hh := range hashes {
			if err := txn.Set(hashKey(first+int64(i)), append([]byte{}, hh[:]...)); err != nil {
				return err
			}
		}
		h.Last = audit.LeafHash(data)
		b, err := json.Marshal(h)
		if err != nil {
			return err
		}
		return txn.Set([]byte(pHead), b)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHoldUntilVerified: a store opened as a server opens it signs,
// fires and writes nothing over its stored log until VerifyLog has
// passed — a record forged after the last checkpoint must not be signed
// into a new one at start (review s22c: the start signed first and
// verified after). The checkpoint key is read, not written, while held.
func TestHoldUntilVerified(t *testing.T) {
	dir, ctx := t.TempDir(), context.Background()
	s := openFunded(t, dir)
	key, err := s.EnsureCheckpointKey(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Checkpoint(ctx)
	if err != nil || signed == 0 {
		t.Fatalf("first checkpoint: %d %v", signed, err)
	}
	mustSubmit(t, s, transferOp(pay("alice", "bob", 100))) // the unsigned tail
	forgeTail(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, Options{HoldUntilVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Verifying() {
		t.Fatal("a store holding records opened without its hold")
	}
	if k, err := s.EnsureCheckpointKey(ctx, ""); err != nil || k != key {
		t.Fatalf("checkpoint key while held: %q %v, want %q", k, err, key)
	}
	if n, err := s.Checkpoint(ctx); n != 0 || err != nil {
		t.Fatalf("checkpoint while held: signed %d (%v)", n, err)
	}
	if _, err := s.Submit(ctx, ledger.Request{Actor: ledger.Actor{ID: "bob"}, Op: transferOp(pay("bob", "alice", 1))}); !ledger.IsCode(err, ledger.CodeUnavailable) {
		t.Fatalf("write while held: %v", err)
	}
	if _, err := s.VerifyLog(ctx); err == nil {
		t.Fatal("the forged tail verified")
	}
	if n, _ := s.Checkpoint(ctx); n != 0 {
		t.Fatalf("checkpoint after a failed verification: signed %d", n)
	}
	c, err := s.Audit().LatestCheckpoint()
	if err != nil || c.Size != signed {
		t.Fatalf("latest checkpoint %d (%v), want the one signed before the forgery (%d)", c.Size, err, signed)
	}
}

// TestHoldNotOnEmpty: a new, empty store is not held (its first start
// writes the admin and keys before there is anything to verify).
func TestHoldNotOnEmpty(t *testing.T) {
	s, err := Open(t.TempDir(), Options{HoldUntilVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Verifying() {
		t.Fatal("an empty store opened held")
	}
	fund(t, s, 10, "alice")
}
