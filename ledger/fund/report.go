package fund

import (
	"time"

	"tally/ledger"
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
	err = scanAll(r, indexPrefix(f.ID)+idxDonation+"/", &scanned, func(id string) error {
		d := &Donation{}
		if err := r.Doc(KindDonation, id, d); err != nil {
			return err
		}
		rep.addDonation(d)
		return nil
	})
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
