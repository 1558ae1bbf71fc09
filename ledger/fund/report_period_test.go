package fund_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/fund"
)

// TestReportPeriodsReadOnlyTheirRange: a fund's report finds the
// donations given and reversed in its period through two indexes in the
// chain's order, not by reading every donation; for random periods
// (open-ended too, edges on a donation's own instant) its figures equal
// those counted from every donation, a donation given before the period
// and reversed in it taken back, one given and reversed inside it netted.
func TestReportPeriodsReadOnlyTheirRange(t *testing.T) {
	e := newEnv(t)
	f := e.createFund([]string{"a", "b", "c"}, 2, fund.NewProject{ID: "school", Name: "助学"})
	if !f.ReversalsIndexed {
		t.Fatal("a new fund does not index its reversals")
	}
	r := rand.New(rand.NewPCG(3, 4))
	type don struct {
		at, reversed time.Time
		amount       int64
		project      string
	}
	var dons []*don
	byID := map[string]*don{}
	var ids []string
	for range 150 {
		e.clock.Advance(time.Duration(r.IntN(5)) * time.Hour)
		if len(ids) > 0 && r.IntN(4) == 0 {
			id := ids[r.IntN(len(ids))]
			if byID[id].reversed.IsZero() {
				d := e.must(func(tx ledger.Tx) (any, error) { return fund.ReverseDonation(tx, id, "录错了") }).(*fund.Donation)
				byID[id].reversed = d.ReversedAt
				continue
			}
		}
		project := []string{"", "school"}[r.IntN(2)]
		d := e.must(donate(fund.NewDonation{Fund: "f1", Donor: "某公司", DonorKind: "company", Amount: int64(1 + r.IntN(10000)), Project: project})).(*fund.Donation)
		x := &don{at: d.Time, amount: d.Amount, project: project}
		dons, byID[d.ID], ids = append(dons, x), x, append(ids, d.ID)
	}
	instants := []time.Time{{}}
	for _, d := range dons {
		instants = append(instants, d.at, d.at.Add(time.Nanosecond))
		if !d.reversed.IsZero() {
			instants = append(instants, d.reversed, d.reversed.Add(-time.Nanosecond))
		}
	}
	in := func(t, from, to time.Time) bool { return !t.Before(from) && (to.IsZero() || t.Before(to)) }
	for range 300 {
		from, to := instants[r.IntN(len(instants))], instants[r.IntN(len(instants))]
		if !to.IsZero() && to.Before(from) {
			from, to = to, from
		}
		var want, wantSchool int64
		var count int
		for _, d := range dons {
			sign := int64(0)
			if in(d.at, from, to) {
				sign++
			}
			if !d.reversed.IsZero() && in(d.reversed, from, to) {
				sign--
			}
			want += sign * d.amount
			count += int(sign)
			if d.project == "school" {
				wantSchool += sign * d.amount
			}
		}
		var rep *fund.Report
		if err := e.st.View(context.Background(), func(rd ledger.Reader) error {
			var err error
			rep, err = fund.BuildReport(rd, "f1", from, to)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if rep.Total.Donations != want || rep.Total.DonationCount != count || rep.ByProject["school"].Donations != wantSchool {
			t.Fatalf("period [%s, %s): donations %d (%d, school %d), want %d (%d, school %d)", from, to,
				rep.Total.Donations, rep.Total.DonationCount, rep.ByProject["school"].Donations, want, count, wantSchool)
		}
	}
}
