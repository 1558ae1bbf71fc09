package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger"
)

// TestFingerprintKeyed: an idempotency record keeps the request's
// fingerprint keyed with the store's secret, not the bare hash (whose
// chained record would let anyone test guesses at the request's body);
// a retry is still answered after a backup and restore, which carry the
// key, and a different request is still a conflict.
func TestFingerprintKeyed(t *testing.T) {
	s := openWith(t, t.TempDir(), nil)
	fp := sha256.Sum256([]byte(`POST /v1/members\n\n{"password":"sunshine-88"}`))
	req := func(fp [32]byte) ledger.Request {
		return ledger.Request{Actor: ledger.Actor{ID: "admin"}, IdemKey: "reg-1", Fingerprint: fp,
			Op: func(tx ledger.Tx) (any, error) {
				tx.Audit("doc", nil)
				return map[string]string{"id": "m1"}, tx.PutDoc("thing", "m1", 1)
			}}
	}
	first, err := s.Submit(context.Background(), req(fp))
	if err != nil {
		t.Fatal(err)
	}
	var rec idemRecord
	if err := s.db.View(func(txn *badger.Txn) error {
		raw, err := badgerKV{txn}.get(idemKey("admin", "reg-1"))
		if err != nil {
			return err
		}
		return json.Unmarshal(raw, &rec)
	}); err != nil {
		t.Fatal(err)
	}
	if rec.Fingerprint == fp || rec.Fingerprint == ([32]byte{}) {
		t.Fatalf("the stored fingerprint is the bare request hash (or empty): %x", rec.Fingerprint)
	}
	var buf bytes.Buffer
	if err := s.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if err := Restore(&buf, dir); err != nil {
		t.Fatal(err)
	}
	r := openWith(t, dir, nil)
	again, err := r.Submit(context.Background(), req(fp))
	if err != nil || !again.Replayed || !bytes.Equal(again.JSON, first.JSON) {
		t.Fatalf("a retry after restore: %+v, %v (first %s)", again, err, first.JSON)
	}
	other := fp
	other[0] ^= 1
	if _, err := r.Submit(context.Background(), req(other)); !ledger.IsCode(err, ledger.CodeIdempotencyConflict) {
		t.Fatalf("a different request under the key: %v", err)
	}
}
