package timebank

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// CategoryTotal sums the confirmed records of one category.
type CategoryTotal struct {
	Records int64 `json:"records"`
	Hours   int64 `json:"hours"`
	Credits int64 `json:"credits"`
}

// Report is the service report of a community subtree over a period of
// calendar days (shared/SPEC.md §6). Hours are served hours of confirmed
// records; Credits what they earned after weights, of which CreditsHeld
// still wait for their settlement delay. Outstanding and pool figures are
// balances at the end of the period.
type Report struct {
	Community          string                    `json:"community"`
	From               string                    `json:"from"`
	To                 string                    `json:"to"`
	Communities        []string                  `json:"communities"`
	HoursCredited      int64                     `json:"hours_credited"`
	CreditsEarned      int64                     `json:"credits_earned"`
	CreditsHeld        int64                     `json:"credits_held"`
	Records            int64                     `json:"records"`
	Volunteers         int64                     `json:"volunteers"`
	Recipients         int64                     `json:"recipients"`    // distinct members served
	GroupsServed       int64                     `json:"groups_served"` // distinct groups and communities served
	TurnOuts           int64                     `json:"turn_outs"`     // distinct volunteer-days
	ByCategory         map[string]*CategoryTotal `json:"by_category"`
	CreditsRedeemed    int64                     `json:"credits_redeemed"`
	Redemptions        int64                     `json:"redemptions"`
	CreditsOutstanding int64                     `json:"credits_outstanding"`
	PoolBalance        int64                     `json:"pool_balance"`
}

// Subtree returns community root and every community below it. Errors:
// not_found, limit_exceeded.
func Subtree(r ledger.Reader, root string) ([]*community.Community, error) {
	if _, err := communityOf(r, root); err != nil {
		return nil, err
	}
	var out []*community.Community
	p := ledger.Page{Limit: ledger.MaxPageSize}
	for {
		next, err := r.Docs(community.KindCommunity, p, func(_ string, raw []byte) error {
			c := &community.Community{}
			if err := json.Unmarshal(raw, c); err != nil {
				return fmt.Errorf("timebank: community document: %w", err)
			}
			if c.Within(root) {
				out = append(out, c)
			}
			if len(out) > MaxCommunities {
				return ledger.Errorf(ledger.CodeLimitExceeded, "timebank: more than %d communities", MaxCommunities)
			}
			return nil
		})
		if err != nil || next == "" {
			return out, err
		}
		p.After = next
	}
}

// period checks a day range and returns its index bounds.
func period(from, to time.Time) (string, string, error) {
	if to.Before(from) {
		return "", "", ledger.Errorf(ledger.CodeInvalidRequest, "timebank: from is after to")
	}
	return dayKey(from), dayKey(to), nil
}

// scanDays walks the "<day>/<id>" keys under prefix from day first to
// day last inclusive, passing each key's day and id. The cursor first
// itself sorts just before the first day's keys.
func scanDays(r ledger.Reader, prefix, first, last string, budget *int, each func(day, id string, v []byte) error) error {
	return scan(r, prefix, first, *budget, func(k string, v []byte) (bool, error) {
		if len(k) < len(last) || k[:len(last)] > last {
			return false, nil
		}
		*budget--
		if *budget < 0 {
			return false, ledger.Errorf(ledger.CodeLimitExceeded, "timebank: more than %d records; narrow the period", MaxScan)
		}
		return true, each(k[:len(last)], strings.TrimPrefix(k[len(last):], "/"), v)
	})
}

// ServiceReport computes the report of root's subtree for the days from
// to to inclusive (DayZone). Errors: not_found, invalid_request,
// limit_exceeded.
func ServiceReport(r ledger.Reader, root string, from, to time.Time) (*Report, error) {
	first, last, err := period(from, to)
	if err != nil {
		return nil, err
	}
	cs, err := Subtree(r, root)
	if err != nil {
		return nil, err
	}
	rep := &Report{Community: root, From: from.Format("2006-01-02"), To: to.Format("2006-01-02"), ByCategory: map[string]*CategoryTotal{}}
	t := tally{vols: map[string]bool{}, recips: map[string]bool{}, groups: map[string]bool{}, turns: map[string]bool{}, sum: &ledger.Sum{}}
	budget := MaxScan
	for _, c := range cs {
		rep.Communities = append(rep.Communities, c.ID)
		if err := t.services(r, rep, c.ID, first, last, &budget); err != nil {
			return nil, err
		}
		if err := t.redemptions(r, rep, c.ID, first, last, &budget); err != nil {
			return nil, err
		}
		if err := balances(r, rep, c, periodEnd(to), &budget, t.sum); err != nil {
			return nil, err
		}
	}
	if err := t.sum.Err(); err != nil {
		return nil, err
	}
	rep.Volunteers, rep.Recipients, rep.GroupsServed, rep.TurnOuts = int64(len(t.vols)), int64(len(t.recips)), int64(len(t.groups)), int64(len(t.turns))
	return rep, nil
}

// tally counts the distinct people (and groups) of a report.
type tally struct {
	vols, recips, groups, turns map[string]bool
	sum                         *ledger.Sum // the report's totals, overflow checked
}

