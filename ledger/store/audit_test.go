package store

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tally/audit"
	"tally/ledger"
)

// auditOp wraps a ledger operation with its audit record.
func auditOp(action string, fn func(tx ledger.Tx) (*ledger.Transaction, error)) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		t, err := fn(tx)
		if err != nil {
			return nil, err
		}
		tx.Audit(action, ledger.TxFields(t))
		return t, nil
	}
}

func auditSubmit(t *testing.T, s *Store, op ledger.Op) ledger.Result {
	t.Helper()
	res, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: op})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func auditTransfer(from, to string, amt int64, pending bool) ledger.Op {
	return auditOp("tx.transfer", func(tx ledger.Tx) (*ledger.Transaction, error) {
		return ledger.Transfer(tx, ledger.TransferSpec{Pending: pending,
			Postings: []ledger.Posting{{From: from, To: to, Amount: amt, Unit: ledger.HOUR}}})
	})
}

func auditCheckpoint(t *testing.T, s *Store) uint64 {
	t.Helper()
	n, err := s.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fixture is a store with every kind of record the ledger writes today:
// a key, account opens, transfers, holds posted in part and voided, a
// status change, a key rotation (when rotate), and checkpoints of sizes
// 3, 10, 14 and 20. It returns the data directory and the open store.
// Seqs: 0 key.create, 1 open, 2 transfer, 3-7 transfers alice→bob, 8
// hold, 9 post, 10 hold, 11 void, 12 key.rotate (or a note), 13 status,
// 14-19 transfers.
func fixture(t *testing.T, rotate bool) (string, *Store) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if _, err := s.EnsureCheckpointKey(ctx, "tally.test/fixture"); err != nil {
		t.Fatal(err)
	}
	auditSubmit(t, s, func(tx ledger.Tx) (any, error) {
		for _, sp := range []ledger.AccountSpec{
			{ID: "issuance", Unit: ledger.HOUR, Guard: ledger.GuardNone},
			{ID: "alice", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft},
			{ID: "bob", Unit: ledger.HOUR, Guard: ledger.GuardCreditLimit, CreditLimit: 1000},
		} {
			if _, err := ledger.OpenAccount(tx, sp); err != nil {
				return nil, err
			}
		}
		tx.Audit("account.open", map[string]any{"count": 3})
		return nil, nil
	})
	auditSubmit(t, s, auditTransfer("issuance", "alice", 5000, false))
	auditCheckpoint(t, s)
	for i := 0; i < 5; i++ {
		auditSubmit(t, s, auditTransfer("alice", "bob", int64(100+i), false))
	}
	hold := auditSubmit(t, s, auditTransfer("alice", "bob", 700, true)).Value.(*ledger.Transaction)
	part := int64(300)
	auditSubmit(t, s, auditOp("tx.post", func(tx ledger.Tx) (*ledger.Transaction, error) {
		return ledger.PostPending(tx, hold.ID, &part, "")
	}))
	auditCheckpoint(t, s)
	hold2 := auditSubmit(t, s, auditTransfer("bob", "alice", 400, true)).Value.(*ledger.Transaction)
	auditSubmit(t, s, auditOp("tx.void", func(tx ledger.Tx) (*ledger.Transaction, error) {
		return ledger.VoidPending(tx, hold2.ID, "")
	}))
	if rotate {
		if _, err := s.RotateCheckpointKey(ctx); err != nil {
			t.Fatal(err)
		}
	} else {
		auditSubmit(t, s, func(tx ledger.Tx) (any, error) {
			tx.Audit("note", map[string]any{"text": "no rotation"})
			return nil, nil
		})
	}
	auditSubmit(t, s, func(tx ledger.Tx) (any, error) {
		a, err := ledger.SetAccountStatus(tx, "bob", ledger.StatusFrozen)
		tx.Audit("account.status", map[string]any{"account": "bob", "status": "frozen"})
		return a, err
	})
	auditCheckpoint(t, s)
	for i := 0; i < 6; i++ {
		auditSubmit(t, s, auditTransfer("issuance", "alice", 10, false))
	}
	auditCheckpoint(t, s)
	return dir, s
}

