package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"tally/ledger"
)

// TestBackupUnderLoadIsConsistent takes backups while writers commit
// transfers and restores each: every copy must be one snapshot of the
// ledger — records, head, tree hashes, balances and history all in step —
// and open as a working store.
func TestBackupUnderLoadIsConsistent(t *testing.T) {
	s := openWith(t, t.TempDir(), nil)
	const members = 50
	specs := []ledger.AccountSpec{{ID: "issuance", Unit: ledger.HOUR, Guard: ledger.GuardNone}}
	for i := range members {
		specs = append(specs, ledger.AccountSpec{ID: fmt.Sprintf("m%d", i), Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft})
	}
	mustSubmit(t, s, openOp(specs...))
	for i := range members {
		mustSubmit(t, s, transferOp(pay("issuance", fmt.Sprintf("m%d", i), 1_000_000)))
	}

	// Enough data for several tables, so that Badger's stream splits the
	// key space into ranges.
	blob := strings.Repeat("x", 60<<10)
	for i := range 1600 {
		mustSubmit(t, s, func(tx ledger.Tx) (any, error) {
			tx.Audit("doc", nil)
			return nil, tx.PutDoc("blob", fmt.Sprintf("b%05d", i), blob)
		})
	}

	const writers, maxWrites = 16, 20_000
	var stop atomic.Bool
	var writes atomic.Int64
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewSource(int64(g)))
			for !stop.Load() && writes.Add(1) <= maxWrites {
				a, b := rng.Intn(members), rng.Intn(members-1)
				if b >= a {
					b++
				}
				if _, err := s.Submit(context.Background(), ledger.Request{Actor: ledger.Actor{ID: "load"},
					Op: transferOp(pay(fmt.Sprintf("m%d", a), fmt.Sprintf("m%d", b), 1+rng.Int63n(100)))}); err != nil {
					t.Errorf("transfer: %v", err)
					return
				}
			}
		})
	}
	var backups []*bytes.Buffer
	for range 3 {
		var buf bytes.Buffer
		if err := s.Backup(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		backups = append(backups, &buf)
	}
	stop.Store(true)
	wg.Wait()
	if n := writes.Load(); n < writers {
		t.Fatalf("only %d writes ran; the backups were not taken under load", n)
	}
	var sizes []uint64
	for i, buf := range backups {
		dir := filepath.Join(t.TempDir(), "restored")
		if err := Restore(buf, dir); err != nil {
			t.Fatalf("restore %d: %v", i, err)
		}
		r := openWith(t, dir, nil)
		size, err := invariants(r.db)
		if err != nil {
			t.Fatalf("backup %d taken under load is not one snapshot: %v", i, err)
		}
		sizes = append(sizes, size)
		mustSubmit(t, r, transferOp(pay("m0", "m1", 1)))
		checkInvariants(t, r)
	}
	t.Logf("backups of %v records, %d writes", sizes, writes.Load())
}
