package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger"
)

// seed returns the seed of a random test, from TALLY_SEED to replay a
// failure, else from the clock; it is logged either way.
func seed(t *testing.T) int64 {
	t.Helper()
	s := time.Now().UnixNano()
	if v := os.Getenv("TALLY_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("TALLY_SEED: %v", err)
		}
	}
	t.Logf("seed %d (rerun with TALLY_SEED=%d)", s, s)
	return s
}

// world is the account set of the random workload.
type world struct {
	members []string // HOUR, mixed guards
	funds   []string // CNY, no_overdraft
}

func setupWorld(t testing.TB, s *Store) world {
	t.Helper()
	w := world{}
	specs := []ledger.AccountSpec{
		{ID: "issuance", Unit: ledger.HOUR, Guard: ledger.GuardNone, Kind: "issuance"},
		{ID: "donors", Unit: ledger.CNY, Guard: ledger.GuardNone, Kind: "external"},
	}
	for i := range 8 {
		sp := ledger.AccountSpec{ID: fmt.Sprintf("m%d", i), Unit: ledger.HOUR, OwnerKind: ledger.OwnerMember, Guard: ledger.GuardNoOverdraft}
		switch i % 4 {
		case 1:
			sp.Guard, sp.CreditLimit = ledger.GuardCreditLimit, 500
		case 2:
			sp.MaxBalance = 3000
		case 3:
			sp.Guard, sp.CreditLimit, sp.MaxBalance = ledger.GuardCreditLimit, 200, 2000
		}
		specs = append(specs, sp)
		w.members = append(w.members, sp.ID)
	}
	for i := range 3 {
		sp := ledger.AccountSpec{ID: fmt.Sprintf("f%d", i), Unit: ledger.CNY, OwnerKind: ledger.OwnerFund, Guard: ledger.GuardNoOverdraft}
		specs = append(specs, sp)
		w.funds = append(w.funds, sp.ID)
	}
	mustSubmit(t, s, openOp(specs...))
	return w
}

// workload draws random requests against a world and remembers what
// committed, so that later requests can name earlier transactions.
type workload struct {
	rng    *rand.Rand
	w      world
	mu     sync.Mutex
	posted []string // posted transfers, reversal candidates
	holds  []string // pending transfers, post/void candidates
}

func (wl *workload) account(unit ledger.Unit) string {
	if unit == ledger.CNY {
		if wl.rng.Intn(4) == 0 {
			return "donors"
		}
		return wl.w.funds[wl.rng.Intn(len(wl.w.funds))]
	}
	if wl.rng.Intn(5) == 0 {
		return "issuance"
	}
	return wl.w.members[wl.rng.Intn(len(wl.w.members))]
}

func (wl *workload) transferSpec() ledger.TransferSpec {
	sp := ledger.TransferSpec{Pending: wl.rng.Intn(3) == 0, Timeout: time.Duration(1+wl.rng.Intn(4)) * time.Hour}
	for range 1 + wl.rng.Intn(3) {
		unit := ledger.HOUR
		if wl.rng.Intn(4) == 0 {
			unit = ledger.CNY
		}
		from, to := wl.account(unit), wl.account(unit)
		for to == from {
			to = wl.account(unit)
		}
		sp.Postings = append(sp.Postings, ledger.Posting{From: from, To: to, Amount: 1 + wl.rng.Int63n(900), Unit: unit})
	}
	return sp
}

// next returns a random op; record must be called with its result.
func (wl *workload) next() ledger.Op {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	pick := func(ids []string) string { return ids[wl.rng.Intn(len(ids))] }
	switch n := wl.rng.Intn(20); {
	case n < 2 && len(wl.holds) > 0:
		return voidOp(pick(wl.holds))
	case n < 5 && len(wl.holds) > 0:
		var amt *int64
		if wl.rng.Intn(2) == 0 {
			a := 1 + wl.rng.Int63n(900)
			amt = &a
		}
		return postOp(pick(wl.holds), amt)
	case n < 6 && len(wl.posted) > 0:
		return reverseOp(pick(wl.posted))
	case n < 7:
		id := wl.account(ledger.HOUR)
		st := []ledger.Status{ledger.StatusOpen, ledger.StatusFrozen}[wl.rng.Intn(2)]
		return func(tx ledger.Tx) (any, error) {
			a, err := ledger.SetAccountStatus(tx, id, st)
			if err != nil {
				return nil, err
			}
			tx.Audit("account.status", map[string]any{"account": a.ID, "status": string(st)})
			return a, nil
		}
	default:
		return transferOp(wl.transferSpec())
	}
}

