package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCrashKeepsAcknowledgedWrites runs the real server, SIGKILLs it while
// concurrent clients write, restarts it, and checks that every
// acknowledged write is there exactly once, that nothing partial is, and
// that the chain verifies offline.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	const (
		workers   = 16
		perWorker = 200 // bound on attempts; the kill comes long before
		killAfter = 300 // acknowledged writes before SIGKILL
	)
	data := t.TempDir()
	p := startServer(t, data)
	admin := p.login("admin", e2eAdminPassword)
	p.must(201, "POST", "/v1/communities", admin, map[string]any{"id": "c1", "name": "崩溃测试社区"})
	p.must(201, "POST", "/v1/members", admin, map[string]any{"id": "m1", "community": "c1", "display_name": "张三", "roles": []string{"resident"}})
	transfer := map[string]any{"postings": []any{map[string]any{"from": "c1:issuance", "to": "m1:HOUR", "amount": "0.01", "unit": "HOUR"}}}

	var acked sync.Map // idempotency key → transaction id
	var nAcked atomic.Int64
	killed := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				r, err := p.call("POST", "/v1/transfers", admin, transfer, "Idempotency-Key", key)
				if err != nil {
					return // the server is gone
				}
				if r.status == 201 {
					acked.Store(key, r.str("id"))
					if nAcked.Add(1) == killAfter {
						once.Do(func() { p.cmd.Process.Kill(); close(killed) })
					}
				}
			}
		}(w)
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("only %d writes acknowledged before the workers finished; raise perWorker", nAcked.Load())
	}
	p.cmd.Wait()

	p2 := startServer(t, data)
	admin = p2.login("admin", e2eAdminPassword)
	// Every acknowledged key replays its original transaction: it is there,
	// and only once (a replay writes nothing).
	acked.Range(func(k, v any) bool {
		r := p2.must(201, "POST", "/v1/transfers", admin, transfer, "Idempotency-Key", k.(string))
		if r.str("id") != v.(string) || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("key %s: got id %q replayed %q, want the acknowledged %q", k, r.str("id"), r.header.Get("Idempotent-Replayed"), v)
		}
		return true
	})
	// Send every key again: each lands exactly once, so the balance is the
	// number of keys tried, whatever the crash left.
	tried := 0
	for w := 0; w < workers; w++ {
		for i := 0; i < perWorker; i++ {
			p2.must(201, "POST", "/v1/transfers", admin, transfer, "Idempotency-Key", fmt.Sprintf("w%d-%d", w, i))
			tried++
		}
	}
	acct := p2.must(200, "GET", "/v1/accounts/m1:HOUR", admin, nil)
	if want := fmt.Sprintf("%d.%02d", tried/100, tried%100); acct.str("balance") != want {
		t.Fatalf("balance %s after retrying all %d keys, want %s", acct.str("balance"), tried, want)
	}
	p2.stop()
	if code, out := runTally(t, "verify", "--data", data); code != 0 {
		t.Fatalf("tally verify after crash: exit %d\n%s", code, out)
	}
}

// TestOverdueHoldSettledBeforeServing: a hold whose timeout passed while
// the server was down is already voided by the ledger when the restarted
// server answers its first request.
func TestOverdueHoldSettledBeforeServing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	data := t.TempDir()
	p := startServer(t, data)
	admin := p.login("admin", e2eAdminPassword)
	p.must(201, "POST", "/v1/communities", admin, map[string]any{"id": "c1", "name": "超时测试社区"})
	p.must(201, "POST", "/v1/members", admin, map[string]any{"id": "m1", "community": "c1", "display_name": "张三", "roles": []string{"resident"}})
	hold := p.must(201, "POST", "/v1/transfers", admin, map[string]any{"timeout": "1s", "pending": true,
		"postings": []any{map[string]any{"from": "c1:issuance", "to": "m1:HOUR", "amount": "1.00", "unit": "HOUR"}}})
	p.kill()
	deadline, err := time.Parse(time.RFC3339Nano, hold.str("deadline"))
	if err != nil {
		t.Fatalf("hold without a deadline: %v", hold.body)
	}
	time.Sleep(time.Until(deadline.Add(100 * time.Millisecond))) // let the deadline pass while the server is down
	p = startServer(t, data)
	admin = p.login("admin", e2eAdminPassword)
	if got := p.must(200, "GET", "/v1/transfers/"+hold.str("id"), admin, nil).str("status"); got == "pending" {
		t.Fatalf("an overdue hold is still %s after the restart", got)
	}
	if a := p.must(200, "GET", "/v1/accounts/m1:HOUR", admin, nil); a.str("pending_in") != "0.00" {
		t.Fatalf("m1 after the restart: %v; want nothing pending", a.body)
	}
}
