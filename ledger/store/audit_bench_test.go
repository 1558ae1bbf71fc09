package store

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"tally/audit"
	"tally/ledger"
)

// chainBenchRecords is the log size of the verification benchmarks.
const chainBenchRecords = 100_000

// chainBenchWriters submit concurrently, as HTTP handlers do, so that group
// commit batches them.
const chainBenchWriters = 256

// buildChainBenchStore makes a stopped data directory of
// chainBenchRecords records, mostly transfers, with a checkpoint about
// every 1000.
func buildChainBenchStore(dir string) (string, error) {
	s, err := Open(dir, Options{})
	if err != nil {
		return "", err
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.EnsureCheckpointKey(ctx, "tally.bench/log"); err != nil {
		return "", err
	}
	if _, err := s.Submit(ctx, ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: chainBenchOpen}); err != nil {
		return "", err
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, chainBenchWriters)
	for w := 0; w < chainBenchWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= chainBenchRecords-2 {
				if _, err := s.Submit(ctx, ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: chainBenchTransfer}); err != nil {
					errs <- err
					return
				}
				if n := next.Load(); n%1000 == 0 {
					s.Checkpoint(ctx)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return "", err
	}
	_, err = s.Checkpoint(ctx)
	return dir, err
}

func chainBenchOpen(tx ledger.Tx) (any, error) {
	for i, id := range []string{"issuance", "alice", "bob"} {
		g := ledger.GuardNoOverdraft
		if i == 0 {
			g = ledger.GuardNone
		}
		if _, err := ledger.OpenAccount(tx, ledger.AccountSpec{ID: id, Unit: ledger.HOUR, Guard: g, Kind: "member", OwnerKind: ledger.OwnerMember, Owner: id}); err != nil {
			return nil, err
		}
	}
	tx.Audit("account.open", map[string]any{"count": 3})
	return nil, nil
}

func chainBenchTransfer(tx ledger.Tx) (any, error) {
	t, err := ledger.Transfer(tx, ledger.TransferSpec{Memo: "weekly shopping for an elder neighbour",
		Postings: []ledger.Posting{{From: "issuance", To: "alice", Amount: 150, Unit: ledger.HOUR}}})
	if err != nil {
		return nil, err
	}
	tx.Audit("tx.transfer", ledger.TxFields(t))
	return t, nil
}

// BenchmarkChainVerify is `tally verify` over a stopped data directory
// of chainBenchRecords records (Badger reads, decode, hashes, tree,
// checkpoints every 1000 records, replay) and over its export file read
// from memory.
func BenchmarkChainVerify(b *testing.B) {
	dir, err := buildChainBenchStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	a, err := OpenAudit(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	b.Run("data-dir", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			rep, err := a.Verify(context.Background(), audit.VerifyOptions{})
			if err != nil || rep.Records != chainBenchRecords {
				b.Fatalf("%+v %v", rep, err)
			}
		}
		b.ReportMetric(float64(chainBenchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	var buf bytes.Buffer
	if err := a.Export(context.Background(), &buf); err != nil {
		b.Fatal(err)
	}
	b.Run("export", func(b *testing.B) {
		b.ReportMetric(float64(buf.Len())/chainBenchRecords, "export-bytes/record")
		for i := 0; i < b.N; i++ {
			rep, err := audit.Verify(context.Background(), audit.NewExportReader(bytes.NewReader(buf.Bytes())), audit.VerifyOptions{})
			if err != nil || rep.Records != chainBenchRecords {
				b.Fatalf("%+v %v", rep, err)
			}
		}
		b.ReportMetric(float64(chainBenchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkChainCommitTransfer is a whole ledger commit of one transfer, with
// chainBenchWriters concurrent writers sharing fsyncs: the denominator of the
// chain's cost.
func BenchmarkChainCommitTransfer(b *testing.B) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Submit(ctx, ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: chainBenchOpen}); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(chainBenchWriters / 2) // × GOMAXPROCS (2) goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Submit(ctx, ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: chainBenchTransfer}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkChainWork is the audit chain's share of a commit, per record:
// encoding the record, its leaf hash, and the tree hashes to store,
// read from memory as the writer reads them from its batch.
func BenchmarkChainWork(b *testing.B) {
	tree := map[int64]tlog.Hash{}
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = tree[x]
		}
		return out, nil
	})
	// The content map is the op's own (built by the ledger with or
	// without a chain); the chain adds its encoding and hashing.
	content := map[string]any{"id": "tx-12345", "kind": "transfer", "status": "posted",
		"memo":     "weekly shopping for an elder neighbour",
		"postings": []any{map[string]any{"from": "issuance", "to": "alice", "amount": int64(150), "unit": "HOUR"}},
		"effects":  []any{map[string]any{"op": "move", "tx": "tx-12345", "from": "issuance", "to": "alice", "unit": "HOUR", "amount": int64(150)}}}
	var prev audit.Hash
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		data, err := audit.Encode(&audit.Record{Seq: uint64(i), Prev: prev, Time: int64(i), Actor: "admin", Action: "tx.transfer", Content: content})
		if err != nil {
			b.Fatal(err)
		}
		hs, err := audit.StoredHashes(int64(i), data, r)
		if err != nil {
			b.Fatal(err)
		}
		for j, h := range hs {
			tree[audit.StoredHashIndex(0, int64(i))+int64(j)] = h
		}
		prev = audit.LeafHash(data)
	}
}