func (wl *workload) record(res ledger.Result) {
	t, ok := res.Value.(*ledger.Transaction)
	if !ok {
		return
	}
	wl.mu.Lock()
	defer wl.mu.Unlock()
	switch {
	case t.Status == ledger.TxPending:
		wl.holds = append(wl.holds, t.ID)
	case t.Kind == "transfer" || t.Kind == "post":
		wl.posted = append(wl.posted, t.ID)
	}
}

// errAllowed lists the codes a random request may fail with; anything else
// is a bug.
var errAllowed = map[ledger.Code]bool{
	ledger.CodeInsufficientFunds: true, ledger.CodeMaxBalanceExceeded: true,
	ledger.CodeAccountFrozen: true, ledger.CodeNotPending: true, ledger.CodeHoldExpired: true,
	ledger.CodeAlreadyReversed: true, ledger.CodeInvalidRequest: true, ledger.CodeInvalidAmount: true,
	ledger.CodeConflict: true, // a status set to the one the account has
}

// TestRandomWorkloadInvariants runs rounds of random concurrent requests,
// each round committed as one batch, and checks every invariant of the
// ledger after every batch, while the injected clock moves and holds
// expire.
func TestRandomWorkloadInvariants(t *testing.T) {
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	clock := newFakeClock()
	s := openWith(t, t.TempDir(), clock)
	wl := &workload{rng: rand.New(rand.NewSource(seed(t))), w: setupWorld(t, s)}
	ctx := context.Background()
	for round := range rounds {
		n := 1 + wl.rng.Intn(48)
		ops := make([]ledger.Op, n)
		for i := range ops {
			ops[i] = wl.next()
		}
		release := gate(t, s)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, op := range ops {
			wg.Go(func() {
				var res ledger.Result
				res, errs[i] = s.Submit(ctx, ledger.Request{Actor: ledger.Actor{ID: "coord"}, Op: op})
				if errs[i] == nil {
					wl.record(res)
				}
			})
		}
		release(n)
		wg.Wait()
		for i, err := range errs {
			if err != nil && !errAllowed[ledger.ErrorCode(err)] {
				t.Fatalf("round %d op %d: unexpected error %v", round, i, err)
			}
		}
		checkInvariants(t, s)
		checkHolds(t, s)
		clock.Advance(time.Duration(wl.rng.Intn(90)) * time.Minute)
		if wl.rng.Intn(3) == 0 {
			s.FireTimers(ctx)
			checkInvariants(t, s)
			checkHolds(t, s)
		}
	}
	clock.Advance(ledger.MaxHoldTimeout)
	s.FireTimers(ctx)
	checkInvariants(t, s)
	if pending := checkHolds(t, s); pending != 0 {
		t.Fatalf("after every deadline passed: %d holds still pending, want 0", pending)
	}
}

