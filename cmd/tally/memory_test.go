package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/store"
)

// BenchmarkServerMemory measures the resident memory of `tally serve`
// holding TALLY_BENCH_TXS transactions (default 10^6): it fills a data
// directory through the store (in this process), starts the real binary on
// it as a child, sends b.N authenticated transfers and reads of balances
// and history, and reports the child's VmRSS and VmHWM from /proc.
//
//	TALLY_BENCH_MEMORY=1 go test ./cmd/tally -run '^$' -bench ServerMemory -benchtime 20000x -timeout 30m
func BenchmarkServerMemory(b *testing.B) {
	if os.Getenv("TALLY_BENCH_MEMORY") == "" {
		b.Skip("set TALLY_BENCH_MEMORY=1 (fills a store with 10^6 transactions)")
	}
	txs := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("TALLY_BENCH_TXS")); err == nil && v > 0 {
		txs = v
	}
	const members = 64
	data := b.TempDir()
	prefill(b, data, members, txs)
	p := startServer(b, data)
	tok := p.login("m0", "password-m0")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		switch i % 4 {
		case 0, 1:
			p.must(201, "POST", "/v1/gifts", tok, map[string]any{"from": "m0", "to": "pool", "hours": "0.01"})
		case 2:
			p.must(200, "GET", "/v1/accounts/m0:HOUR", tok, nil)
		default:
			p.must(200, "GET", "/v1/accounts/m0:HOUR/entries?limit=20", tok, nil)
		}
	}
	b.StopTimer()
	rss, hwm := procMemory(b, p.cmd.Process.Pid)
	b.ReportMetric(float64(txs), "stored_txs")
	b.ReportMetric(rss, "VmRSS-MB")
	b.ReportMetric(hwm, "VmHWM-MB")
	b.ReportMetric(0, "ns/op")
}

// prefill creates a community with members and txs transfers, then closes
// the store.
func prefill(b *testing.B, dir string, members, txs int) {
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	submit := func(op ledger.Op) {
		if _, err := st.Submit(ctx, ledger.Request{Actor: ledger.SystemActor, Op: op}); err != nil {
			b.Fatal(err)
		}
	}
	submit(func(tx ledger.Tx) (any, error) {
		return community.Create(tx, community.NewCommunity{ID: "mem", Name: "内存测试社区"})
	})
	for i := 0; i < members; i++ {
		id := fmt.Sprintf("m%d", i)
		hash, _ := bcrypt.GenerateFromPassword([]byte("password-"+id), bcrypt.MinCost)
		submit(func(tx ledger.Tx) (any, error) {
			return community.CreateMember(tx, community.NewMember{ID: id, Community: "mem",
				Roles: []community.Role{community.RoleResident}, Username: id, PasswordHash: hash})
		})
	}
	const workers = 64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < txs; i += workers {
				to := fmt.Sprintf("m%d:HOUR", i%members)
				submit(func(tx ledger.Tx) (any, error) {
					t, err := ledger.Transfer(tx, ledger.TransferSpec{Memo: "prefill", Postings: []ledger.Posting{
						{From: "mem:issuance", To: to, Amount: 100, Unit: ledger.HOUR}}})
					if err != nil {
						return nil, err
					}
					tx.Audit("tx.transfer", ledger.TxFields(t))
					return nil, nil
				})
			}
		}(w)
	}
	wg.Wait()
}

func procMemory(b *testing.B, pid int) (rss, hwm float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}
