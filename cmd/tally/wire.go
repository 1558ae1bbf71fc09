package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"

	"tally/api"
	"tally/ledger"
	"tally/ledger/fund"
	"tally/ledger/store"
	"tally/ledger/timebank"
)

// auditWiring is the audit log served by the API and how to stop its
// checkpointer (which signs a last checkpoint on the way out).
type auditWiring struct {
	log  api.AuditLog
	stop func()
}

// StorageFullLogEvery is how often a checkpointer paused by a nearly
// full disk says so.
const StorageFullLogEvery = 5 * time.Minute

// startAudit ensures the checkpoint key (a key.create record on the first
// start), signs a first checkpoint and starts the checkpointer.
func startAudit(ctx context.Context, st *store.Store) (auditWiring, error) {
	origin := envOr("TALLY_ORIGIN", "")
	vkey, err := st.EnsureCheckpointKey(ctx, origin)
	if err != nil {
		return auditWiring{}, err
	}
	if name, _, _ := strings.Cut(vkey, "+"); origin != "" && name != origin {
		slog.Warn("TALLY_ORIGIN is used only when a data directory is first initialised; the log keeps its origin", "origin", name, "TALLY_ORIGIN", origin)
	}
	// The records since the last checkpoint (a crash before it was
	// signed) are checkpointed now; on a nearly full disk that waits for
	// the checkpointer, as every write does, and the server starts and
	// serves reads.
	if _, err := st.Checkpoint(ctx); ledger.IsCode(err, ledger.CodeStorageFull) {
		slog.Warn("checkpoint deferred: the disk is nearly full", "err", err)
	} else if err != nil {
		return auditWiring{}, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var lastFull time.Time
		st.RunCheckpointer(cctx, 0, func(err error) {
			// A nearly full disk pauses checkpoints for as long as it
			// lasts: said once every StorageFullLogEvery, not every second.
			if ledger.IsCode(err, ledger.CodeStorageFull) {
				if time.Since(lastFull) >= StorageFullLogEvery {
					lastFull = time.Now()
					slog.Warn("checkpoints paused: the disk is nearly full (said again every 5 minutes while it lasts)", "err", err)
				}
				return
			}
			slog.Error("checkpoint", "err", err)
		})
	}()
	stop := func() {
		cancel()
		<-done
		if _, err := st.Checkpoint(context.Background()); err != nil {
			slog.Error("final checkpoint", "err", err)
		}
	}
	return auditWiring{log: auditLog{st.Audit()}, stop: stop}, nil
}

// auditLog adapts the store's audit reader to what the API serves.
type auditLog struct{ a *store.AuditDB }

func (l auditLog) Checkpoint(ctx context.Context) ([]byte, error) {
	c, err := l.a.LatestCheckpoint()
	return c.Note, err
}

func (l auditLog) VerifierKey(ctx context.Context) (string, error) {
	keys, err := l.a.VerifierKeys()
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "", ledger.Errorf(ledger.CodeNotFound, "no checkpoint key yet")
	}
	return keys[len(keys)-1], nil
}

func (l auditLog) Records(ctx context.Context, from uint64, limit int) ([]api.AuditRecord, error) {
	recs, _, err := l.a.Records(from, limit)
	out := make([]api.AuditRecord, len(recs))
	for i, r := range recs {
		out[i] = api.AuditRecord{Seq: r.Seq, Hash: r.Hash[:], Record: r.Record}
	}
	return out, err
}

func hashBytes[H ~[32]byte](hs []H) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		h := hs[i]
		out[i] = h[:]
	}
	return out
}

func (l auditLog) Inclusion(ctx context.Context, seq, size uint64) ([][]byte, uint64, error) {
	p, n, err := l.a.InclusionProof(seq, size)
	return hashBytes(p), n, err
}

func (l auditLog) Consistency(ctx context.Context, from, to uint64) ([][]byte, error) {
	p, err := l.a.ConsistencyProof(from, to)
	return hashBytes(p), err
}

func (l auditLog) Receipt(ctx context.Context, seq uint64) (any, error) { return l.a.Receipt(seq) }

func (l auditLog) Export(ctx context.Context, w io.Writer) error { return l.a.Export(ctx, w) }

func (l auditLog) Checkpoints(ctx context.Context, after uint64, limit int) ([]api.CheckpointNote, error) {
	cks, err := l.a.Checkpoints(after, limit)
	out := make([]api.CheckpointNote, len(cks))
	for i, c := range cks {
		out[i] = api.CheckpointNote{Size: c.Size, Note: string(c.Note)}
	}
	return out, err
}

// registerTimers connects the workflows' timers (settlement, proposal
// deadlines and objection windows) to the store.
func registerTimers(st *store.Store) {
	for _, ts := range []map[string]ledger.TimerHandler{timebank.Timers(), fund.Timers()} {
		for kind, h := range ts {
			st.OnTimer(kind, h)
		}
	}
}