// checkHolds fails t unless every hold was settled at most once: a pending
// hold has no post or void naming it; a settled one has exactly one, and
// names it. It returns the number of holds still pending.
func checkHolds(t testing.TB, s *Store) int {
	t.Helper()
	txs := map[string]*ledger.Transaction{}
	err := s.db.View(func(txn *badger.Txn) error {
		return badgerKV{txn}.scan([]byte(pTx), nil, false, func(_, v []byte) (bool, error) {
			tr := &ledger.Transaction{}
			if err := json.Unmarshal(v, tr); err != nil {
				return false, err
			}
			txs[tr.ID] = tr
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	settlers := map[string][]string{}
	reversals := map[string][]string{}
	for _, tr := range txs {
		if tr.PendingID != "" {
			settlers[tr.PendingID] = append(settlers[tr.PendingID], tr.ID)
		}
		if tr.Reverses != "" {
			reversals[tr.Reverses] = append(reversals[tr.Reverses], tr.ID)
		}
	}
	pending := 0
	for id, tr := range txs {
		if tr.Deadline.IsZero() {
			if r := reversals[id]; len(r) > 1 || len(r) == 1 && tr.ResolvedBy != r[0] {
				t.Fatalf("transaction %s reversed by %v, resolved_by %q", id, r, tr.ResolvedBy)
			}
			continue
		}
		got := settlers[id]
		switch {
		case tr.Status == ledger.TxPending && len(got) != 0:
			t.Fatalf("hold %s still pending but settled by %v", id, got)
		case tr.Status != ledger.TxPending && (len(got) != 1 || got[0] != tr.ResolvedBy):
			t.Fatalf("hold %s is %s, resolved_by %q, settled by %v; want exactly one", id, tr.Status, tr.ResolvedBy, got)
		}
		if tr.Status == ledger.TxPending {
			pending++
		}
	}
	return pending
}

// fund opens issuance and the given no_overdraft HOUR accounts, and pays
// the first amt.
// openFunded opens a store in dir (the caller closes it) whose alice and
// bob hold 1000 each.
func openFunded(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fund(t, s, 1000, "alice", "bob")
	return s
}

func fund(t testing.TB, s *Store, amt int64, ids ...string) {
	t.Helper()
	specs := []ledger.AccountSpec{{ID: "issuance", Unit: ledger.HOUR, Guard: ledger.GuardNone}}
	for _, id := range ids {
		specs = append(specs, ledger.AccountSpec{ID: id, Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft})
	}
	mustSubmit(t, s, openOp(specs...))
	mustSubmit(t, s, transferOp(pay("issuance", ids[0], amt)))
}

// TestConcurrentDoubleSpend races N spenders for more than the account
// holds, as posted transfers and as holds: exactly the affordable number
// succeed, the rest fail with insufficient_funds, in one batch or many.
func TestConcurrentDoubleSpend(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pending bool
		gated   bool
	}{{"posted/one-batch", false, true}, {"posted/free", false, false}, {"pending/one-batch", true, true}, {"pending/free", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			const balanceMinor, spend, n = 1000, 150, 64
			fund(t, s, balanceMinor, "alice", "shop")
			var release func(int)
			if tc.gated {
				release = gate(t, s)
			}
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					sp := pay("alice", "shop", spend)
					sp.Pending = tc.pending
					_, errs[i] = s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "alice"}, Op: transferOp(sp)})
				})
			}
			if release != nil {
				release(n)
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch ledger.ErrorCode(err) {
				case "":
					ok++
				case ledger.CodeInsufficientFunds:
				default:
					t.Fatalf("spend: got %v, want success or insufficient_funds", err)
				}
			}
			if want := balanceMinor / spend; ok != want {
				t.Fatalf("successful spends: got %d, want %d", ok, want)
			}
			_, avail := balance(t, s, "alice")
			if want := int64(balanceMinor - ok*spend); avail != want {
				t.Fatalf("alice available: got %d, want %d", avail, want)
			}
			checkInvariants(t, s)
		})
	}
}

// TestHoldPostVoidRace races a post and a void (and a second post) of the
// same holds: exactly one settles each hold, the others get not_pending.
func TestHoldPostVoidRace(t *testing.T) {
	s := openTest(t)
	const holds = 50
	fund(t, s, 100*holds, "alice", "bob")
	ids := make([]string, holds)
	for i := range ids {
		sp := pay("alice", "bob", 100)
		sp.Pending = true
		ids[i] = txOf(t, mustSubmit(t, s, transferOp(sp))).ID
	}
	var wg sync.WaitGroup
	wins := make([]int, holds)
	var mu sync.Mutex
	for i, id := range ids {
		for _, op := range []ledger.Op{postOp(id, nil), voidOp(id), postOp(id, nil)} {
			wg.Go(func() {
				_, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "c"}, Op: op})
				switch ledger.ErrorCode(err) {
				case "":
					mu.Lock()
					wins[i]++
					mu.Unlock()
				case ledger.CodeNotPending:
				default:
					t.Errorf("settle %s: got %v, want success or not_pending", id, err)
				}
			})
		}
	}
	wg.Wait()
	for i, w := range wins {
		if w != 1 {
			t.Fatalf("hold %s settled %d times, want 1", ids[i], w)
		}
	}
	checkInvariants(t, s)
	if n := checkHolds(t, s); n != 0 {
		t.Fatalf("pending holds: got %d, want 0", n)
	}
	if bal, avail := balance(t, s, "alice"); bal != avail {
		t.Fatalf("alice: balance %d available %d, want equal (no hold left)", bal, avail)
	}
}

