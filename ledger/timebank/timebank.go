// Package timebank is the time bank's workflows on top of the ledger:
// needs and offers, service records and how they earn credits under a
// community's policy, redemptions from a catalogue, gifts, pool grants,
// exchange between communities through clearing accounts, collusion
// signals and the service report (shared/SPEC.md §4, §6).
//
// Every function runs inside one ledger.Op; the exported workflow steps
// record exactly one audit event each, naming members by id only. Memos,
// reasons, titles and item names are about the transaction, never about a
// person: they enter the chain and are never erased.
//
// Per-community indexes (keys under "tb/") keep reports and lists from
// scanning the whole store:
//
//	tb/svc/<community>/<seq>           → service id (list)
//	tb/vday/<volunteer>/<day>/<id>     → {start, hours} (daily limit, overlaps)
//	tb/rep/<community>/<day>/<id>      → confirmed service (report, signals)
//	tb/flag/<community>/<seq>          → flagged (overlapping) service id
//	tb/need/<community>/<seq>          → need id
//	tb/offer/<community>/<seq>         → offer id
//	tb/cat/<community>/<item>          → catalogue item JSON
//	tb/red/<community>/<day>/<id>      → posted redemption (report)
//	tb/rdm/<community>/<seq>           → redemption id (list, where redeemed)
//	tb/rdmine/<member>/<seq>           → redemption id (the member's list)
//	tb/owe/<a>/<b>                     → net HOUR minor units a owes b
//
// <day> is the calendar day in China Standard Time (DayZone), <seq> the
// zero-padded audit sequence number so that lists come out in order.
package timebank

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// Error codes of the time bank, beside ledger's.
const (
	CodeSelfConfirmation   ledger.Code = "self_confirmation"    // the volunteer confirms or rejects their own record
	CodeSelfService        ledger.Code = "self_service"         // serving or claiming for oneself
	CodeDailyLimitExceeded ledger.Code = "daily_limit_exceeded" // over MaxDailyHours in a day
	CodeFutureOccurrence   ledger.Code = "occurred_in_future"   // occurred_at after now
	CodeWrongState         ledger.Code = "wrong_state"          // the step does not apply in this state
	CodeFlaggedOverlap     ledger.Code = "flagged_overlap"      // an overlapping record needs a coordinator
	CodeNotVolunteer       ledger.Code = "not_volunteer"        // the member lacks the volunteer role
	CodeNotInCommunity     ledger.Code = "not_in_community"     // the member belongs elsewhere
	CodeNotEligible        ledger.Code = "not_eligible"         // redemption eligibility (age) not met
	CodeNotRelative        ledger.Code = "not_relative"         // a gift to someone not a registered relative
	CodePriceMismatch      ledger.Code = "price_mismatch"       // hours differ from the catalogue price
	CodeItemWithdrawn      ledger.Code = "item_withdrawn"       // the catalogue no longer offers the item
)

// Limits of the time bank.
const (
	// MaxServiceHours bounds one record, MaxDailyHours one volunteer's
	// records starting on one calendar day (HOUR minor units).
	MaxServiceHours int64 = 24 * 100
	MaxDailyHours   int64 = 24 * 100
	// MaxClockSkew forgives a phone clock slightly ahead of the server's.
	MaxClockSkew = 5 * time.Minute
	// MaxBackdate bounds how late a service may be logged.
	MaxBackdate = 366 * 24 * time.Hour
	// SettleGrace keeps a held credit postable this long after its
	// settlement delay, so a late timer still settles it instead of the
	// ledger's hold expiry voiding it.
	SettleGrace = 30 * 24 * time.Hour
	// BookingHold is how long a booked redemption holds its credits before
	// the ledger voids the hold by itself.
	BookingHold = 30 * 24 * time.Hour
	// MaxCatalogueItems bounds one community's catalogue.
	MaxCatalogueItems = 1000
	// MaxQuantity bounds the quantity of one redemption, MaxItemPrice the
	// price of one catalogue item (100,000 h), so price × quantity cannot
	// overflow.
	MaxQuantity        = 1000
	MaxItemPrice int64 = 100_000 * 100
	// MaxScan bounds the index entries one report or signal pass reads.
	MaxScan = 1_000_000
	// MaxCommunities bounds the communities one report covers.
	MaxCommunities = 10_000
)

// DayZone is the zone of calendar days (the daily limit, report periods):
// community.DayZone, China Standard Time.
var DayZone = community.DayZone

// Document kinds in the store.
const (
	KindService    = "tb.service"
	KindNeed       = "tb.need"
	KindOffer      = "tb.offer"
	KindRedemption = "tb.redemption"
)

// TimerSettle is the timer kind that posts a held service credit when its
// settlement delay ends.
const TimerSettle = "timebank.settle"

// Timers returns the time bank's timer handlers by kind, to register with
// the store (store.OnTimer).
func Timers() map[string]ledger.TimerHandler {
	return map[string]ledger.TimerHandler{TimerSettle: SettleTimer}
}

// Caller is who acts: Member is the member the request is for (the
// resident when a coordinator acts on their behalf), Staff whether the
// caller acts as a coordinator or admin with scope over the community
// concerned. The API decides Staff with its one scope check.
type Caller struct {
	Member string
	Staff  bool
}

