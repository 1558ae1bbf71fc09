package fund

import (
	"time"

	"tally/ledger"
)

// Timers returns the fund's timer handlers by kind, for the store's
// OnTimer: the voting deadline (→ expired, hold voided) and the end of the
// objection window (→ paid).
func Timers() map[string]ledger.TimerHandler {
	return map[string]ledger.TimerHandler{TimerDeadline: Expire, TimerWindow: EndWindow, TimerDecide: Decide}
}

// Decide is the handler of TimerDecide: the quorum rule applied to a
// proposal still voting, as its next vote would, after a committee change
// settled it beyond MaxDecidedAtOnce. It records the outcome
// ("proposal.approve", "proposal.pay" or "proposal.reject"), or nothing
// when the proposal was decided meanwhile or is no longer settled.
func Decide(id string, at time.Time) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		if err := tx.Unschedule(at, TimerDecide, id); err != nil {
			return nil, err
		}
		// Judged as of when it fell due (at, the committee change), not
		// when the timer runs: after an outage past the voting deadline the
		// decision the committee made stands.
		p, err := timerProposal(tx, id)
		if err != nil || p == nil || p.Status != StatusVoting || !at.Before(p.Deadline) {
			return nil, err
		}
		f, err := Get(tx, p.Fund)
		if err != nil {
			return nil, err
		}
		action, extra, err := outcomeAt(tx, f, p, at)
		if err != nil || action == "" {
			return nil, err
		}
		return p, record(tx, p, action, extra)
	}
}

// Expire is the handler of TimerDeadline: a proposal still voting when
// its deadline at passes is expired, its hold voided, and
// "proposal.expire" recorded. A stale timer (the proposal was decided, or
// an objection set a new deadline) is dropped without a record.
func Expire(id string, at time.Time) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		p, err := timerProposal(tx, id)
		if err != nil || p == nil || p.Status != StatusVoting || !p.Deadline.Equal(at) {
			return nil, firstErr(err, tx.Unschedule(at, TimerDeadline, id))
		}
		if err := tx.Unschedule(at, TimerDeadline, id); err != nil {
			return nil, err
		}
		f, err := Get(tx, p.Fund)
		if err != nil {
			return nil, err
		}
		// A committee change settled it before the deadline and left the
		// outcome to a TimerDecide that has not run yet (timers run late
		// after an outage, and one tick's run concurrently): that decision
		// fell due first, and stands. Once the TimerDecide has run, what it
		// found holds, and a change after the deadline counts for nothing.
		pending := false
		if !p.DecideDue.IsZero() && p.DecideDue.Before(p.Deadline) {
			if pending, err = tx.Scheduled(p.DecideDue, TimerDecide, p.ID); err != nil {
				return nil, err
			}
		}
		if pending && settled(tx, f, p) {
			if err := tx.Unschedule(p.DecideDue, TimerDecide, p.ID); err != nil {
				return nil, err
			}
			action, extra, err := outcomeAt(tx, f, p, p.DecideDue)
			if err != nil {
				return nil, err
			}
			return p, record(tx, p, action, extra)
		}
		p.ended(tx, f)
		extra, err := finish(tx, p, StatusExpired, "proposal.expire")
		if err != nil {
			return nil, err
		}
		return p, record(tx, p, "proposal.expire", extra)
	}
}

// EndWindow is the handler of TimerWindow: an approved proposal whose
// objection window ends at at is paid and "proposal.pay" recorded, also
// when it runs past the hold's deadline (timers run late after the server
// was stopped: the payment is judged by when it fell due, and a tick runs
// it before the ledger's expiries). Should the ledger have voided the
// hold first all the same, the proposal is expired: nothing was paid.
func EndWindow(id string, at time.Time) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		p, err := timerProposal(tx, id)
		if err != nil || p == nil || p.Status != StatusApproved || !p.WindowEnds.Equal(at) {
			return nil, firstErr(err, tx.Unschedule(at, TimerWindow, id))
		}
		if err := tx.Unschedule(at, TimerWindow, id); err != nil {
			return nil, err
		}
		action, extra, err := pay(tx, p, at)
		if ledger.IsCode(err, ledger.CodeHoldExpired) || ledger.IsCode(err, ledger.CodeNotPending) {
			action = "proposal.expire"
			extra, err = finish(tx, p, StatusExpired, action)
		}
		if err != nil {
			return nil, err
		}
		return p, record(tx, p, action, extra)
	}
}

// timerProposal loads a proposal, or nil if it does not exist.
func timerProposal(tx ledger.Tx, id string) (*Proposal, error) {
	p, err := GetProposal(tx, id)
	if ledger.IsCode(err, ledger.CodeNotFound) {
		return nil, nil
	}
	return p, err
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// record saves p and records the op's audit event.
func record(tx ledger.Tx, p *Proposal, action string, extra map[string]any) error {
	if err := saveProposal(tx, p); err != nil {
		return err
	}
	fields := proposalFields(p)
	for k, v := range extra {
		fields[k] = v
	}
	tx.Audit(action, fields)
	return nil
}