// TestGuardsAndErrors walks the engine's refusals one by one.
func TestGuardsAndErrors(t *testing.T) {
	s := openTest(t)
	mustSubmit(t, s, openOp(
		ledger.AccountSpec{ID: "issuance", Unit: ledger.HOUR, Guard: ledger.GuardNone},
		ledger.AccountSpec{ID: "cash", Unit: ledger.CNY, Guard: ledger.GuardNone},
		ledger.AccountSpec{ID: "a", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft},
		ledger.AccountSpec{ID: "credit", Unit: ledger.HOUR, Guard: ledger.GuardCreditLimit, CreditLimit: 300},
		ledger.AccountSpec{ID: "capped", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft, MaxBalance: 1000},
	))
	_, err := submit(t, s, openOp(ledger.AccountSpec{ID: "a", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft}))
	wantCode(t, "open twice", err, ledger.CodeAlreadyExists)
	_, err = submit(t, s, openOp(ledger.AccountSpec{ID: "b/c", Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft}))
	wantCode(t, "bad id", err, ledger.CodeInvalidID)
	_, err = submit(t, s, openOp(ledger.AccountSpec{ID: "b", Unit: "EUR", Guard: ledger.GuardNoOverdraft}))
	wantCode(t, "bad unit", err, ledger.CodeUnknownUnit)

	// credit_limit: down to -300 and no further, counting holds.
	mustSubmit(t, s, transferOp(pay("credit", "a", 200)))
	hold := pay("credit", "a", 100)
	hold.Pending = true
	mustSubmit(t, s, transferOp(hold))
	_, err = submit(t, s, transferOp(pay("credit", "a", 1)))
	wantCode(t, "past credit limit", err, ledger.CodeInsufficientFunds)

	// max_balance counts incoming holds.
	mustSubmit(t, s, transferOp(pay("issuance", "capped", 900)))
	hold = pay("issuance", "capped", 100)
	hold.Pending = true
	mustSubmit(t, s, transferOp(hold))
	_, err = submit(t, s, transferOp(pay("issuance", "capped", 1)))
	wantCode(t, "above max balance", err, ledger.CodeMaxBalanceExceeded)

	// A transaction whose second posting fails leaves nothing of the first.
	before, _ := balance(t, s, "a")
	_, err = submit(t, s, transferOp(ledger.TransferSpec{Postings: []ledger.Posting{
		{From: "a", To: "credit", Amount: 100, Unit: ledger.HOUR},
		{From: "a", To: "credit", Amount: 250, Unit: ledger.HOUR},
	}}))
	wantCode(t, "two postings, second overdraws", err, ledger.CodeInsufficientFunds)
	if after, _ := balance(t, s, "a"); after != before {
		t.Fatalf("balance after failed transaction: got %d, want %d", after, before)
	}

	_, err = submit(t, s, transferOp(ledger.TransferSpec{Postings: []ledger.Posting{{From: "a", To: "cash", Amount: 1, Unit: ledger.HOUR}}}))
	wantCode(t, "unit mismatch", err, ledger.CodeUnitMismatch)
	// A transaction that can never succeed says so, whatever posting holds
	// the fault: not insufficient funds for an earlier posting (probe s24d).
	_, err = submit(t, s, transferOp(ledger.TransferSpec{Postings: []ledger.Posting{
		{From: "a", To: "credit", Amount: 1 << 40, Unit: ledger.HOUR},
		{From: "issuance", To: "cash", Amount: 1, Unit: ledger.HOUR},
	}}))
	wantCode(t, "overdraft, then unit mismatch", err, ledger.CodeUnitMismatch)
	_, err = submit(t, s, transferOp(pay("a", "a", 1)))
	wantCode(t, "same account", err, ledger.CodeSameAccount)
	_, err = submit(t, s, transferOp(pay("a", "nobody", 1)))
	wantCode(t, "unknown account", err, ledger.CodeNotFound)
	_, err = submit(t, s, transferOp(pay("a", "credit", 0)))
	wantCode(t, "zero", err, ledger.CodeInvalidAmount)
	_, err = submit(t, s, transferOp(pay("a", "credit", ledger.MaxAmountMinor+1)))
	wantCode(t, "huge", err, ledger.CodeInvalidAmount)
	sp := pay("a", "credit", 1)
	sp.Pending, sp.Timeout = true, ledger.MaxHoldTimeout+time.Hour
	_, err = submit(t, s, transferOp(sp))
	wantCode(t, "timeout too long", err, ledger.CodeInvalidRequest)
	many := ledger.TransferSpec{}
	for range ledger.MaxPostings + 1 {
		many.Postings = append(many.Postings, ledger.Posting{From: "issuance", To: "a", Amount: 1, Unit: ledger.HOUR})
	}
	_, err = submit(t, s, transferOp(many))
	wantCode(t, "too many postings", err, ledger.CodeLimitExceeded)

	// Overflow of a guard-free account's counters: 150 transactions of 64
	// maximal postings move more than an int64 holds.
	mustSubmit(t, s, openOp(ledger.AccountSpec{ID: "sink", Unit: ledger.CNY, Guard: ledger.GuardNone}))
	huge := ledger.TransferSpec{}
	for range ledger.MaxPostings {
		huge.Postings = append(huge.Postings, ledger.Posting{From: "cash", To: "sink", Amount: ledger.MaxAmountMinor, Unit: ledger.CNY})
	}
	var wg sync.WaitGroup
	codes := make([]ledger.Code, 150)
	for i := range codes {
		wg.Go(func() {
			_, err := submit(t, s, transferOp(huge))
			codes[i] = ledger.ErrorCode(err)
		})
	}
	wg.Wait()
	overflows := 0
	for _, c := range codes {
		switch c {
		case ledger.CodeOverflow:
			overflows++
		case "":
		default:
			t.Fatalf("huge transfer: got %q, want success or overflow", c)
		}
	}
	if want := 150 - int(math.MaxInt64/(ledger.MaxPostings*ledger.MaxAmountMinor)); overflows != want {
		t.Fatalf("overflows: got %d, want %d", overflows, want)
	}
	// Filled to the last whole amount, the accounts take no hold either:
	// each counter would still fit, but available (balance less pending
	// debits) would wrap around (probe s24d).
	for i := 0; ; i++ {
		fill := pay("cash", "sink", ledger.MaxAmountMinor)
		fill.Postings[0].Unit = ledger.CNY
		if _, err := submit(t, s, transferOp(fill)); err != nil {
			wantCode(t, "filled", err, ledger.CodeOverflow)
			break
		}
		if i > ledger.MaxPostings {
			t.Fatal("the accounts never filled")
		}
	}
	mustSubmit(t, s, openOp(ledger.AccountSpec{ID: "room", Unit: ledger.CNY, Guard: ledger.GuardNone}))
	for _, p := range [][2]string{{"cash", "room"}, {"room", "sink"}} {
		full := pay(p[0], p[1], ledger.MaxAmountMinor)
		full.Postings[0].Unit = ledger.CNY
		full.Pending = true
		_, err = submit(t, s, transferOp(full))
		wantCode(t, "hold on a full account "+p[0]+"→"+p[1], err, ledger.CodeOverflow)
	}
	for _, id := range []string{"cash", "sink"} {
		if bal, avail := balance(t, s, id); bal != avail || bal == 0 {
			t.Fatalf("%s after refused holds: balance %d, available %d", id, bal, avail)
		}
	}

	// Frozen accounts refuse postings both ways; a void still works.
	mustSubmit(t, s, transferOp(pay("issuance", "a", 500)))
	hold = pay("a", "credit", 50)
	hold.Pending = true
	h := txOf(t, mustSubmit(t, s, transferOp(hold)))
	mustSubmit(t, s, func(tx ledger.Tx) (any, error) {
		a, err := ledger.SetAccountStatus(tx, "a", ledger.StatusFrozen)
		tx.Audit("account.status", map[string]any{"account": "a"})
		return a, err
	})
	_, err = submit(t, s, transferOp(pay("a", "credit", 1)))
	wantCode(t, "debit frozen", err, ledger.CodeAccountFrozen)
	_, err = submit(t, s, transferOp(pay("issuance", "a", 1)))
	wantCode(t, "credit frozen", err, ledger.CodeAccountFrozen)
	_, err = submit(t, s, postOp(h.ID, nil))
	wantCode(t, "post from frozen", err, ledger.CodeAccountFrozen)
	mustSubmit(t, s, voidOp(h.ID))
	_, err = submit(t, s, func(tx ledger.Tx) (any, error) {
		a, err := ledger.SetAccountStatus(tx, "a", ledger.StatusClosed)
		tx.Audit("account.status", map[string]any{"account": "a"})
		return a, err
	})
	wantCode(t, "close with balance", err, ledger.CodeConflict)
	checkInvariants(t, s)
}

