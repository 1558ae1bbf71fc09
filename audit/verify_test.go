package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// memLog is a log built in memory: a Source for the verifier's tests and
// benchmarks, with what the store would keep beside the records.
type memLog struct {
	records [][]byte
	stored  [][]Hash
	tree    map[int64]Hash
	cks     map[uint64][]byte
	accts   []*Account
	head    Head
	keys    []string
	prev    Hash
	time    int64
}

func newMemLog() *memLog { return &memLog{tree: map[int64]Hash{}, cks: map[uint64][]byte{}} }

func (m *memLog) ReadHashes(idx []int64) ([]Hash, error) {
	out := make([]Hash, len(idx))
	for i, x := range idx {
		out[i] = m.tree[x]
	}
	return out, nil
}

// add appends a record with the given action and content.
func (m *memLog) add(tb testing.TB, action string, content map[string]any) {
	tb.Helper()
	m.time += 1000
	n := uint64(len(m.records))
	b, err := Encode(&Record{Seq: n, Prev: m.prev, Time: m.time, Actor: "admin", Action: action, Content: content})
	if err != nil {
		tb.Fatal(err)
	}
	hs, err := tlog.StoredHashes(int64(n), b, m)
	if err != nil {
		tb.Fatal(err)
	}
	for i, h := range hs {
		m.tree[tlog.StoredHashIndex(0, int64(n))+int64(i)] = h
	}
	m.records, m.stored = append(m.records, b), append(m.stored, hs)
	m.prev = LeafHash(b)
	m.head = Head{Size: n + 1, Last: m.prev}
}

// checkpoint signs the current tree with skey.
func (m *memLog) checkpoint(tb testing.TB, origin, skey string) []byte {
	tb.Helper()
	root, err := tlog.TreeHash(int64(len(m.records)), m)
	if err != nil {
		tb.Fatal(err)
	}
	note, err := SignCheckpoint(Checkpoint{Origin: origin, Size: int64(len(m.records)), Hash: root}, skey)
	if err != nil {
		tb.Fatal(err)
	}
	m.cks[uint64(len(m.records))] = note
	return note
}

func (m *memLog) Walk(ctx context.Context, v Visitor) error {
	if err := v.Begin(m.head, m.keys); err != nil {
		return err
	}
	for n, b := range m.records {
		if note, ok := m.cks[uint64(n)]; ok {
			if err := v.Checkpoint(uint64(n), note); err != nil {
				return err
			}
		}
		if err := v.Record(uint64(n), b, m.stored[n]); err != nil {
			return err
		}
	}
	if note, ok := m.cks[uint64(len(m.records))]; ok {
		if err := v.Checkpoint(uint64(len(m.records)), note); err != nil {
			return err
		}
	}
	for _, a := range m.accts {
		if err := v.Account(a); err != nil {
			return err
		}
	}
	return nil
}

func openFx(id, guard string, limit, maxBal int64) map[string]any {
	return map[string]any{"op": "open", "account": id, "unit": "HOUR", "owner_kind": "member", "owner": id,
		"kind": "member", "guard": guard, "credit_limit": limit, "max_balance": maxBal, "status": "open"}
}

func moveFx(op, tx, from, to string, amt int64) map[string]any {
	return map[string]any{"op": op, "tx": tx, "from": from, "to": to, "unit": "HOUR", "amount": amt}
}

func effects(fx ...map[string]any) map[string]any {
	l := make([]any, len(fx))
	for i, f := range fx {
		l[i] = f
	}
	return map[string]any{"effects": l}
}

// ledgerLog builds a small valid log: a key, three accounts, and fund
// issuance to alice; more records can follow.
func ledgerLog(tb testing.TB) (*memLog, string, string) {
	skey, vkey, err := GenerateCheckpointKey("tally.test/log")
	if err != nil {
		tb.Fatal(err)
	}
	m := newMemLog()
	m.keys = []string{vkey}
	m.add(tb, ActionKeyCreate, map[string]any{"vkey": vkey, "origin": "tally.test/log"})
	m.add(tb, "account.open", effects(openFx("issuance", "none", 0, 0), openFx("alice", "no_overdraft", 0, 0),
		openFx("bob", "credit_limit", 100, 1000)))
	m.add(tb, "tx.transfer", effects(moveFx("move", "tx-2", "issuance", "alice", 500)))
	return m, skey, vkey
}

// accounts sets the stored accounts to what the replay gives.
func (m *memLog) accounts(as ...Account) {
	m.accts = nil
	for i := range as {
		m.accts = append(m.accts, &as[i])
	}
}

// acct is a stored account as openFx opens it (owned by the member of its
// id), with balances.
func acct(id, guard string, limit, maxBal, dp, cp, dpend, cpend int64) Account {
	return Account{ID: id, Unit: "HOUR", Guard: guard, Status: "open", OwnerKind: "member", Owner: id, Kind: "member",
		CreditLimit: limit, MaxBalance: maxBal, DebitsPosted: dp, CreditsPosted: cp, DebitsPending: dpend, CreditsPending: cpend}
}

