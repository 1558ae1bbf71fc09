package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tally/ledger"
)

// benchAccounts is the number of member accounts transfers move between.
const benchAccounts = 1000

func benchWorld(b *testing.B, s *Store) { benchWorldT(b, s) }

func benchWorldT(b testing.TB, s *Store) { fundedMembers(b, s, benchAccounts, 1_000_000_000) }

// fundedMembers opens "issuance" and members m0..m<n-1>, each credited
// amount minor units.
func fundedMembers(tb testing.TB, s *Store, n int, amount int64) {
	tb.Helper()
	specs := []ledger.AccountSpec{{ID: "issuance", Unit: ledger.HOUR, Guard: ledger.GuardNone}}
	for i := range n {
		specs = append(specs, ledger.AccountSpec{ID: fmt.Sprintf("m%d", i), Unit: ledger.HOUR, Guard: ledger.GuardNoOverdraft})
	}
	mustSubmit(tb, s, openOp(specs...))
	for i := range n {
		mustSubmit(tb, s, transferOp(pay("issuance", fmt.Sprintf("m%d", i), amount)))
	}
}

var benchKeys atomic.Int64

// benchTransfer is one durable 2-posting transfer with an idempotency key:
// balances, four history entries, the transaction, the idempotency record
// and the audit record with its tree hashes.
func benchTransfer(rng *rand.Rand) ledger.Request {
	a, c := rng.Intn(benchAccounts), rng.Intn(benchAccounts-1)
	if c >= a {
		c++
	}
	mid := (a + 1 + rng.Intn(benchAccounts-1)) % benchAccounts
	if mid == c {
		mid = (mid + 1) % benchAccounts
		if mid == a {
			mid = (mid + 1) % benchAccounts
		}
	}
	key := "b" + strconv.FormatInt(benchKeys.Add(1), 10)
	sp := ledger.TransferSpec{Memo: "bench", Postings: []ledger.Posting{
		{From: fmt.Sprintf("m%d", a), To: fmt.Sprintf("m%d", mid), Amount: 1 + rng.Int63n(100), Unit: ledger.HOUR},
		{From: fmt.Sprintf("m%d", mid), To: fmt.Sprintf("m%d", c), Amount: 1 + rng.Int63n(100), Unit: ledger.HOUR},
	}}
	return ledger.Request{Actor: ledger.Actor{ID: "bench"}, IdemKey: key, Fingerprint: sha256.Sum256([]byte(key)), Op: transferOp(sp)}
}

// load runs n transfers from callers goroutines and returns their
// latencies.
func load(tb testing.TB, s *Store, callers, n int) []time.Duration {
	var next atomic.Int64
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			rng := rand.New(rand.NewSource(int64(g)))
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				req := benchTransfer(rng)
				t0 := time.Now()
				if _, err := s.Submit(context.Background(), req); err != nil {
					tb.Errorf("submit: %v", err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	return lat
}

func report(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "tx/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSubmit measures durable 2-posting transfers through Submit
// with 1, 16, 64 and 256 concurrent callers.
func BenchmarkSubmit(b *testing.B) {
	for _, callers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			s := openWith(b, b.TempDir(), nil)
			benchWorld(b, s)
			b.ResetTimer()
			t0 := time.Now()
			lat := load(b, s, callers, b.N)
			elapsed := time.Since(t0)
			b.StopTimer()
			report(b, lat, elapsed)
		})
	}
}

// BenchmarkSubmitStored measures 64 callers on a store already holding
// about 10^4 history entries, and with TALLY_BENCH_BIG=1 also 10^6 (four
// entries per transfer); TALLY_BENCH_ENTRIES=N runs N alone. It reports
// the peak RSS of the process, prefill included.
func BenchmarkSubmitStored(b *testing.B) {
	sizes := []int{10_000}
	if os.Getenv("TALLY_BENCH_BIG") != "" {
		sizes = append(sizes, 1_000_000)
	}
	if v, err := strconv.Atoi(os.Getenv("TALLY_BENCH_ENTRIES")); err == nil && v > 0 {
		sizes = []int{v}
	}
	for _, entries := range sizes {
		// The prefill is done once, out here: the runner calls the
		// sub-benchmark more than once (b.N = 1 first).
		peak, stop := trackRSS()
		s := openWith(b, b.TempDir(), nil)
		benchWorld(b, s)
		load(b, s, 64, entries/4)
		if os.Getenv("TALLY_BENCH_NOSETTLE") == "" {
			settle(b, s)
		}
		b.Run(fmt.Sprintf("entries=%d", entries), func(b *testing.B) {
			b.ResetTimer()
			t0 := time.Now()
			lat := load(b, s, 64, b.N)
			elapsed := time.Since(t0)
			b.StopTimer()
			report(b, lat, elapsed)
			anon, file := peak()
			b.ReportMetric(procStatus("VmHWM:"), "VmHWM-MB")
			b.ReportMetric(anon, "peak-RssAnon-MB")
			b.ReportMetric(file, "peak-RssFile-MB")
		})
		stop()
	}
}

// settleLimit bounds how long settle waits for Badger's compactions.
const settleLimit = 5 * time.Minute

// settle waits until Badger has no compaction due (every level's score
// under 1), as on a server that gathered its history over months rather
// than in one burst: the benchmark then measures what history costs, not
// the backlog of the prefill. It polls the level scores; the wait is
// setup, never a timing the benchmark asserts.
func settle(b *testing.B, s *Store) {
	b.Helper()
	deadline := time.Now().Add(settleLimit)
	for time.Now().Before(deadline) {
		due := false
		for _, l := range s.db.Levels() {
			if l.Score >= 1 {
				due = true
			}
		}
		if !due {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Logf("compactions still due after %s", settleLimit)
}

// procStatus returns a "kB" field of /proc/self/status in MB (Linux), or 0.
func procStatus(field string) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(raw)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// trackRSS samples the process's anonymous memory (Go heap, Badger's
// memtable arenas and caches) and its file-backed resident pages (Badger's
// mmap'd tables and WAL, page cache the kernel can reclaim) every 50 ms
// until stop; peak returns their peaks so far in MB. VmHWM is the peak of
// their sum. This is a measurement, not a timing the benchmark depends on.
func trackRSS() (peak func() (anon, file float64), stop func()) {
	done := make(chan struct{})
	var mu sync.Mutex
	var anon, file float64
	sample := func() {
		a, f := procStatus("RssAnon:"), procStatus("RssFile:")
		mu.Lock()
		anon, file = max(anon, a), max(file, f)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	peak = func() (float64, float64) {
		sample()
		mu.Lock()
		defer mu.Unlock()
		return anon, file
	}
	return peak, func() { close(done); wg.Wait() }
}