// TestReverse checks that a reversal undoes a posted transaction once,
// names it, respects guards, and cannot itself be reversed.
func TestReverse(t *testing.T) {
	s := openTest(t)
	fund(t, s, 1000, "alice", "bob")
	tr := txOf(t, mustSubmit(t, s, transferOp(pay("alice", "bob", 400))))
	rev := txOf(t, mustSubmit(t, s, reverseOp(tr.ID)))
	if rev.Reverses != tr.ID || rev.Kind != "reversal" {
		t.Fatalf("reversal: got reverses %q kind %q, want %q reversal", rev.Reverses, rev.Kind, tr.ID)
	}
	if bal, _ := balance(t, s, "alice"); bal != 1000 {
		t.Fatalf("alice after reversal: got %d, want 1000", bal)
	}
	_, err := submit(t, s, reverseOp(tr.ID))
	wantCode(t, "reverse twice", err, ledger.CodeAlreadyReversed)
	_, err = submit(t, s, reverseOp(rev.ID))
	wantCode(t, "reverse a reversal", err, ledger.CodeInvalidRequest)
	_, err = submit(t, s, reverseOp("tx-999"))
	wantCode(t, "reverse unknown", err, ledger.CodeNotFound)

	// Bob spent what he received: reversing would overdraw him.
	tr = txOf(t, mustSubmit(t, s, transferOp(pay("alice", "bob", 300))))
	mustSubmit(t, s, transferOp(pay("bob", "alice", 300)))
	_, err = submit(t, s, reverseOp(tr.ID))
	wantCode(t, "reverse spent", err, ledger.CodeInsufficientFunds)

	hold := pay("alice", "bob", 100)
	hold.Pending = true
	h := txOf(t, mustSubmit(t, s, transferOp(hold)))
	_, err = submit(t, s, reverseOp(h.ID))
	wantCode(t, "reverse a pending hold", err, ledger.CodeConflict)
	post := txOf(t, mustSubmit(t, s, postOp(h.ID, nil)))
	_, err = submit(t, s, reverseOp(h.ID))
	wantCode(t, "reverse a posted hold", err, ledger.CodeInvalidRequest)
	mustSubmit(t, s, reverseOp(post.ID))
	checkInvariants(t, s)
	checkHolds(t, s)
}

