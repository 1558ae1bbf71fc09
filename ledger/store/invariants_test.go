package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tally/audit"
	"tally/ledger"
)

// balances are the four TigerBeetle counters of one account.
type balances struct {
	DebitsPosted, CreditsPosted, DebitsPending, CreditsPending int64
}

func countersOf(a *ledger.Account) balances {
	return balances{a.DebitsPosted, a.CreditsPosted, a.DebitsPending, a.CreditsPending}
}

// memHashes is an in-memory tlog.HashReader for rebuilding the tree.
type memHashes []audit.Hash

func (m memHashes) ReadHashes(idx []int64) ([]audit.Hash, error) {
	out := make([]audit.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(m)) {
			return nil, fmt.Errorf("hash %d not yet stored", x)
		}
		out[i] = m[x]
	}
	return out, nil
}

// checkInvariants reads the whole store in one snapshot and fails t unless
// the ledger is whole:
//   - the records r/0 .. r/size-1 exist, no more, each decodes, names its
//     own seq, links to the previous leaf hash, and has a later time;
//   - the stored tree hashes are exactly those rebuilt from the records;
//   - per unit, posted balances and pending amounts sum to zero;
//   - no guarded account is below its floor or above its max balance;
//   - replaying the effects of every record rebuilds every account's
//     counters exactly, and no account exists that no record opened;
//   - summing every account's history entries gives its balance and its
//     net pending amount.
//
// It returns the number of records.
func checkInvariants(t testing.TB, s *Store) uint64 {
	t.Helper()
	size, err := invariants(s.db)
	if err != nil {
		t.Fatalf("invariants: %v", err)
	}
	return size
}

func invariants(db *badger.DB) (size uint64, err error) {
	err = db.View(func(txn *badger.Txn) error {
		kv := badgerKV{txn}
		h, err := loadHead(kv)
		if err != nil {
			return err
		}
		size = h.Size
		replayed, err := replayRecords(kv, h)
		if err != nil {
			return err
		}
		stored, err := storedAccounts(kv)
		if err != nil {
			return err
		}
		if err := checkAccounts(stored, replayed); err != nil {
			return err
		}
		return checkEntries(kv, stored)
	})
	return size, err
}

