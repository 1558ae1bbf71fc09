package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"tally/ledger/store"
)

// serverMetrics is the registry /metrics serves: the API's own request
// metrics (added by api.New), the store's commits, audit log and
// checkpoints, its health, and the Go runtime and process.
func serverMetrics(st *store.Store) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	stat := func(f func(store.Stats) float64) func() float64 { return func() float64 { return f(st.Stats()) } }
	flag := func(err func() error) func() float64 {
		return func() float64 {
			if err() != nil {
				return 1
			}
			return 0
		}
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tally_commits_total",
			Help: "Group commits since the start that appended records (one Badger transaction and one fsync each)."},
			stat(func(s store.Stats) float64 { return float64(s.Commits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tally_committed_requests_total",
			Help: "Changes the group commits acknowledged since the start (one audit record each; replays and refusals write nothing and are not counted); divided by tally_commits_total, the mean batch size."},
			stat(func(s store.Stats) float64 { return float64(s.Requests) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_audit_records",
			Help: "Records in the audit log."},
			stat(func(s store.Stats) float64 { return float64(s.Records) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_checkpoint_records",
			Help: "Size of the latest signed checkpoint; tally_audit_records minus it are not signed yet (signing pauses on a nearly full disk)."},
			stat(func(s store.Stats) float64 { return float64(s.Checkpointed) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_checkpoint_last_signed_timestamp_seconds",
			Help: "When this process last signed a checkpoint (Unix seconds; 0 before its first)."},
			stat(func(s store.Stats) float64 {
				if s.LastSigned.IsZero() {
					return 0
				}
				return float64(s.LastSigned.UnixNano()) / 1e9
			})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_timers_failing",
			Help: "Due timers (hold expiry, settlement, deadlines) whose op failed, tried again with a growing delay up to a minute (the log names each)."},
			stat(func(s store.Stats) float64 { return float64(s.FailingTimers) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_ledger_damaged",
			Help: "1 when verification found the stored log or state changed (figures are withheld: ledger_damaged), else 0."},
			flag(st.Damaged)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_store_broken",
			Help: "1 when the store failed in a way only a restart mends (healthz fails), else 0."},
			flag(st.Broken)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_ready",
			Help: "1 when the store takes writes (verified, not damaged or broken), else 0 (as /readyz)."},
			func() float64 { return 1 - flag(st.Ready)() }),
	)
	return reg
}