// TestReversePassThrough: a transfer that credits an empty account and
// debits it again in a later posting is legal, so its reversal must be
// too: the reversal undoes the postings last first (probe s26b: in the
// original order its first posting debited the account the original had
// emptied, insufficient_funds).
func TestReversePassThrough(t *testing.T) {
	s := openTest(t)
	fund(t, s, 1000, "alice", "bob", "carol") // bob and carol empty
	through := ledger.TransferSpec{Postings: []ledger.Posting{
		{From: "alice", To: "bob", Amount: 600, Unit: ledger.HOUR},
		{From: "bob", To: "carol", Amount: 600, Unit: ledger.HOUR},
	}}
	tr := txOf(t, mustSubmit(t, s, transferOp(through)))
	rev := txOf(t, mustSubmit(t, s, reverseOp(tr.ID)))
	want := []ledger.Posting{
		{From: "carol", To: "bob", Amount: 600, Unit: ledger.HOUR},
		{From: "bob", To: "alice", Amount: 600, Unit: ledger.HOUR},
	}
	if !slices.Equal(rev.Postings, want) {
		t.Fatalf("reversal postings: got %+v, want %+v", rev.Postings, want)
	}
	for id, want := range map[string]int64{"alice": 1000, "bob": 0, "carol": 0} {
		if bal, _ := balance(t, s, id); bal != want {
			t.Fatalf("%s after the reversal: balance %d, want %d", id, bal, want)
		}
	}
	checkInvariants(t, s)
}

