package timebank_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/timebank"
)

// BenchmarkServicesReportPastDay measures a one-day services report over
// the first day of a history of confirmed services, as a community asks
// for last month's figures: its cost is the day's records and a binary
// search per system account for the balances at its end, not the
// history after it. TALLY_BENCH_SERVICES (default 20,000) services are
// confirmed first, ten a day (0.5 h each, two hours apart).
//
//	go test ./ledger/timebank -run '^$' -bench ServicesReportPastDay
func BenchmarkServicesReportPastDay(b *testing.B) {
	n := benchServices(b)
	e := newEnv(b)
	e.community("c1", "", community.Policy{Earning: community.EarningDeposit})
	e.member("vol", "c1", nil, nil, community.RoleVolunteer, community.RoleResident)
	e.member("res", "c1", nil, nil, community.RoleResident)
	first := e.clock()
	for i := range n {
		e.confirmedService("vol", "res", "c1", 50)
		e.advance(2 * time.Hour) // no overlap with the next
		if i%10 == 9 {
			e.advance(4 * time.Hour)
		}
	}
	day := first.In(community.DayZone)
	b.ResetTimer()
	for range b.N {
		err := e.st.View(context.Background(), func(r ledger.Reader) error {
			rep, err := timebank.ServiceReport(r, "c1", day, day)
			if err == nil && (rep.Records == 0 || rep.Records > 10) {
				b.Fatalf("records %d, want the first day's (at most 10)", rep.Records)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/report")
	b.ReportMetric(float64(n), "services")
}

// benchServices is TALLY_BENCH_SERVICES, default 20,000.
func benchServices(b *testing.B) int {
	if v, err := strconv.Atoi(os.Getenv("TALLY_BENCH_SERVICES")); err == nil && v > 0 {
		return v
	}
	return 20_000
}