func TestVerifyLedgerLog(t *testing.T) {
	m, skey, _ := ledgerLog(t)
	m.checkpoint(t, "tally.test/log", skey)
	m.add(t, "tx.transfer", effects(moveFx("hold", "tx-3", "alice", "bob", 200)))
	m.add(t, "tx.post", effects(moveFx("release", "tx-3", "alice", "bob", 200), moveFx("move", "tx-4", "alice", "bob", 150)))
	m.checkpoint(t, "tally.test/log", skey)
	m.accounts(acct("alice", "no_overdraft", 0, 0, 150, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 150, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	rep, err := Verify(context.Background(), m, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 5 || rep.Checkpoints != 2 || rep.Accounts != 3 || rep.Keys != 1 || rep.Latest != 5 {
		t.Fatalf("report %+v", rep)
	}
	// Stored accounts come in id order, each once: two swapped, or one
	// listed twice, fail.
	a, b, i := *m.accts[0], *m.accts[1], *m.accts[2]
	for name, order := range map[string][]Account{"swapped": {b, a, i}, "twice": {a, a, b, i}} {
		m.accounts(order...)
		if _, err := Verify(context.Background(), m, VerifyOptions{}); err == nil {
			t.Fatalf("accounts %s: verified", name)
		} else if ve, ok := IsVerifyError(err); !ok || ve.Reason != ReasonBalance {
			t.Fatalf("accounts %s: %v", name, err)
		}
	}
}

func TestVerifyGuardsAndEffects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fx     map[string]any
		reason Reason
	}{
		{"overdraft", effects(moveFx("move", "t", "alice", "bob", 501)), ReasonGuard},
		{"credit limit", effects(moveFx("move", "t", "bob", "alice", 101)), ReasonGuard},
		{"max balance", effects(moveFx("move", "t", "issuance", "bob", 1001)), ReasonGuard},
		{"hold over available", effects(moveFx("hold", "t", "alice", "bob", 501)), ReasonGuard},
		{"release without hold", effects(moveFx("release", "t", "alice", "bob", 1)), ReasonEffects},
		{"unknown account", effects(moveFx("move", "t", "alice", "carol", 1)), ReasonEffects},
		{"open twice", effects(openFx("alice", "none", 0, 0)), ReasonEffects},
		{"zero amount", effects(moveFx("move", "t", "alice", "bob", 0)), ReasonEffects},
		{"unknown op", effects(moveFx("burn", "t", "alice", "bob", 1)), ReasonEffects},
		{"effects not a list", map[string]any{"effects": "move"}, ReasonEffects},
		{"amount not an int", effects(map[string]any{"op": "move", "tx": "t", "from": "alice", "to": "bob", "unit": "HOUR", "amount": "5"}), ReasonEffects},
		{"key without vkey", map[string]any{"origin": "x"}, ReasonKey},
		{"unknown guard", effects(openFx("carol", "banana", 0, 0)), ReasonEffects},
		{"negative credit limit", effects(openFx("carol", "credit_limit", -100, 0)), ReasonEffects},
		{"negative max balance", effects(openFx("carol", "no_overdraft", 0, -1)), ReasonEffects},
		{"status to a negative credit limit", effects(func() map[string]any {
			f := openFx("bob", "credit_limit", -1, 1000)
			f["op"] = "status"
			return f
		}()), ReasonEffects},
		{"status with unknown guard", effects(func() map[string]any {
			f := openFx("alice", "banana", 0, 0)
			f["op"] = "status"
			return f
		}()), ReasonEffects},
		{"unknown status", effects(func() map[string]any {
			f := openFx("alice", "no_overdraft", 0, 0)
			f["op"], f["status"] = "status", "sleeping"
			return f
		}()), ReasonEffects},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := ledgerLog(t)
			action := "tx.transfer"
			if tc.reason == ReasonKey {
				action = ActionKeyRotate
			}
			m.add(t, action, tc.fx)
			_, err := Verify(context.Background(), m, VerifyOptions{})
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Seq != 3 || ve.Reason != tc.reason {
				t.Fatalf("got %v, want failure at 3 (%s)", err, tc.reason)
			}
		})
	}
}

func TestVerifyHoldReleasedTwice(t *testing.T) {
	m, _, _ := ledgerLog(t)
	m.add(t, "tx.transfer", effects(moveFx("hold", "h", "alice", "bob", 100)))
	m.add(t, "tx.void", effects(moveFx("release", "h", "alice", "bob", 100)))
	m.add(t, "tx.void", effects(moveFx("release", "h", "alice", "bob", 100)))
	_, err := Verify(context.Background(), m, VerifyOptions{})
	if ve, ok := IsVerifyError(err); !ok || ve.Seq != 5 || ve.Reason != ReasonEffects {
		t.Fatalf("got %v, want failure at 5 (effects)", err)
	}
}