// TestReverseDiverted: a diverter may send part of a reversal's posting
// to another account, or leave it with the payer, but what replaces a
// posting must debit the same account, in its unit, the same amount in
// all, and something must move; anything else is refused and writes
// nothing.
func TestReverseDiverted(t *testing.T) {
	s := openTest(t)
	fund(t, s, 1000, "alice", "bob", "carol") // bob and carol empty
	tr := txOf(t, mustSubmit(t, s, transferOp(ledger.TransferSpec{Postings: []ledger.Posting{
		{From: "alice", To: "bob", Amount: 600, Unit: ledger.HOUR}}})))
	op := func(divert ledger.Diverter) ledger.Op {
		return func(tx ledger.Tx) (any, error) {
			r, err := ledger.ReverseDiverted(tx, tr.ID, "entered twice", divert)
			if err != nil {
				return nil, err
			}
			tx.Audit("tx.reverse", ledger.TxFields(r))
			return r, nil
		}
	}
	split := func(parts ...ledger.Posting) ledger.Diverter {
		return func(ledger.Posting) ([]ledger.Posting, error) { return parts, nil }
	}
	bad := map[string]ledger.Diverter{
		"short":      split(ledger.Posting{From: "bob", To: "alice", Amount: 500, Unit: ledger.HOUR}),
		"long":       split(ledger.Posting{From: "bob", To: "alice", Amount: 500, Unit: ledger.HOUR}, ledger.Posting{From: "bob", To: "carol", Amount: 200, Unit: ledger.HOUR}),
		"other from": split(ledger.Posting{From: "carol", To: "alice", Amount: 600, Unit: ledger.HOUR}),
		"all kept":   split(ledger.Posting{From: "bob", To: "bob", Amount: 600, Unit: ledger.HOUR}),
		"other unit": split(ledger.Posting{From: "bob", To: "alice", Amount: 600, Unit: ledger.CNY}),
		"zero":       split(ledger.Posting{From: "bob", To: "alice", Amount: 600, Unit: ledger.HOUR}, ledger.Posting{From: "bob", To: "carol", Unit: ledger.HOUR}),
		"none":       split(),
	}
	size, _, _ := s.Audit().Size()
	for name, d := range bad {
		if _, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: op(d)}); err == nil {
			t.Fatalf("%s: a wrong diversion was taken", name)
		}
	}
	if got, _, _ := s.Audit().Size(); got != size {
		t.Fatalf("refused diversions wrote %d records", got-size)
	}
	// A part "to" the payer itself stays with it, unposted.
	rev := txOf(t, mustSubmit(t, s, op(split(
		ledger.Posting{From: "bob", To: "alice", Amount: 400, Unit: ledger.HOUR},
		ledger.Posting{From: "bob", To: "bob", Amount: 50, Unit: ledger.HOUR},
		ledger.Posting{From: "bob", To: "carol", Amount: 150, Unit: ledger.HOUR}))))
	if rev.Reverses != tr.ID || len(rev.Postings) != 2 {
		t.Fatalf("the diverted reversal: %+v", rev)
	}
	for id, want := range map[string]int64{"alice": 800, "bob": 50, "carol": 150} {
		if bal, _ := balance(t, s, id); bal != want {
			t.Fatalf("%s after the diverted reversal: balance %d, want %d", id, bal, want)
		}
	}
	checkInvariants(t, s)
}