func (t tally) services(r ledger.Reader, rep *Report, c, first, last string, budget *int) error {
	return scanDays(r, "tb/rep/"+c+"/", first, last, budget, func(day, _ string, v []byte) error {
		var e repEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("timebank: report index of %s: %w", c, err)
		}
		rep.Records++
		t.sum.Add(&rep.HoursCredited, e.Hours)
		t.sum.Add(&rep.CreditsEarned, e.Credits)
		if e.Held {
			t.sum.Add(&rep.CreditsHeld, e.Credits)
		}
		cat := rep.ByCategory[e.Category]
		if cat == nil {
			cat = &CategoryTotal{}
			rep.ByCategory[e.Category] = cat
		}
		cat.Records++
		t.sum.Add(&cat.Hours, e.Hours)
		t.sum.Add(&cat.Credits, e.Credits)
		t.vols[e.Volunteer] = true
		switch e.Kind {
		case RecipientMember:
			t.recips[e.Recipient] = true
		case RecipientGroup:
			// A group is named within its community: two communities'
			// "elders-group" are two groups in a district's report.
			t.groups[e.Kind+"/"+c+"/"+e.Recipient] = true
		default:
			t.groups[e.Kind+"/"+e.Recipient] = true
		}
		t.turns[e.Volunteer+"/"+day] = true
		return nil
	})
}

func (t tally) redemptions(r ledger.Reader, rep *Report, c, first, last string, budget *int) error {
	return scanDays(r, "tb/red/"+c+"/", first, last, budget, func(_, _ string, v []byte) error {
		var h int64
		if err := json.Unmarshal(v, &h); err != nil {
			return fmt.Errorf("timebank: redemption index of %s: %w", c, err)
		}
		rep.Redemptions++
		t.sum.Add(&rep.CreditsRedeemed, h)
		return nil
	})
}

// balances adds c's credits outstanding and pool as they stood at the
// end of the period. A community's HOUR accounts sum to zero, so what its
// members and pool hold is minus the sum of its issuance, redemptions and
// clearing balances: four accounts, whatever the number of members.
func balances(r ledger.Reader, rep *Report, c *community.Community, end time.Time, budget *int, sum *ledger.Sum) error {
	var sys int64
	for _, k := range []string{community.AcctIssuance, community.AcctRedemptions, community.AcctClearing, community.AcctPool} {
		a, err := r.Account(c.Accounts[k])
		if err != nil {
			return err
		}
		bal, err := balanceAt(r, a, end, budget)
		if err != nil {
			return err
		}
		if k == community.AcctPool {
			sum.Add(&rep.PoolBalance, bal)
			continue
		}
		sum.Add(&sys, bal)
	}
	sum.Sub(&rep.CreditsOutstanding, sys)
	return nil
}

// periodEnd is the first instant after the day to (DayZone).
func periodEnd(to time.Time) time.Time {
	y, m, d := to.In(DayZone).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, DayZone)
}

// balanceAt is a's posted balance at end: the balance its last history
// line before end states, or, among lines written before lines stated
// one, its balance now less what the posted lines after end added, read
// newest first (counted against budget).
func balanceAt(r ledger.Reader, a *ledger.Account, end time.Time, budget *int) (int64, error) {
	// A line states the balance after it: the last line before end gives
	// the balance at end, found in O(log n) reads whatever came after.
	// Lines written before balances were kept state none: then the lines
	// after end are walked back from the balance now.
	if line, ok, err := lastLineBefore(r, a.ID, end); err != nil {
		return 0, err
	} else if !ok {
		return 0, nil // nothing had moved it yet
	} else if line.Balance != nil {
		return *line.Balance, nil
	}
	bal := a.Balance()
	after := ""
	for {
		es, next, err := r.Entries(a.ID, ledger.Page{After: after, Limit: ledger.MaxPageSize, Reverse: true})
		if err != nil {
			return 0, err
		}
		for _, e := range es {
			if e.Time.Before(end) {
				return bal, nil
			}
			*budget--
			if *budget < 0 {
				return 0, ledger.Errorf(ledger.CodeLimitExceeded, "timebank: more than %d records after the period; narrow it", MaxScan)
			}
			if e.Kind == entryPosted {
				bal -= e.Amount
			}
		}
		if next == "" {
			return bal, nil
		}
		after = next
	}
}

// lastLineBefore finds the last history line of account committed
// before end (ok false: none). Lines follow the chain's order, and commit
// times never go backwards along it, so the first line at or after a seq
// is a monotonic function of the seq: a binary search over seqs finds the
// first record at or after end.
func lastLineBefore(r ledger.Reader, account string, end time.Time) (ledger.Entry, bool, error) {
	newest, _, err := r.Entries(account, ledger.Page{Limit: 1, Reverse: true})
	if err != nil || len(newest) == 0 {
		return ledger.Entry{}, false, err
	}
	if newest[0].Time.Before(end) {
		return newest[0], true, nil
	}
	// firstFrom reports whether the first line at or after seq x is at or
	// after end (true when there is none).
	firstFrom := func(x uint64) (bool, error) {
		p := ledger.Page{Limit: 1}
		if x > 0 {
			p.After = ledger.EntryCursor(x-1, math.MaxUint16)
		}
		es, _, err := r.Entries(account, p)
		return len(es) == 0 || !es[0].Time.Before(end), err
	}
	lo, hi := uint64(0), newest[0].Seq // firstFrom(hi) holds
	for lo < hi {
		mid := lo + (hi-lo)/2
		late, err := firstFrom(mid)
		if err != nil {
			return ledger.Entry{}, false, err
		}
		if late {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	// Every line below seq hi is before end: the last of them.
	es, _, err := r.Entries(account, ledger.Page{After: ledger.EntryCursor(hi, 0), Limit: 1, Reverse: true})
	if err != nil || len(es) == 0 {
		return ledger.Entry{}, false, err
	}
	return es[0], true, nil
}

// entryPosted is the kind of a history line that moved a balance.
const entryPosted = "posted"
