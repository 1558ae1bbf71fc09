package audit

import (
	"context"
	"testing"
)

// repeatFrame passes, after the checkpoint of size, a second frame of that
// size (an export is a file anyone can edit).
type repeatFrame struct {
	Source
	size uint64
	bad  []byte
}

type repeatVisitor struct {
	Visitor
	size uint64
	bad  []byte
}

func (s repeatFrame) Walk(ctx context.Context, v Visitor) error {
	return s.Source.Walk(ctx, repeatVisitor{v, s.size, s.bad})
}

func (v repeatVisitor) Checkpoint(size uint64, note []byte) error {
	if err := v.Visitor.Checkpoint(size, note); err != nil {
		return err
	}
	if size == v.size {
		return v.Visitor.Checkpoint(size, v.bad)
	}
	return nil
}

// TestUnprovenRange: a checkpoint that fails (its signature) names the
// records no good or trusted checkpoint proves: a repeated frame of a
// size already proven names its last record, not an empty range past the
// log; a trusted checkpoint between the last good one and the failing one
// narrows the range (review s19R3).
func TestUnprovenRange(t *testing.T) {
	m, skey, _ := ledgerLog(t)
	m.checkpoint(t, "tally.test/log", skey)
	m.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	if _, err := Verify(context.Background(), m, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	stranger, _, _ := GenerateCheckpointKey("tally.test/log")
	good := m.cks[3]
	bad := m.checkpoint(t, "tally.test/log", stranger)
	m.cks[3] = good
	_, err := Verify(context.Background(), repeatFrame{m, 3, bad}, VerifyOptions{})
	if ve, ok := IsVerifyError(err); !ok || ve.Reason != ReasonSignature || ve.Seq != 2 || ve.End != 3 {
		t.Fatalf("a repeated frame with a bad signature: %v, want seq 2 (2..2)", err)
	}

	m, skey, _ = ledgerLog(t)
	m.checkpoint(t, "tally.test/log", skey)
	m.add(t, "tx.transfer", effects(moveFx("move", "tx-3", "alice", "bob", 100)))
	trusted := m.checkpoint(t, "tally.test/log", skey)
	delete(m.cks, 4)
	m.add(t, "tx.transfer", effects(moveFx("move", "tx-4", "alice", "bob", 100)))
	m.checkpoint(t, "tally.test/log", stranger)
	m.accounts(acct("alice", "no_overdraft", 0, 0, 200, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 200, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	_, err = Verify(context.Background(), m, VerifyOptions{Trusted: [][]byte{trusted}})
	if ve, ok := IsVerifyError(err); !ok || ve.Reason != ReasonSignature || ve.Seq != 4 || ve.End != 5 {
		t.Fatalf("checkpoint 5 signed by a stranger, 4 trusted: %v, want seq 4", err)
	}
}