// dayKey is the calendar day of t as it sorts in an index key.
func dayKey(t time.Time) string { return t.In(DayZone).Format("20060102") }

// seqKey orders index entries by the audit sequence that made them.
func seqKey(seq uint64) string { return ledger.SeqKey(seq) }

// ParseDay parses a "YYYY-MM-DD" calendar day in DayZone, or the day in
// DayZone of an RFC 3339 time. Errors: invalid_request.
func ParseDay(s string) (time.Time, error) {
	d, err := time.ParseInLocation("2006-01-02", s, DayZone)
	if err != nil {
		t, err2 := ledger.ParseRFC3339(s)
		if err2 != nil {
			return time.Time{}, ledger.Errorf(ledger.CodeInvalidRequest, "timebank: %q is not a date like 2025-01-31", truncate(s, 16))
		}
		t = t.In(DayZone)
		d = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, DayZone)
	}
	if d.Year() < MinDayYear || d.Year() > MaxDayYear {
		// Day 0000-01-01 begins in year -1 in UTC, and the day after
		// 9999-12-31 in year 10000: neither can be written back in RFC 3339.
		return time.Time{}, ledger.Errorf(ledger.CodeInvalidRequest, "timebank: %q is not a day between %04d-01-01 and %04d-12-31", truncate(s, 32), MinDayYear, MaxDayYear)
	}
	return d, nil
}

// MinDayYear and MaxDayYear bound the days a report period may name.
const (
	MinDayYear = 1
	MaxDayYear = 9999
)

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// errStop ends an index scan early without an error.
var errStop = errors.New("timebank: stop")

// scan walks every key under prefix after the cursor after, page by page,
// until each returns false; more than max entries is limit_exceeded.
func scan(r ledger.Reader, prefix, after string, max int, each func(key string, val []byte) (bool, error)) error {
	n := 0
	for {
		next, err := r.Index(prefix, ledger.Page{After: after, Limit: ledger.MaxPageSize}, func(k string, v []byte) error {
			if n++; n > max {
				return ledger.Errorf(ledger.CodeLimitExceeded, "timebank: more than %d entries to read; narrow the period", max)
			}
			more, err := each(k, v)
			if err == nil && !more {
				return errStop
			}
			return err
		})
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil || next == "" {
			return err
		}
		after = next
	}
}

// indexGet reads the value of exactly key. The exact key sorts first among
// the keys it prefixes, so one entry answers.
func indexGet(r ledger.Reader, key string) ([]byte, bool, error) {
	var val []byte
	found := false
	_, err := r.Index(key, ledger.Page{Limit: 1}, func(k string, v []byte) error {
		if k == "" {
			val, found = v, true
		}
		return nil
	})
	return val, found, err
}

func putJSON(tx ledger.Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("timebank: encode index %s: %w", key, err)
	}
	return tx.PutIndex(key, b)
}

// member loads a member to take part in a workflow: not_found, or
// conflict for an erased member.
func member(r ledger.Reader, id string) (*community.Member, error) {
	if err := ledger.CheckID("member", id); err != nil {
		return nil, err
	}
	m, err := community.GetMember(r, id)
	if err != nil {
		return nil, err
	}
	// Every caller takes the member into something new (a need, a claim,
	// a service, a credit, a gift, a redemption): not an erased one.
	if err := community.NotErased(m); err != nil {
		return nil, err
	}
	return m, nil
}

// communityOf loads a community, not_found otherwise.
func communityOf(r ledger.Reader, id string) (*community.Community, error) {
	if err := ledger.CheckID("community", id); err != nil {
		return nil, err
	}
	c, err := community.Get(r, id)
	if err != nil {
		return nil, ledger.Errorf(ledger.CodeNotFound, "timebank: community %s not found", id)
	}
	return c, nil
}

// volunteerIn checks that m may serve in community c.
func volunteerIn(m *community.Member, c string) error {
	if !m.Has(community.RoleVolunteer) {
		return ledger.Errorf(CodeNotVolunteer, "timebank: member %s is not a volunteer", m.ID)
	}
	if m.Community != c {
		return ledger.Errorf(CodeNotInCommunity, "timebank: member %s is not a member of community %s", m.ID, c)
	}
	return nil
}

// district is the root of c's community tree.
func district(c *community.Community) string {
	if len(c.Path) == 0 {
		return c.ID
	}
	return c.Path[0]
}

// hourAccount returns the HOUR account of a member.
func hourAccount(r ledger.Reader, m *community.Member) (*ledger.Account, error) {
	id, ok := m.Accounts[string(ledger.HOUR)]
	if !ok {
		return nil, ledger.Errorf(ledger.CodeNotFound, "timebank: member %s has no HOUR account", m.ID)
	}
	return r.Account(id)
}

// checkHours validates an amount of hours in minor units.
func checkHours(what string, h, max int64) error {
	if h <= 0 || h > max {
		return ledger.Errorf(ledger.CodeInvalidAmount, "timebank: %s must be above 0 and at most %s", what, ledger.FormatAmount(max, ledger.HOUR))
	}
	return nil
}

// checkReason validates an optional reason or memo.
func checkReason(s string) error { return ledger.CheckChainText("reason", s, ledger.MaxMemoLen) }

// withOptional adds k = v to the audit fields when v is set.
func withOptional(m map[string]any, k, v string) map[string]any {
	if v != "" {
		m[k] = v
	}
	return m
}
