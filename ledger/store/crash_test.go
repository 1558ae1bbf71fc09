package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tally/ledger"
)

// crashDirEnv names the data directory of the crash test's child process.
const crashDirEnv = "TALLY_CRASH_CHILD_DIR"

// crashRoundEnv keeps each round's keys apart.
const crashRoundEnv = "TALLY_CRASH_ROUND"

// ack is one acknowledged write: its seq, and n for crashOp.
type ack struct {
	seq uint64
	n   int
}

var crashMembers = []string{"m0", "m1", "m2", "m3", "m4", "m5"}

// crashOp is the request the child sends under key: a two-posting
// transfer, or every fifth time a hold, with the key as memo so the parent
// can count how often it committed.
func crashOp(key string, n int) ledger.Request {
	from, mid, to := crashMembers[n%6], crashMembers[(n+1)%6], crashMembers[(n+2)%6]
	sp := ledger.TransferSpec{Memo: key, Pending: n%5 == 0, Postings: []ledger.Posting{
		{From: from, To: mid, Amount: int64(1 + n%7), Unit: ledger.HOUR},
		{From: mid, To: to, Amount: int64(1 + n%5), Unit: ledger.HOUR},
	}}
	return ledger.Request{Actor: ledger.Actor{ID: "crash"}, IdemKey: key,
		Fingerprint: sha256.Sum256([]byte(key)), Op: transferOp(sp)}
}

// TestCrashChild is the child process of TestCrashKill9; it does nothing
// unless started by it. It writes from 32 goroutines and prints "ack
// <key> <seq> <n>" for each request only after Submit has returned
// success.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("child of TestCrashKill9")
	}
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("r%s.g%d-%d", os.Getenv(crashRoundEnv), g, i)
				res, err := s.Submit(context.Background(), crashOp(key, g+i))
				if err != nil {
					continue // insufficient funds and the like: not acknowledged
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %s %d %d\n", key, res.Seq, g+i)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestCrashKill9 runs a store writer in a child process under concurrent
// load, SIGKILLs it once it has acknowledged enough writes, reopens the
// store and checks that every acknowledged write is there exactly once and
// nothing is partial. It repeats this over the same directory.
func TestCrashKill9(t *testing.T) {
	dir := t.TempDir()
	s := openWith(t, dir, nil)
	specs := []ledger.AccountSpec{{ID: "issuance", Unit: ledger.HOUR, Guard: ledger.GuardNone}}
	for _, m := range crashMembers {
		specs = append(specs, ledger.AccountSpec{ID: m, Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft})
	}
	mustSubmit(t, s, openOp(specs...))
	for _, m := range crashMembers {
		mustSubmit(t, s, transferOp(pay("issuance", m, 100000)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]ack{}
	rounds, perRound := 3, 1500
	if testing.Short() {
		rounds, perRound = 1, 500
	}
	for round := range rounds {
		for k, v := range killChildAfter(t, dir, round, perRound) {
			acked[k] = v
		}
		s := openWith(t, dir, nil)
		size := checkInvariants(t, s)
		checkHolds(t, s)
		checkAcked(t, s, acked)
		// Acknowledged keys replay their original after the crash.
		n := 0
		for key, a := range acked {
			if n++; n > 20 {
				break
			}
			res, err := s.Submit(context.Background(), crashOp(key, a.n))
			if err != nil || !res.Replayed || res.Seq != a.seq {
				t.Fatalf("round %d: retry of %s: replayed %v seq %d err %v; want replay of seq %d", round, key, res.Replayed, res.Seq, err, a.seq)
			}
		}
		if got := headSize(t, s); got != size {
			t.Fatalf("round %d: head grew from %d to %d on replays", round, size, got)
		}
		t.Logf("round %d: %d acknowledged so far, %d records", round, len(acked), size)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// killChildAfter starts the child writer on dir, reads its
// acknowledgements until it has k, SIGKILLs it, and returns every
// acknowledgement it printed (a few more may arrive before the kill lands).
func killChildAfter(t *testing.T, dir string, round, k int) map[string]ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A bound, not a timing: a child that hangs fails the test.
	var killed atomic.Bool
	watchdog := time.AfterFunc(60*time.Second, func() { killed.Store(true); cmd.Process.Kill() })
	defer watchdog.Stop()
	acked := map[string]ack{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ack" {
			continue
		}
		seq, err1 := strconv.ParseUint(f[2], 10, 64)
		n, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		acked[f[1]] = ack{seq, n}
		if len(acked) == k {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if killed.Load() || len(acked) < k {
		t.Fatalf("child acknowledged %d of %d writes before it ended (%v)", len(acked), k, err)
	}
	return acked
}

// checkAcked: every acknowledged key has its idempotency record with the
// acknowledged seq, and its transaction committed exactly once; no key,
// acknowledged or not, committed twice.
func checkAcked(t *testing.T, s *Store, acked map[string]ack) {
	t.Helper()
	count := map[string]int{}
	err := s.db.View(func(txn *badger.Txn) error {
		kv := badgerKV{txn}
		for key, a := range acked {
			raw, err := kv.get(idemKey("crash", key))
			if err != nil {
				return fmt.Errorf("acknowledged %s: idempotency record: %v", key, err)
			}
			var rec idemRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return err
			}
			if rec.Seq != a.seq {
				return fmt.Errorf("acknowledged %s at seq %d, stored seq %d", key, a.seq, rec.Seq)
			}
		}
		return kv.scan([]byte(pTx), nil, false, func(_, v []byte) (bool, error) {
			var tr ledger.Transaction
			if err := json.Unmarshal(v, &tr); err != nil {
				return false, err
			}
			if tr.PendingID == "" && tr.Memo != "" {
				count[tr.Memo]++
			}
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for key := range acked {
		if count[key] != 1 {
			t.Fatalf("acknowledged %s committed %d times, want 1", key, count[key])
		}
	}
	for key, n := range count {
		if n > 1 {
			t.Fatalf("%s committed %d times, want at most 1", key, n)
		}
	}
}