// notes returns the stored checkpoint notes of the given sizes, as an
// auditor would have saved them.
func notes(t *testing.T, s *Store, sizes ...uint64) [][]byte {
	t.Helper()
	cks, err := s.Audit().Checkpoints(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, size := range sizes {
		for _, c := range cks {
			if c.Size == size {
				out = append(out, c.Note)
			}
		}
	}
	if len(out) != len(sizes) {
		t.Fatalf("checkpoints %v: found %d of them", sizes, len(out))
	}
	return out
}

func TestVerifyCleanStoreAndExport(t *testing.T) {
	_, s := fixture(t, true)
	trusted := notes(t, s, 3, 10)
	ctx := context.Background()
	rep, err := s.Audit().Verify(ctx, audit.VerifyOptions{Trusted: trusted})
	if err != nil {
		t.Fatal(err)
	}
	size, root, err := s.Audit().Size()
	if err != nil {
		t.Fatal(err)
	}
	// Three checkpoints by the fixture, one by the rotation (the old key's
	// last), one after it.
	if rep.Records != size || rep.Root != root || rep.Checkpoints != 5 || rep.Keys != 2 || rep.Accounts != 3 {
		t.Fatalf("report %+v; want %d records, root %v, 5 checkpoints, 2 keys, 3 accounts", rep, size, root)
	}
	var buf bytes.Buffer
	if err := s.Audit().Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	rep2, err := audit.Verify(ctx, audit.NewExportReader(&buf), audit.VerifyOptions{Trusted: trusted})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries == 0 || rep2.Entries != 0 || rep.Transactions == 0 || rep2.Transactions != 0 {
		t.Fatalf("store report checked %d history lines and %d transactions, export report %d and %d; want some and none (exports carry neither)",
			rep.Entries, rep.Transactions, rep2.Entries, rep2.Transactions)
	}
	if rep2.Documents != 0 {
		t.Fatalf("export report checked %d documents; exports carry none", rep2.Documents)
	}
	rep2.Entries, rep2.Transactions, rep2.Documents = rep.Entries, rep.Transactions, rep.Documents
	if !reflect.DeepEqual(rep2, rep) {
		t.Fatalf("export report %+v, store report %+v", rep2, rep)
	}
}

func TestExportTruncatedIsRefused(t *testing.T) {
	_, s := fixture(t, true)
	var buf bytes.Buffer
	if err := s.Audit().Export(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	size, _, err := s.Audit().Size()
	if err != nil {
		t.Fatal(err)
	}
	// Cut anywhere after its header, an export fails at the first seq it
	// lacks (for a cut end frame, the seq after its last record); cut
	// inside its header, it is no export at all.
	for _, cut := range []int{1, 5, buf.Len() / 2, buf.Len() - 1} {
		_, err := audit.Verify(context.Background(), audit.NewExportReader(bytes.NewReader(buf.Bytes()[:buf.Len()-cut])), audit.VerifyOptions{})
		ve, ok := audit.IsVerifyError(err)
		switch {
		case cut <= 5 && (!ok || ve.Seq != size || ve.Reason != audit.ReasonSeq):
			t.Errorf("export's end frame cut by %d bytes: got %v, want a failure at seq %d", cut, err, size)
		case ok && (ve.Seq > size || ve.Reason != audit.ReasonSeq):
			t.Errorf("export cut by %d bytes: got %v", cut, err)
		case !ok && !errors.Is(err, audit.ErrExport):
			t.Errorf("export cut by %d bytes: got %v, want a failure or ErrExport", cut, err)
		}
	}
}

func TestReceiptAndKeys(t *testing.T) {
	_, s := fixture(t, true)
	keys, err := s.Audit().VerifierKeys()
	if err != nil || len(keys) != 2 {
		t.Fatalf("verifier keys %v, %v; want 2", keys, err)
	}
	size, _, _ := s.Audit().Size()
	for seq := uint64(0); seq < size; seq++ {
		rc, err := s.Audit().Receipt(seq)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := rc.Verify(keys[1])
		if err != nil || rec.Seq != seq {
			t.Fatalf("receipt %d: %v", seq, err)
		}
		if _, err := rc.Verify(keys[0]); !errors.Is(err, audit.ErrSignature) {
			t.Fatalf("receipt %d with the rotated-out key: got %v, want ErrSignature", seq, err)
		}
		rc.Record[len(rc.Record)-1] ^= 1
		if _, err := rc.Verify(keys[1]); err == nil {
			t.Fatalf("receipt %d with a changed record verified", seq)
		}
	}
	auditSubmit(t, s, auditTransfer("issuance", "alice", 1, false))
	if _, err := s.Audit().Receipt(size); ledger.ErrorCode(err) != ledger.CodeUnavailable {
		t.Fatalf("receipt before its checkpoint: got %v, want unavailable", err)
	}
	if _, err := s.Audit().Receipt(size + 5); ledger.ErrorCode(err) != ledger.CodeNotFound {
		t.Fatalf("receipt of a missing record: got %v, want not_found", err)
	}
}

func TestCheckpointOnlyWhenGrown(t *testing.T) {
	_, s := fixture(t, true)
	if n, err := s.Checkpoint(context.Background()); err != nil || n != 0 {
		t.Fatalf("checkpoint with no growth: %d, %v; want 0, nil", n, err)
	}
	cks, err := s.Audit().Checkpoints(0, 0)
	if err != nil || len(cks) != 5 {
		t.Fatalf("checkpoints: %d, %v; want 5", len(cks), err)
	}
}

// TestRotationSignsTheTreeBeforeIt: a key rotation stores, in its own
// commit, the old key's checkpoint of the tree just before the key.rotate
// record (records after the last periodic checkpoint included); a log
// without that checkpoint fails verification at the rotation (key).
func TestRotationSignsTheTreeBeforeIt(t *testing.T) {
	_, s := fixture(t, true)
	keys, err := s.Audit().VerifierKeys()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	cks, err := s.Audit().Checkpoints(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var r uint64
	for seq := uint64(0); ; seq++ {
		rec, err := s.Audit().Record(seq)
		if err != nil {
			t.Fatalf("no key.rotate record: %v", err)
		}
		if d, _ := audit.Decode(rec.Record); d != nil && d.Action == audit.ActionKeyRotate {
			r = seq
			break
		}
	}
	var found bool
	for _, c := range cks {
		if uint64(c.Size) == r {
			found = true
			if _, err := audit.OpenCheckpoint(c.Note, keys[0]); err != nil {
				t.Fatalf("checkpoint %d not signed by the old key: %v", r, err)
			}
		}
	}
	if !found {
		t.Fatalf("no checkpoint of size %d (the tree before the rotation); have %v", r, cks)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(checkpointKey(r)) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Audit().Verify(context.Background(), audit.VerifyOptions{}); !isVerifyFailure(err, r, audit.ReasonKey) {
		t.Fatalf("without the old key's last checkpoint: %v, want key at %d", err, r)
	}
}

func isVerifyFailure(err error, seq uint64, reason audit.Reason) bool {
	ve, ok := audit.IsVerifyError(err)
	return ok && ve.Seq == seq && ve.Reason == reason
}

func TestCheckpointNeedsKey(t *testing.T) {
	s := openAuditTest(t)
	auditSubmit(t, s, func(tx ledger.Tx) (any, error) {
		tx.Audit("note", map[string]any{"n": 1})
		return nil, nil
	})
	if _, err := s.Checkpoint(context.Background()); !errors.Is(err, ErrNoCheckpointKey) {
		t.Fatalf("checkpoint without key: got %v, want ErrNoCheckpointKey", err)
	}
}

func openAuditTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestEnsureCheckpointKeyIsIdempotent(t *testing.T) {
	s := openAuditTest(t)
	ctx := context.Background()
	v1, err := s.EnsureCheckpointKey(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := s.EnsureCheckpointKey(ctx, "other.origin")
	if err != nil || v2 != v1 {
		t.Fatalf("second ensure: %q, %v; want %q", v2, err, v1)
	}
	size, _, _ := s.Audit().Size()
	if size != 1 {
		t.Fatalf("log size %d after two ensures, want 1 key.create record", size)
	}
	if _, err := s.EnsureCheckpointKey(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := openAuditTest(t).EnsureCheckpointKey(ctx, "bad origin+"); ledger.ErrorCode(err) != ledger.CodeInvalidRequest {
		t.Fatalf("bad origin: got %v, want invalid_request", err)
	}
}

// TestCheckpointRefusesInconsistentTree: if the latest stored checkpoint
// names a tree the log does not extend, nothing new is signed.
func TestCheckpointRefusesInconsistentTree(t *testing.T) {
	_, s := fixture(t, false)
	ctx := context.Background()
	latest, err := s.Audit().LatestCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := audit.CheckpointBody(latest.Note)
	c.Hash[0] ^= 1
	var ck signingKey
	if err := s.View(ctx, func(r ledger.Reader) error { return r.Doc(checkpointKeyKind, checkpointKeyID, &ck) }); err != nil {
		t.Fatal(err)
	}
	forged, err := audit.SignCheckpoint(c, ck.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(checkpointKey(latest.Size), forged) }); err != nil {
		t.Fatal(err)
	}
	auditSubmit(t, s, auditTransfer("issuance", "alice", 1, false))
	if _, err := s.Checkpoint(ctx); !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("checkpoint over an inconsistent tree: got %v, want ErrInconsistent", err)
	}
}

// TestRunCheckpointerStops: the loop ends when its context is cancelled
// and when the store closes, so serve can wait for it before Close.
func TestRunCheckpointerStops(t *testing.T) {
	s := openAuditTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.RunCheckpointer(ctx, 0, nil); close(done) }()
	cancel()
	<-done
	done2 := make(chan struct{})
	go func() { s.RunCheckpointer(context.Background(), CheckpointInterval, func(error) {}); close(done2) }()
	s.Close()
	<-done2
}

// TestHoldWritesUntilVerified: from HoldWrites until VerifyLog is done a
// store takes no writes, fires no timers and signs no checkpoint (a
// server verifying a large log after a start signs nothing over it);
// then it does.
func TestHoldWritesUntilVerified(t *testing.T) {
	_, s := fixture(t, false)
	auditSubmit(t, s, auditTransfer("issuance", "alice", 1, false))
	s.HoldWrites()
	if _, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: auditTransfer("issuance", "alice", 1, false)}); ledger.ErrorCode(err) != ledger.CodeUnavailable {
		t.Fatalf("a write while verifying: %v, want unavailable", err)
	}
	if n, err := s.Checkpoint(context.Background()); n != 0 || err != nil {
		t.Fatalf("a checkpoint while verifying: %d, %v", n, err)
	}
	if s.Ready() == nil {
		t.Fatal("ready while verifying")
	}
	// A verification stopped before its end (the server stopping) leaves
	// the log unverified: still nothing signed over it, nor marked damaged.
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	s.VerifyLog(stopped)
	if n, err := s.Checkpoint(context.Background()); n != 0 || err != nil || !s.Verifying() || s.Damaged() != nil {
		t.Fatalf("after a stopped verification: checkpoint %d (%v), verifying %v, damaged %v", n, err, s.Verifying(), s.Damaged())
	}
	if _, err := s.VerifyLog(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); err != nil {
		t.Fatalf("not ready after verifying: %v", err)
	}
	if n, err := s.Checkpoint(context.Background()); n == 0 || err != nil {
		t.Fatalf("the checkpoint after verifying: %d, %v", n, err)
	}
	auditSubmit(t, s, auditTransfer("issuance", "alice", 1, false))
}

// TestRecordsPages: Records returns the same records whether a range is
// read by Gets (short ranges) or by one iterator (long ones), stops at the
// log's end, and names a record missing inside the range either way.
func TestRecordsPages(t *testing.T) {
	_, s := fixture(t, true)
	a := s.Audit()
	size, _, err := a.Size()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]AuditRecord, size)
	for seq := range want {
		if want[seq], err = a.Record(uint64(seq)); err != nil {
			t.Fatal(err)
		}
	}
	for from := uint64(0); from <= size+1; from++ {
		for _, limit := range []int{1, recordsScanMin - 1, recordsScanMin, recordsScanMin + 1, int(size), MaxRecordsPage + 1} {
			got, next, err := a.Records(from, limit)
			if err != nil {
				t.Fatalf("from %d limit %d: %v", from, limit, err)
			}
			lo := min(from, size)
			hi := min(lo+uint64(min(limit, MaxRecordsPage)), size)
			if !reflect.DeepEqual(got, want[lo:hi]) && !(len(got) == 0 && lo == hi) {
				t.Fatalf("from %d limit %d: %d records, want %d", from, limit, len(got), hi-lo)
			}
			if wantNext := hi; (hi < size && next != wantNext) || (hi >= size && next != 0) {
				t.Fatalf("from %d limit %d: next %d", from, limit, next)
			}
		}
	}
	gone := size / 2
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(recordKey(gone)) }); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{1, recordsScanMin, int(size)} {
		from := gone + 1 - uint64(min(limit, int(gone)+1))
		if _, _, err := a.Records(from, limit); !errors.Is(err, errNotFound) {
			t.Fatalf("limit %d over the missing record %d: %v", limit, gone, err)
		}
	}
}