// replayRecords walks the chain and applies every effect.
func replayRecords(kv kv, h head) (map[string]*balances, error) {
	accounts := map[string]*balances{}
	var prev [32]byte
	var last int64
	var hashes memHashes
	n := uint64(0)
	err := kv.scan([]byte(pRecord), nil, false, func(k, v []byte) (bool, error) {
		if want := recordKey(n); !bytes.Equal(k, want) {
			return false, fmt.Errorf("record key %x, want %x (gap or extra record)", k, want)
		}
		rec, err := audit.Decode(v)
		if err != nil {
			return false, fmt.Errorf("record %d: %v", n, err)
		}
		switch {
		case rec.Seq != n:
			return false, fmt.Errorf("record %d names seq %d", n, rec.Seq)
		case rec.Prev != prev:
			return false, fmt.Errorf("record %d: prev hash does not link", n)
		case rec.Time <= last:
			return false, fmt.Errorf("record %d: time %d not after %d", n, rec.Time, last)
		}
		th, err := audit.StoredHashes(int64(n), v, hashes)
		if err != nil {
			return false, err
		}
		hashes = append(hashes, th...)
		if err := replayEffects(accounts, rec); err != nil {
			return false, fmt.Errorf("record %d: %v", n, err)
		}
		prev, last = audit.LeafHash(v), rec.Time
		n++
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if n != h.Size || prev != h.Last || (n > 0 && last != h.LastTime) {
		return nil, fmt.Errorf("head says size %d, chain has %d records (or last hash/time differ)", h.Size, n)
	}
	i := 0
	err = kv.scan([]byte(pHash), nil, false, func(k, v []byte) (bool, error) {
		if i >= len(hashes) || !bytes.Equal(k, hashKey(int64(i))) || !bytes.Equal(v, hashes[i][:]) {
			return false, fmt.Errorf("stored tree hash %d differs from the one rebuilt from the records", i)
		}
		i++
		return true, nil
	})
	if err == nil && i != len(hashes) {
		err = fmt.Errorf("%d tree hashes stored, %d rebuilt", i, len(hashes))
	}
	return accounts, err
}

func replayEffects(accounts map[string]*balances, rec *audit.Record) error {
	effects, _ := rec.Content["effects"].([]any)
	for _, raw := range effects {
		e, ok := raw.(map[string]any)
		if !ok {
			return fmt.Errorf("effect is %T", raw)
		}
		op, _ := e["op"].(string)
		switch ledger.EffectOp(op) {
		case ledger.EffectOpen:
			id, _ := e["account"].(string)
			if accounts[id] != nil {
				return fmt.Errorf("account %s opened twice", id)
			}
			accounts[id] = &balances{}
			continue
		case ledger.EffectStatus:
			continue
		}
		from, to := accounts[e["from"].(string)], accounts[e["to"].(string)]
		amt, _ := e["amount"].(int64)
		if from == nil || to == nil || amt <= 0 {
			return fmt.Errorf("effect %v names an unknown account or a bad amount", e)
		}
		switch ledger.EffectOp(op) {
		case ledger.EffectMove:
			from.DebitsPosted += amt
			to.CreditsPosted += amt
		case ledger.EffectHold:
			from.DebitsPending += amt
			to.CreditsPending += amt
		case ledger.EffectRelease:
			from.DebitsPending -= amt
			to.CreditsPending -= amt
		default:
			return fmt.Errorf("unknown effect %q", op)
		}
	}
	return nil
}

func storedAccounts(kv kv) (map[string]*ledger.Account, error) {
	out := map[string]*ledger.Account{}
	err := kv.scan([]byte(pAccount), nil, false, func(k, v []byte) (bool, error) {
		a := &ledger.Account{}
		if err := json.Unmarshal(v, a); err != nil {
			return false, err
		}
		out[a.ID] = a
		return true, nil
	})
	return out, err
}

func checkAccounts(stored map[string]*ledger.Account, replayed map[string]*balances) error {
	if len(stored) != len(replayed) {
		return fmt.Errorf("%d accounts stored, %d opened by records", len(stored), len(replayed))
	}
	sum := map[ledger.Unit]int64{}
	pend := map[ledger.Unit]int64{}
	for id, a := range stored {
		r := replayed[id]
		if r == nil || *r != countersOf(a) {
			return fmt.Errorf("account %s: stored %+v, replayed %+v", id, countersOf(a), r)
		}
		sum[a.Unit] += a.Balance()
		pend[a.Unit] += a.CreditsPending - a.DebitsPending
		switch {
		case a.DebitsPending < 0 || a.CreditsPending < 0:
			return fmt.Errorf("account %s: negative pending %+v", id, countersOf(a))
		case a.Guard == ledger.GuardNoOverdraft && a.Available() < 0:
			return fmt.Errorf("account %s: no_overdraft but available %d", id, a.Available())
		case a.Guard == ledger.GuardCreditLimit && a.Available() < -a.CreditLimit:
			return fmt.Errorf("account %s: available %d below credit limit %d", id, a.Available(), a.CreditLimit)
		case a.MaxBalance > 0 && a.Balance()+a.CreditsPending > a.MaxBalance:
			return fmt.Errorf("account %s: balance %d + incoming %d above max %d", id, a.Balance(), a.CreditsPending, a.MaxBalance)
		}
	}
	for u, v := range sum {
		if v != 0 || pend[u] != 0 {
			return fmt.Errorf("unit %s: balances sum to %d, pending to %d; want 0, 0", u, v, pend[u])
		}
	}
	return nil
}

// checkEntries sums each account's history: posted entries give the
// balance, pending and released ones the net pending amount.
func checkEntries(kv kv, stored map[string]*ledger.Account) error {
	for id, a := range stored {
		var posted, pending int64
		err := kv.scan(entryPrefix(id), nil, false, func(_, v []byte) (bool, error) {
			var e ledger.Entry
			if err := json.Unmarshal(v, &e); err != nil {
				return false, err
			}
			switch e.Kind {
			case "posted":
				posted += e.Amount
			case "pending", "released":
				pending += e.Amount
			default:
				return false, fmt.Errorf("entry kind %q", e.Kind)
			}
			// Every line states the running posted balance after it.
			if e.Balance == nil || *e.Balance != posted {
				return false, fmt.Errorf("account %s: line %d %s states balance %v, the lines so far sum to %d", id, e.Seq, e.Kind, e.Balance, posted)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		if posted != a.Balance() || pending != a.CreditsPending-a.DebitsPending {
			return fmt.Errorf("account %s: history sums to %d posted, %d pending; stored %d, %d",
				id, posted, pending, a.Balance(), a.CreditsPending-a.DebitsPending)
		}
	}
	return nil
}

// fakeClock is an injected clock that moves only when told. The store's
// timer goroutine reads it too, hence the atomic.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (c *fakeClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