func TestVerifyFrozenAccountRefusesPostings(t *testing.T) {
	m, _, _ := ledgerLog(t)
	frozen := openFx("bob", "credit_limit", 100, 1000)
	frozen["op"], frozen["status"] = "status", "frozen"
	m.add(t, "account.status", effects(frozen))
	m.add(t, "tx.transfer", effects(moveFx("move", "t", "alice", "bob", 1)))
	_, err := Verify(context.Background(), m, VerifyOptions{})
	if ve, ok := IsVerifyError(err); !ok || ve.Seq != 4 || ve.Reason != ReasonGuard {
		t.Fatalf("got %v, want failure at 4 (guard)", err)
	}
}

func TestVerifyTimeAndHead(t *testing.T) {
	m, _, _ := ledgerLog(t)
	m.time -= 5000
	m.add(t, "note", nil)
	if _, err := Verify(context.Background(), m, VerifyOptions{}); !isFailure(err, 3, ReasonTime) {
		t.Fatalf("time backwards: got %v", err)
	}
	m, _, _ = ledgerLog(t)
	m.head.Size++
	if _, err := Verify(context.Background(), m, VerifyOptions{}); !isFailure(err, 3, ReasonHead) {
		t.Fatalf("head beyond the log: got %v", err)
	}
}

func TestVerifyCheckpointBeforeKey(t *testing.T) {
	skey, _, _ := GenerateCheckpointKey("tally.test/log")
	m := newMemLog()
	m.add(t, "note", nil)
	m.checkpoint(t, "tally.test/log", skey)
	if _, err := Verify(context.Background(), m, VerifyOptions{}); !isFailure(err, 0, ReasonKey) {
		t.Fatalf("checkpoint before any key record: got %v", err)
	}
}

func TestVerifyCheckpointWithOtherKey(t *testing.T) {
	m, _, _ := ledgerLog(t)
	other, _, _ := GenerateCheckpointKey("tally.test/log")
	m.checkpoint(t, "tally.test/log", other)
	// No signature covers the records it would: the range is named.
	_, err := Verify(context.Background(), m, VerifyOptions{})
	if ve, ok := IsVerifyError(err); !isFailure(err, 0, ReasonSignature) || !ok || ve.End != 3 {
		t.Fatalf("checkpoint signed by a stranger: got %v", err)
	}
}

func isFailure(err error, seq uint64, r Reason) bool {
	ve, ok := IsVerifyError(err)
	return ok && ve.Seq == seq && ve.Reason == r
}

func TestExportRoundTrip(t *testing.T) {
	m, skey, _ := ledgerLog(t)
	m.checkpoint(t, "tally.test/log", skey)
	m.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	buf := exportOf(t, m)
	var again bytes.Buffer
	x2 := NewExportWriter(&again)
	if err := NewExportReader(bytes.NewReader(buf.Bytes())).Walk(context.Background(), x2); err != nil {
		t.Fatal(err)
	}
	x2.Close()
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("export → read → export changed the bytes")
	}
	appended := append(bytes.Clone(buf.Bytes()), 0)
	if _, err := Verify(context.Background(), NewExportReader(bytes.NewReader(appended)), VerifyOptions{}); !errors.Is(err, ErrExport) {
		t.Fatalf("an export with a byte after its end: %v, want ErrExport", err)
	}
	rep, err := Verify(context.Background(), NewExportReader(buf), VerifyOptions{})
	if err != nil || rep.Records != 3 || rep.Accounts != 3 {
		t.Fatalf("verify export: %+v, %v", rep, err)
	}
}

