package fund

import (
	"fmt"
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// Totals are a fund's (or one project's) figures over a period, in fen.
type Totals struct {
	Donations     int64 // donated in the period, less donations reversed in it
	DonationCount int   // likewise: donations made less donations reversed
	Disbursed     int64 // paid out in the period
	Payments      int
	Held          int64 // held by open proposals at the end of the period
	Beneficiaries int   // distinct beneficiaries paid in the period
	beneficiaries map[string]bool
}

// Report is a fund's figures over [From, To); a zero To is open-ended
// (Held is then what is held now). ByProject is keyed by project id, with
// Unrestricted for the fund's unrestricted money.
type Report struct {
	Fund      string
	From, To  time.Time
	Total     Totals
	ByProject map[string]*Totals
	sum       ledger.Sum // the totals, overflow checked
}

// BuildReport computes a fund's report from its donations and proposals.
// Errors: not_found, limit_exceeded (more than MaxReportScan documents).
func BuildReport(r ledger.Reader, fundID string, from, to time.Time) (*Report, error) {
	f, err := Get(r, fundID)
	if err != nil {
		return nil, err
	}
	rep := &Report{Fund: f.ID, From: from, To: to, ByProject: map[string]*Totals{Unrestricted: {}}}
	for id := range f.Projects {
		rep.ByProject[id] = &Totals{}
	}
	scanned := 0
	if f.ReversalsIndexed {
		err = rep.periodDonations(r, f.ID, &scanned)
	} else {
		err = scanAll(r, indexPrefix(f.ID)+idxDonation+"/", &scanned, func(id string) error {
			d := &Donation{}
			if err := r.Doc(KindDonation, id, d); err != nil {
				return err
			}
			rep.addDonation(d)
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	err = scanAll(r, indexPrefix(f.ID)+idxProposal+"/", &scanned, func(id string) error {
		p, err := GetProposal(r, id)
		if err == nil {
			rep.addProposal(p)
		}
		return err
	})
	if err == nil {
		err = rep.sum.Err()
	}
	return rep, err
}

// periodDonations adds the donations given in the period and those
// reversed in it, reading only those: both indexes follow the chain's
// order, along which times never go backwards, so each period is one
// range of an index, found by a binary search over seqs. A donation both
// given and reversed in the period is counted once, from the first.
func (rep *Report) periodDonations(r ledger.Reader, fund string, scanned *int) error {
	given := func(d *Donation) time.Time { return d.Time }
	err := rep.scanRange(r, indexPrefix(fund)+idxDonation+"/", given, scanned, func(d *Donation) { rep.addDonation(d) })
	if err != nil {
		return err
	}
	reversed := func(d *Donation) time.Time { return d.ReversedAt }
	return rep.scanRange(r, indexPrefix(fund)+idxReversal+"/", reversed, scanned, func(d *Donation) {
		if !rep.in(d.Time) {
			rep.addDonation(d)
		}
	})
}

// scanRange calls fn with the donations of an index (keyed by %020d
// seq, in the order of the times at gives them) whose time falls in the
// period.
func (rep *Report) scanRange(r ledger.Reader, prefix string, at func(*Donation) time.Time, scanned *int, fn func(*Donation)) error {
	// first returns the donation of the first index key at or after seq x.
	first := func(x uint64) (*Donation, error) {
		p := ledger.Page{Limit: 1}
		if x > 0 {
			p.After = fmt.Sprintf("%020d", x-1)
		}
		var d *Donation
		_, err := r.Index(prefix, p, func(_ string, id []byte) error {
			d = &Donation{}
			return r.Doc(KindDonation, string(id), d)
		})
		return d, err
	}
	size, _ := r.Head()
	lo, hi := uint64(0), size // the first key at or after hi is none
	for lo < hi {
		mid := lo + (hi-lo)/2
		d, err := first(mid)
		if err != nil {
			return err
		}
		if d == nil || !at(d).Before(rep.From) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	after := ""
	if hi > 0 {
		after = fmt.Sprintf("%020d", hi-1)
	}
	for {
		var stop bool
		next, err := r.Index(prefix, ledger.Page{After: after, Limit: ledger.MaxPageSize}, func(_ string, id []byte) error {
			if stop {
				return nil
			}
			if *scanned++; *scanned > MaxReportScan {
				return ledger.Errorf(ledger.CodeLimitExceeded, "fund: a report reads at most %d documents; narrow it", MaxReportScan)
			}
			d := &Donation{}
			if err := r.Doc(KindDonation, string(id), d); err != nil {
				return err
			}
			if !rep.To.IsZero() && !at(d).Before(rep.To) {
				stop = true
				return nil
			}
			fn(d)
			return nil
		})
		if err != nil || stop || next == "" {
			return err
		}
		after = next
	}
}

// in reports whether t falls in [From, To).
func (rep *Report) in(t time.Time) bool {
	return !t.Before(rep.From) && (rep.To.IsZero() || t.Before(rep.To))
}

func (rep *Report) project(id string) *Totals {
	if id == "" {
		id = Unrestricted
	}
	if rep.ByProject[id] == nil {
		rep.ByProject[id] = &Totals{}
	}
	return rep.ByProject[id]
}

func (rep *Report) addDonation(d *Donation) {
	given := rep.in(d.Time)
	// A reversal takes the money back in the period it was made.
	taken := d.Reversal != "" && rep.in(d.ReversedAt)
	if !given && !taken {
		return
	}
	for _, t := range []*Totals{&rep.Total, rep.project(d.Project)} {
		if given {
			rep.sum.Add(&t.Donations, d.Amount)
			t.DonationCount++
		}
		if taken { // the amount and the count are both net of reversals
			rep.sum.Sub(&t.Donations, d.Amount)
			t.DonationCount--
		}
	}
}

func (rep *Report) addProposal(p *Proposal) {
	heldAtEnd := (rep.To.IsZero() || p.Created.Before(rep.To)) &&
		(p.Resolved.IsZero() || !rep.To.IsZero() && !p.Resolved.Before(rep.To))
	paid := p.Status == StatusPaid && rep.in(p.Resolved)
	for _, t := range []*Totals{&rep.Total, rep.project(p.Project)} {
		if heldAtEnd {
			rep.sum.Add(&t.Held, p.Amount)
		}
		if paid {
			rep.sum.Add(&t.Disbursed, p.Amount)
			t.Payments++
			if t.beneficiaries == nil {
				t.beneficiaries = map[string]bool{}
			}
			t.beneficiaries[p.Beneficiary] = true
			t.Beneficiaries = len(t.beneficiaries)
		}
	}
}

// scanAll calls fn with every value under an index prefix, page by page,
// counting into scanned against MaxReportScan.
func scanAll(r ledger.Reader, prefix string, scanned *int, fn func(val string) error) error {
	return eachIndexed(r, prefix, func(val string) error {
		if *scanned++; *scanned > MaxReportScan {
			return ledger.Errorf(ledger.CodeLimitExceeded, "fund: a report reads at most %d documents; narrow it", MaxReportScan)
		}
		return fn(val)
	})
}

// eachIndexed calls fn with every value under an index prefix, page by
// page.
func eachIndexed(r ledger.Reader, prefix string, fn func(val string) error) error {
	pg := ledger.Page{Limit: ledger.MaxPageSize}
	for {
		next, err := r.Index(prefix, pg, func(_ string, val []byte) error { return fn(string(val)) })
		if err != nil || next == "" {
			return err
		}
		pg.After = next
	}
}

// MaxSubtreeFunds bounds the funds one subtree report adds up.
const MaxSubtreeFunds = 1_000

// SubtreeReport adds up the reports of every fund of a community subtree
// over one period (SPEC §6: donations and disbursements by fund and
// project for any subtree). Total.Beneficiaries counts a beneficiary paid
// by two funds once.
type SubtreeReport struct {
	Community string
	From, To  time.Time
	Total     Totals
	ByFund    map[string]*Report
	sum       ledger.Sum
}

// BuildSubtreeReport reports every fund whose community is root or below
// it. Errors: not_found (root), limit_exceeded (more than
// MaxSubtreeFunds funds, or a fund's report over MaxReportScan).
func BuildSubtreeReport(r ledger.Reader, root string, from, to time.Time) (*SubtreeReport, error) {
	if _, err := community.Get(r, root); err != nil {
		return nil, err
	}
	out := &SubtreeReport{Community: root, From: from, To: to, ByFund: map[string]*Report{}}
	within := map[string]bool{} // community → in the subtree
	err := eachFund(r, func(f *Fund) error {
		in, seen := within[f.Community]
		if !seen {
			c, err := community.Get(r, f.Community)
			if err != nil {
				return err
			}
			in = c.Within(root)
			within[f.Community] = in
		}
		if !in {
			return nil
		}
		if len(out.ByFund) == MaxSubtreeFunds {
			return ledger.Errorf(ledger.CodeLimitExceeded, "fund: a subtree report adds up at most %d funds; ask a smaller subtree", MaxSubtreeFunds)
		}
		rep, err := BuildReport(r, f.ID, from, to)
		if err != nil {
			return err
		}
		out.ByFund[f.ID] = rep
		out.add(&rep.Total)
		return nil
	})
	if err == nil {
		err = out.sum.Err()
	}
	return out, err
}

func (s *SubtreeReport) add(t *Totals) {
	s.sum.Add(&s.Total.Donations, t.Donations)
	s.sum.Add(&s.Total.Disbursed, t.Disbursed)
	s.sum.Add(&s.Total.Held, t.Held)
	s.Total.DonationCount += t.DonationCount
	s.Total.Payments += t.Payments
	for b := range t.beneficiaries {
		if s.Total.beneficiaries == nil {
			s.Total.beneficiaries = map[string]bool{}
		}
		s.Total.beneficiaries[b] = true
	}
	s.Total.Beneficiaries = len(s.Total.beneficiaries)
}
