package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"

	"tally/ledger"
)

func idemReq(actor, key, body string, op ledger.Op) ledger.Request {
	return ledger.Request{Actor: ledger.Actor{ID: actor}, IdemKey: key, Fingerprint: sha256.Sum256([]byte(body)), Op: op}
}

// TestIdempotency: the same key and request returns the original result
// and writes nothing; the same key with another request is a conflict; keys
// are scoped to the actor; a failed request is not remembered.
func TestIdempotency(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	fund(t, s, 1000, "alice", "bob")
	first, err := s.Submit(ctx, idemReq("alice", "k1", "pay 100", transferOp(pay("alice", "bob", 100))))
	if err != nil {
		t.Fatal(err)
	}
	if first.Replayed || len(first.JSON) == 0 {
		t.Fatalf("first: replayed %v, JSON %q; want fresh with JSON", first.Replayed, first.JSON)
	}
	size := headSize(t, s)
	again, err := s.Submit(ctx, idemReq("alice", "k1", "pay 100", transferOp(pay("alice", "bob", 100))))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Replayed || again.Seq != first.Seq || !bytes.Equal(again.JSON, first.JSON) {
		t.Fatalf("retry: replayed %v seq %d JSON %s; want replayed seq %d JSON %s", again.Replayed, again.Seq, again.JSON, first.Seq, first.JSON)
	}
	if got := headSize(t, s); got != size {
		t.Fatalf("head after retry: got %d, want %d (nothing written)", got, size)
	}
	if bal, _ := balance(t, s, "bob"); bal != 100 {
		t.Fatalf("bob after retry: got %d, want 100", bal)
	}
	_, err = s.Submit(ctx, idemReq("alice", "k1", "pay 200", transferOp(pay("alice", "bob", 200))))
	wantCode(t, "same key, other request", err, ledger.CodeIdempotencyConflict)
	if got := headSize(t, s); got != size {
		t.Fatalf("head after conflict: got %d, want %d", got, size)
	}
	other, err := s.Submit(ctx, idemReq("bob", "k1", "pay 100", transferOp(pay("bob", "alice", 100))))
	if err != nil || other.Replayed {
		t.Fatalf("other actor, same key: replayed %v err %v; want a fresh commit", other.Replayed, err)
	}

	_, err = s.Submit(ctx, idemReq("alice", "k2", "pay lots", transferOp(pay("alice", "bob", 5000))))
	wantCode(t, "overdraft", err, ledger.CodeInsufficientFunds)
	if _, err := s.Submit(ctx, idemReq("alice", "k2", "pay lots", transferOp(pay("alice", "bob", 50)))); err != nil {
		t.Fatalf("retry of a failed request: %v, want success (failures are not remembered)", err)
	}

	_, err = s.Submit(ctx, idemReq("alice", strings.Repeat("k", ledger.MaxIdempotencyKeyLen+1), "x", transferOp(pay("alice", "bob", 1))))
	wantCode(t, "long key", err, ledger.CodeInvalidRequest)
	_, err = s.Submit(ctx, idemReq("ali/ce", "k", "x", transferOp(pay("alice", "bob", 1))))
	wantCode(t, "actor with a slash", err, ledger.CodeInvalidRequest)
	checkInvariants(t, s)
}

// TestIdempotencyAcrossRestart: keys survive a reopen.
func TestIdempotencyAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := openWith(t, dir, nil)
	fund(t, s, 1000, "alice", "bob")
	req := idemReq("alice", "k", "pay", transferOp(pay("alice", "bob", 100)))
	first, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openWith(t, dir, nil)
	again, err := s.Submit(context.Background(), req)
	if err != nil || !again.Replayed || again.Seq != first.Seq {
		t.Fatalf("after reopen: replayed %v seq %d err %v; want replay of seq %d", again.Replayed, again.Seq, err, first.Seq)
	}
}

// TestIdempotencyConcurrent submits one key from many goroutines, once in
// a single batch and once free-running: exactly one writes.
func TestIdempotencyConcurrent(t *testing.T) {
	for _, gated := range []bool{true, false} {
		s := openTest(t)
		fund(t, s, 100000, "alice", "bob")
		size := headSize(t, s)
		var release func(int)
		if gated {
			release = gate(t, s)
		}
		const n = 32
		var wg sync.WaitGroup
		res := make([]ledger.Result, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				res[i], errs[i] = s.Submit(context.Background(), idemReq("alice", "once", "pay", transferOp(pay("alice", "bob", 100))))
			})
		}
		if release != nil {
			release(n)
		}
		wg.Wait()
		fresh := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("gated %v: submit %d: %v", gated, i, errs[i])
			}
			if !res[i].Replayed {
				fresh++
			}
			if res[i].Seq != res[0].Seq {
				t.Fatalf("gated %v: result %d seq %d, want %d", gated, i, res[i].Seq, res[0].Seq)
			}
		}
		if fresh != 1 || headSize(t, s) != size+1 {
			t.Fatalf("gated %v: %d fresh commits, head %d; want 1 and %d", gated, fresh, headSize(t, s), size+1)
		}
		if bal, _ := balance(t, s, "bob"); bal != 100 {
			t.Fatalf("gated %v: bob %d, want 100", gated, bal)
		}
	}
}