// BenchmarkVerify measures offline verification (decode, hash, tree,
// replay) of a log of transfers, in records per second.
func BenchmarkVerify(b *testing.B) {
	const n = 100_000
	m, skey, _ := ledgerLog(b)
	for i := 3; i < n; i++ {
		m.add(b, "tx.transfer", map[string]any{"id": fmt.Sprintf("tx-%d", i), "kind": "transfer", "status": "posted",
			"postings": []any{map[string]any{"from": "issuance", "to": "alice", "amount": int64(1), "unit": "HOUR"}},
			"memo":     "weekly shopping for an elder neighbour",
			"effects":  []any{moveFx("move", fmt.Sprintf("tx-%d", i), "issuance", "alice", 1)}})
		if i%1000 == 0 {
			m.checkpoint(b, "tally.test/log", skey)
		}
	}
	moved := int64(n - 3)
	m.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500+moved, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 500+moved, 0, 0, 0))
	b.Run("memory", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Verify(context.Background(), m, VerifyOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// TestTrustedCheckpointOfAnotherLog: a checkpoint of another origin is
// named as such, not as a rewrite of this log.
func TestTrustedCheckpointOfAnotherLog(t *testing.T) {
	m, skey, _ := ledgerLog(t)
	m.checkpoint(t, "tally.test/log", skey)
	m.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	oskey, _, err := GenerateCheckpointKey("tally.test/other")
	if err != nil {
		t.Fatal(err)
	}
	other, err := SignCheckpoint(Checkpoint{Origin: "tally.test/other", Size: int64(len(m.records)), Hash: Hash{1}}, oskey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(context.Background(), m, VerifyOptions{Trusted: [][]byte{other}})
	ve, ok := IsVerifyError(err)
	if !ok || ve.Reason != ReasonTrusted || !strings.Contains(ve.Detail, "another log") {
		t.Fatalf("a checkpoint of another log: %v, want a trusted_checkpoint failure naming another log", err)
	}
}

// TestVerifyPostExemptsOnlyWhatWasReleased: a post's move skips the guard
// checks only for what its record released between the same accounts; a
// record that releases a hold and then moves anything else, or more, is
// checked like any transfer (an independent verifier found both
// accepted).
func TestVerifyPostExemptsOnlyWhatWasReleased(t *testing.T) {
	release := func(amt int64) map[string]any {
		fx := moveFx("release", "tx-3", "alice", "bob", amt)
		fx["by"] = "tx-4"
		return fx
	}
	for _, tc := range []struct {
		name string
		fx   map[string]any
		ok   bool
	}{
		{"post in full", effects(release(100), moveFx("move", "tx-4", "alice", "bob", 100)), true},
		{"post in part", effects(release(100), moveFx("move", "tx-4", "alice", "bob", 40)), true},
		{"another pair rides on the release", effects(release(100), moveFx("move", "tx-4", "bob", "alice", 101)), false},
		{"more than released", effects(release(100), moveFx("move", "tx-4", "alice", "bob", 501)), false},
		{"the release covers one move only", effects(release(100), moveFx("move", "tx-4", "alice", "bob", 100), moveFx("move", "tx-4", "alice", "bob", 401)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := ledgerLog(t)
			m.add(t, "tx.hold", effects(moveFx("hold", "tx-3", "alice", "bob", 100)))
			m.add(t, "tx.post", tc.fx)
			_, err := Verify(context.Background(), m, VerifyOptions{})
			ve, bad := IsVerifyError(err)
			switch {
			case tc.ok && bad && ve.Reason != ReasonBalance:
				t.Fatalf("a genuine post failed: %v", err)
			case !tc.ok && (!bad || ve.Seq != 4 || ve.Reason != ReasonGuard):
				t.Fatalf("got %v, want a guard failure at 4", err)
			}
		})
	}
}

// TestTrustedCheckpointDamaged: a saved checkpoint whose body was changed
// (its root or size) no longer verifies with any key of the log; the
// failure says the file may be damaged instead of only blaming the log.
func TestTrustedCheckpointDamaged(t *testing.T) {
	m, skey, _ := ledgerLog(t)
	cp := m.checkpoint(t, "tally.test/log", skey)
	m.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	lines := strings.SplitN(string(cp), "\n", 4)
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	root[0] ^= 1
	lines[2] = base64.StdEncoding.EncodeToString(root)
	damaged := []byte(strings.Join(lines, "\n"))
	_, err = Verify(context.Background(), m, VerifyOptions{Trusted: [][]byte{damaged}})
	ve, ok := IsVerifyError(err)
	if !ok || ve.Reason != ReasonTrusted || !strings.Contains(ve.Detail, "damaged") {
		t.Fatalf("damaged trusted checkpoint: %v; want a trusted_checkpoint failure naming a damaged file", err)
	}
	if _, err := Verify(context.Background(), m, VerifyOptions{Trusted: [][]byte{cp}}); err != nil {
		t.Fatalf("the intact checkpoint: %v", err)
	}
}

// TestVerifyTrustedKeys: a log forged whole, with a key record of its own
// and checkpoints signed by that key, verifies on its own keys; given the
// key the operator publishes (--key), it fails at the key record that put
// the forger's key in force. After a rotation the latest checkpoint's key
// is the one to give; no checkpoint at all signs nothing.
func TestVerifyTrustedKeys(t *testing.T) {
	_, _, real := ledgerLog(t)
	forged, fskey, fvkey := ledgerLog(t) // same shape, the forger's key
	forged.checkpoint(t, "tally.test/log", fskey)
	forged.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	if _, err := Verify(context.Background(), forged, VerifyOptions{}); err != nil {
		t.Fatalf("on its own keys: %v", err)
	}
	if _, err := Verify(context.Background(), forged, VerifyOptions{Keys: []string{real}}); !isFailure(err, 0, ReasonTrustedKey) {
		t.Fatalf("forged log against the published key: %v, want trusted_key at 0", err)
	}
	if _, err := Verify(context.Background(), forged, VerifyOptions{Keys: []string{fvkey}}); err != nil {
		t.Fatalf("its own key given: %v", err)
	}
	// Every key given must be one of the log's: an earlier key the auditor
	// kept, left out of a log rewritten under the current one, fails it.
	if _, err := Verify(context.Background(), forged, VerifyOptions{Keys: []string{fvkey, real}}); !isFailure(err, 0, ReasonTrustedKey) {
		t.Fatalf("a given key the log never had: %v, want trusted_key at 0", err)
	}
	if _, err := Verify(context.Background(), forged, VerifyOptions{Keys: []string{"not a key"}}); err == nil || errors.Is(err, ErrVerify) {
		t.Fatalf("a malformed key is a usage error: %v", err)
	}

	// A rotation: the latest checkpoint is signed by the new key.
	rotated, skey1, vkey1 := ledgerLog(t)
	rotated.checkpoint(t, "tally.test/log", skey1)
	skey2, vkey2, _ := GenerateCheckpointKey("tally.test/log")
	rotated.add(t, ActionKeyRotate, map[string]any{"vkey": vkey2, "origin": "tally.test/log", "previous": vkey1})
	rotated.keys = []string{vkey1, vkey2}
	rotated.checkpoint(t, "tally.test/log", skey2)
	rotated.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	if _, err := Verify(context.Background(), rotated, VerifyOptions{Keys: []string{vkey2}}); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if _, err := Verify(context.Background(), rotated, VerifyOptions{Keys: []string{vkey1}}); !isFailure(err, 3, ReasonTrustedKey) {
		t.Fatalf("only the old key: %v, want trusted_key at the rotation (3)", err)
	}
	// The keys a source lists are exactly those of the key records.
	rotated.keys = []string{vkey2}
	if _, err := Verify(context.Background(), rotated, VerifyOptions{}); !isFailure(err, 3, ReasonKey) {
		t.Fatalf("a key list without the first key: %v, want key at 3", err)
	}
	rotated.keys = nil // an export with every K frame removed
	if _, err := Verify(context.Background(), rotated, VerifyOptions{}); !isFailure(err, 3, ReasonKey) {
		t.Fatalf("no keys listed: %v, want key at 3", err)
	}

	unsigned, _, vkey := ledgerLog(t)
	unsigned.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	if _, err := Verify(context.Background(), unsigned, VerifyOptions{Keys: []string{vkey}}); !isFailure(err, 0, ReasonTrustedKey) {
		t.Fatalf("no checkpoint: %v, want trusted_key at 0", err)
	}
}

// TestTrustedCheckpointBeyondTheLog: a trusted checkpoint larger than the
// log says records were removed only when it is signed by a key of the
// log; a damaged one is named as such.
func TestTrustedCheckpointBeyondTheLog(t *testing.T) {
	m, skey, vkey := ledgerLog(t)
	m.checkpoint(t, "tally.test/log", skey)
	m.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	longer, err := SignCheckpoint(Checkpoint{Origin: "tally.test/log", Size: 99, Hash: Hash{1}}, skey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(context.Background(), m, VerifyOptions{Trusted: [][]byte{longer}})
	if ve, ok := IsVerifyError(err); !ok || ve.Reason != ReasonTrusted || !strings.Contains(ve.Detail, "records were removed") {
		t.Fatalf("signed checkpoint of 99: %v", err)
	}
	// Signed by the key the operator rotated to, which this (rolled back)
	// log never put in force, and given with --key: a rollback.
	later, nextV := newKeyCheckpoint(t, "tally.test/log", 99)
	_, err = Verify(context.Background(), m, VerifyOptions{Trusted: [][]byte{later}, Keys: []string{vkey, nextV}})
	if ve, ok := IsVerifyError(err); !ok || ve.Reason != ReasonTrusted || !strings.Contains(ve.Detail, "rolled back") || !strings.Contains(ve.Detail, "rewritten") {
		t.Fatalf("a checkpoint of 99 signed by a later key given with --key: %v", err)
	}
	// Another deployment's checkpoint, its key given too: not a rollback.
	other, otherV := newKeyCheckpoint(t, "tally.other/log", 99)
	_, err = Verify(context.Background(), m, VerifyOptions{Trusted: [][]byte{other}, Keys: []string{vkey, otherV}})
	if ve, ok := IsVerifyError(err); !ok || ve.Reason != ReasonTrusted || strings.Contains(ve.Detail, "rolled back") {
		t.Fatalf("another log's checkpoint of 99: %v, want no rollback named", err)
	}
	damaged := bytes.Clone(longer)
	damaged[len(damaged)-20] ^= 1 // inside the signature's base64 (the last character holds ignored bits)
	_, err = Verify(context.Background(), m, VerifyOptions{Trusted: [][]byte{damaged}})
	if ve, ok := IsVerifyError(err); !ok || ve.Reason != ReasonTrusted || !strings.Contains(ve.Detail, "damaged") {
		t.Fatalf("damaged checkpoint of 99: %v", err)
	}
}

// newKeyCheckpoint signs a checkpoint of size (a made-up root) of origin
// with a new key, returning it and the key's verifier.
func newKeyCheckpoint(t *testing.T, origin string, size int64) ([]byte, string) {
	t.Helper()
	skey, vkey, err := GenerateCheckpointKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := SignCheckpoint(Checkpoint{Origin: origin, Size: size, Hash: Hash{1}}, skey)
	if err != nil {
		t.Fatal(err)
	}
	return ck, vkey
}

// TestVerifyUnsignedTail: given trusted keys or checkpoints, an export
// (signed to its end by the server) fails at its first record after the
// latest checkpoint, whatever the records' times say; a data directory
// (TailMayBeUnsigned) may end with records not signed yet.
func TestVerifyUnsignedTail(t *testing.T) {
	m, skey, vkey := ledgerLog(t)
	trusted := m.checkpoint(t, "tally.test/log", skey)
	m.add(t, "tx.transfer", effects(moveFx("move", "tx-3", "issuance", "alice", 5)))
	m.accounts(acct("alice", "no_overdraft", 0, 0, 0, 505, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 505, 0, 0, 0))
	if _, err := Verify(context.Background(), m, VerifyOptions{}); err != nil {
		t.Fatalf("without --key the tail is only reported: %v", err)
	}
	if _, err := Verify(context.Background(), m, VerifyOptions{Keys: []string{vkey}}); !isFailure(err, 3, ReasonTrustedKey) {
		t.Fatalf("an unsigned record in an export, --key: %v, want trusted_key at 3", err)
	}
	if _, err := Verify(context.Background(), m, VerifyOptions{Trusted: [][]byte{trusted}}); !isFailure(err, 3, ReasonTrusted) {
		t.Fatalf("an unsigned record in an export, --checkpoint: %v, want trusted_checkpoint at 3", err)
	}
	if _, err := Verify(context.Background(), m, VerifyOptions{Keys: []string{vkey}, TailMayBeUnsigned: true}); err != nil {
		t.Fatalf("a data directory's unsigned tail: %v", err)
	}
	m.checkpoint(t, "tally.test/log", skey)
	if _, err := Verify(context.Background(), m, VerifyOptions{Keys: []string{vkey}}); err != nil {
		t.Fatalf("signed: %v", err)
	}
}

// TestRotationEndorsed: a key.rotate record puts its key in force only
// when the key it replaces endorses it (a signed note naming the origin,
// the size and root before the record and the new key). An outside probe
// added a key.rotate record of its own after the last checkpoint an
// auditor kept, signed everything after with its own key, and passed
// tally verify --checkpoint. A rotation without an endorsement (made by
// an earlier version) is taken only on a trusted checkpoint after it or
// the key given with --key.
func TestRotationEndorsed(t *testing.T) {
	build := func(endorse func(skey1 string, size int64, root Hash, vkey2 string) string) (*memLog, []byte, string, string) {
		m, skey1, vkey1 := ledgerLog(t)
		kept := m.checkpoint(t, "tally.test/log", skey1)
		skey2, vkey2, _ := GenerateCheckpointKey("tally.test/log")
		content := map[string]any{"vkey": vkey2, "origin": "tally.test/log", "previous": vkey1}
		if endorse != nil {
			root, err := tlog.TreeHash(int64(len(m.records)), m)
			if err != nil {
				t.Fatal(err)
			}
			content["endorsement"] = endorse(skey1, int64(len(m.records)), root, vkey2)
		}
		m.add(t, ActionKeyRotate, content)
		m.keys = []string{vkey1, vkey2}
		m.checkpoint(t, "tally.test/log", skey2)
		m.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
			acct("issuance", "none", 0, 0, 500, 0, 0, 0))
		return m, kept, vkey2, skey2
	}
	sign := func(skey string) func(string, int64, Hash, string) string {
		return func(_ string, size int64, root Hash, vkey2 string) string {
			e, err := EndorseRotation(skey, "tally.test/log", size, root, vkey2)
			if err != nil {
				t.Fatal(err)
			}
			return string(e)
		}
	}
	ctx := context.Background()
	// Endorsed by the key it replaces: passes against the kept checkpoint.
	m, kept, _, _ := build(func(skey1 string, size int64, root Hash, vkey2 string) string {
		return sign(skey1)("", size, root, vkey2)
	})
	if _, err := Verify(ctx, m, VerifyOptions{Trusted: [][]byte{kept}}); err != nil {
		t.Fatalf("an endorsed rotation: %v", err)
	}
	// Not endorsed (forged, or an earlier version's): fails against the
	// checkpoint kept before it, at the rotation.
	m, kept, vkey2, _ := build(nil)
	if _, err := Verify(ctx, m, VerifyOptions{Trusted: [][]byte{kept}}); !isFailure(err, 3, ReasonKey) {
		t.Fatalf("an unendorsed rotation after the kept checkpoint: %v, want key at 3", err)
	}
	// ... but the operator's key, given with --key, vouches for it.
	if _, err := Verify(ctx, m, VerifyOptions{Trusted: [][]byte{kept}, Keys: []string{vkey2}}); err != nil {
		t.Fatalf("an unendorsed rotation with its key given: %v", err)
	}
	// ... and so does a trusted checkpoint after it.
	if _, err := Verify(ctx, m, VerifyOptions{Trusted: [][]byte{kept, m.cks[uint64(len(m.records))]}}); err != nil {
		t.Fatalf("an unendorsed rotation before a trusted checkpoint: %v", err)
	}
	// Endorsed by another key (the forger's own): fails wherever.
	forger, _, _ := GenerateCheckpointKey("tally.test/log")
	m, _, _, _ = build(func(_ string, size int64, root Hash, vkey2 string) string { return sign(forger)("", size, root, vkey2) })
	if _, err := Verify(ctx, m, VerifyOptions{}); !isFailure(err, 3, ReasonKey) {
		t.Fatalf("a rotation endorsed by another key: %v, want key at 3", err)
	}
	// A second key.create, which no endorsement covers, fails at once.
	m2, skey1, vkey1 := ledgerLog(t)
	kept2 := m2.checkpoint(t, "tally.test/log", skey1)
	fskey, fvkey, _ := GenerateCheckpointKey("tally.test/log")
	m2.add(t, ActionKeyCreate, map[string]any{"vkey": fvkey, "origin": "tally.test/log"})
	m2.keys = []string{vkey1, fvkey}
	m2.checkpoint(t, "tally.test/log", fskey)
	if _, err := Verify(ctx, m2, VerifyOptions{Trusted: [][]byte{kept2}}); !isFailure(err, 3, ReasonKey) {
		t.Fatalf("a second key.create: %v, want key at 3", err)
	}
	// An unendorsed rotation (an earlier version's) followed by an endorsed
	// one: the current key given with --key vouches for the whole log.
	m3, skey1, vkey1 := ledgerLog(t)
	m3.checkpoint(t, "tally.test/log", skey1)
	skey2, vkey2b, _ := GenerateCheckpointKey("tally.test/log")
	m3.add(t, ActionKeyRotate, map[string]any{"vkey": vkey2b, "origin": "tally.test/log", "previous": vkey1})
	m3.checkpoint(t, "tally.test/log", skey2)
	root, err := tlog.TreeHash(int64(len(m3.records)), m3)
	if err != nil {
		t.Fatal(err)
	}
	skey3, vkey3, _ := GenerateCheckpointKey("tally.test/log")
	e, err := EndorseRotation(skey2, "tally.test/log", int64(len(m3.records)), root, vkey3)
	if err != nil {
		t.Fatal(err)
	}
	m3.add(t, ActionKeyRotate, map[string]any{"vkey": vkey3, "origin": "tally.test/log", "previous": vkey2b, "endorsement": string(e)})
	m3.keys = []string{vkey1, vkey2b, vkey3}
	m3.checkpoint(t, "tally.test/log", skey3)
	m3.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	if _, err := Verify(ctx, m3, VerifyOptions{Keys: []string{vkey3}}); err != nil {
		t.Fatalf("an upgraded log with the current key given: %v", err)
	}
	// Endorsing another rotation (a size that is not the record's): fails.
	m, _, _, _ = build(func(skey1 string, size int64, root Hash, vkey2 string) string {
		return sign(skey1)("", size+1, root, vkey2)
	})
	if _, err := Verify(ctx, m, VerifyOptions{}); !isFailure(err, 3, ReasonKey) {
		t.Fatalf("an endorsement of another rotation: %v, want key at 3", err)
	}
}

// twiceCk hands every checkpoint of its source to the visitor twice, as
// an edited export file repeating its checkpoint frames would.
type twiceCk struct{ Source }
type twiceCkVisitor struct{ Visitor }

func (s twiceCk) Walk(ctx context.Context, v Visitor) error {
	return s.Source.Walk(ctx, twiceCkVisitor{v})
}

func (v twiceCkVisitor) Checkpoint(size uint64, note []byte) error {
	if err := v.Visitor.Checkpoint(size, note); err != nil {
		return err
	}
	return v.Visitor.Checkpoint(size, note)
}

func TestVerifyRepeatedCheckpointCountedOnce(t *testing.T) {
	m, skey, _ := ledgerLog(t)
	m.checkpoint(t, "tally.test/log", skey)
	m.add(t, "tx.transfer", effects(moveFx("move", "tx-3", "alice", "bob", 200)))
	m.checkpoint(t, "tally.test/log", skey)
	m.accounts(acct("alice", "no_overdraft", 0, 0, 200, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 200, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	rep, err := Verify(context.Background(), twiceCk{m}, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checkpoints != 2 || rep.Latest != 4 {
		t.Fatalf("report %+v: want 2 checkpoints, latest 4", rep)
	}
}

// TestKeyRecordsNameTheirKeys: a key record's origin is its own key's
// name and a rotation's previous is the key in force; a rotation no key
// endorsed needs a given key or a trusted checkpoint after it even when
// nothing else is given (else the genuine history, whose first key an
// auditor knows, then a forger's unendorsed rotation verified); and a
// source listing other keys is named at the first key record it does not
// hold in its place.
func TestKeyRecordsNameTheirKeys(t *testing.T) {
	ctx := context.Background()
	// rotated is ledgerLog's log rotated at seq 3, its content changed as
	// change says (a nil value deletes the field).
	rotated := func(change map[string]any, endorse bool) (*memLog, string, string) {
		m, skey1, vkey1 := ledgerLog(t)
		m.checkpoint(t, "tally.test/log", skey1)
		skey2, vkey2, _ := GenerateCheckpointKey("tally.test/log")
		content := map[string]any{"vkey": vkey2, "origin": "tally.test/log", "previous": vkey1}
		if endorse {
			root, err := tlog.TreeHash(int64(len(m.records)), m)
			if err != nil {
				t.Fatal(err)
			}
			e, err := EndorseRotation(skey1, "tally.test/log", int64(len(m.records)), root, vkey2)
			if err != nil {
				t.Fatal(err)
			}
			content["endorsement"] = string(e)
		}
		for k, v := range change {
			if v == nil {
				delete(content, k)
			} else {
				content[k] = v
			}
		}
		m.add(t, ActionKeyRotate, content)
		m.keys = []string{vkey1, vkey2}
		m.checkpoint(t, "tally.test/log", skey2)
		m.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
			acct("issuance", "none", 0, 0, 500, 0, 0, 0))
		return m, vkey1, vkey2
	}
	m, vkey1, vkey2 := rotated(nil, true)
	if _, err := Verify(ctx, m, VerifyOptions{}); err != nil {
		t.Fatalf("a rotation as the server writes it: %v", err)
	}
	_, other, _ := GenerateCheckpointKey("tally.test/log")
	for name, change := range map[string]map[string]any{
		"previous names another key": {"previous": other},
		"previous left out":          {"previous": nil},
		"origin of another log":      {"origin": "elsewhere.test/log"},
		"origin left out":            {"origin": nil},
	} {
		m, _, _ := rotated(change, true)
		if _, err := Verify(ctx, m, VerifyOptions{}); !isFailure(err, 3, ReasonKey) {
			t.Errorf("%s: %v, want key at 3", name, err)
		}
	}
	u, _, vkey2u := rotated(nil, false)
	if _, err := Verify(ctx, u, VerifyOptions{}); !isFailure(err, 3, ReasonKey) {
		t.Fatalf("an unendorsed rotation with nothing given: %v, want key at 3", err)
	}
	if _, err := Verify(ctx, u, VerifyOptions{Keys: []string{vkey2u}}); err != nil {
		t.Fatalf("an unendorsed rotation with the current key given: %v", err)
	}
	// A data directory holds its signing key: its editor could endorse
	// anyway, so an earlier version's unendorsed rotation in it is taken
	// with nothing given (the server's own start-up check, backup,
	// restore) — but not against a checkpoint kept from before it.
	if _, err := Verify(ctx, u, VerifyOptions{HoldsItsKeys: true}); err != nil {
		t.Fatalf("an unendorsed rotation in a source holding its keys: %v", err)
	}
	if _, err := Verify(ctx, u, VerifyOptions{HoldsItsKeys: true, Trusted: [][]byte{u.cks[3]}}); !isFailure(err, 3, ReasonKey) {
		t.Fatalf("an unendorsed rotation after a kept checkpoint, in a source holding its keys: %v, want key at 3", err)
	}
	// A key.rotate with no key in force is no first key.
	first := newMemLog()
	skeyF, vkeyF, _ := GenerateCheckpointKey("tally.test/log")
	first.keys = []string{vkeyF}
	first.add(t, ActionKeyRotate, map[string]any{"vkey": vkeyF, "origin": "tally.test/log", "previous": vkeyF})
	first.checkpoint(t, "tally.test/log", skeyF)
	if _, err := Verify(ctx, first, VerifyOptions{}); !isFailure(err, 0, ReasonKey) {
		t.Fatalf("a key.rotate first: %v, want key at 0", err)
	}
	// A key.create naming another origin than its key's.
	c, skey, vkey := ledgerLog(t)
	c2 := newMemLog()
	c2.keys = []string{vkey}
	c2.add(t, ActionKeyCreate, map[string]any{"vkey": vkey, "origin": "elsewhere.test/log"})
	for _, r := range c.records[1:] {
		rec, err := Decode(r)
		if err != nil {
			t.Fatal(err)
		}
		c2.add(t, rec.Action, rec.Content)
	}
	c2.checkpoint(t, "tally.test/log", skey)
	c2.accounts(acct("alice", "no_overdraft", 0, 0, 0, 500, 0, 0), acct("bob", "credit_limit", 100, 1000, 0, 0, 0, 0),
		acct("issuance", "none", 0, 0, 500, 0, 0, 0))
	if _, err := Verify(ctx, c2, VerifyOptions{}); !isFailure(err, 0, ReasonKey) {
		t.Fatalf("a key.create of another origin: %v, want key at 0", err)
	}
	// The keys the source lists, against the key records (0 and 3).
	for _, tc := range []struct {
		keys []string
		at   uint64
	}{
		{[]string{other, vkey2}, 0},
		{[]string{vkey2, vkey1}, 0},
		{[]string{vkey1}, 3},
		{[]string{vkey1, other}, 3},
	} {
		m.keys = tc.keys
		if _, err := Verify(ctx, m, VerifyOptions{}); !isFailure(err, tc.at, ReasonKey) {
			t.Errorf("the source lists %d keys, the log's at %d changed: %v, want key at %d", len(tc.keys), tc.at, err, tc.at)
		}
	}
}
