package ledger

import "time"

// Guard says how far an account's available balance may fall.
type Guard string

const (
	// GuardNoOverdraft: available may not drop below zero (members' default).
	GuardNoOverdraft Guard = "no_overdraft"
	// GuardCreditLimit: available may drop to -CreditLimit (mutual credit).
	GuardCreditLimit Guard = "credit_limit"
	// GuardNone: system accounts (issuance, external) that go negative by
	// design; their negative balance is an obligation or an inflow.
	GuardNone Guard = "none"
)

// Status of an account. Frozen and closed accounts refuse new postings.
type Status string

const (
	StatusOpen   Status = "open"
	StatusFrozen Status = "frozen"
	StatusClosed Status = "closed"
)

// OwnerKind names what owns an account.
type OwnerKind string

const (
	OwnerMember    OwnerKind = "member"
	OwnerCommunity OwnerKind = "community"
	OwnerFund      OwnerKind = "fund"
	OwnerExternal  OwnerKind = "external"
)

// Account holds one unit. Balances follow the TigerBeetle model: posted and
// pending debits and credits, so balance and available are O(1).
type Account struct {
	ID          string    `json:"id"`
	Unit        Unit      `json:"unit"`
	OwnerKind   OwnerKind `json:"owner_kind"`
	Owner       string    `json:"owner"`
	Kind        string    `json:"kind"`                // member, issuance, pool, redemptions, clearing, external, fund, project, ...
	Community   string    `json:"community,omitempty"` // scope: the community the account belongs to
	Guard       Guard     `json:"guard"`
	CreditLimit int64     `json:"credit_limit,omitempty"` // minor units, >= 0
	MaxBalance  int64     `json:"max_balance,omitempty"`  // minor units, 0 = none
	Status      Status    `json:"status"`
	Created     time.Time `json:"created"`
	Seq         uint64    `json:"seq"` // audit record that opened it

	DebitsPosted   int64 `json:"debits_posted"`
	CreditsPosted  int64 `json:"credits_posted"`
	DebitsPending  int64 `json:"debits_pending"`
	CreditsPending int64 `json:"credits_pending"`
}

// Balance is credits posted minus debits posted.
func (a *Account) Balance() int64 { return a.CreditsPosted - a.DebitsPosted }

// Available is the balance less what is held for pending debits.
func (a *Account) Available() int64 { return a.Balance() - a.DebitsPending }

// checkFigures returns overflow unless every figure an account shows —
// balance, available (balance less pending debits) and balance with its
// pending credits — fits in int64: each of the four counters is checked
// as it grows, but a hold on an account already near the limit could
// make available wrap around while every counter fits.
func (a *Account) checkFigures() error {
	b, err := addChecked(a.CreditsPosted, -a.DebitsPosted)
	if err != nil {
		return err
	}
	if _, err := addChecked(b, -a.DebitsPending); err != nil {
		return err
	}
	_, err = addChecked(b, a.CreditsPending)
	return err
}

// floor is the lowest available balance the guard allows.
func (a *Account) floor() (int64, bool) {
	switch a.Guard {
	case GuardNoOverdraft:
		return 0, true
	case GuardCreditLimit:
		return -a.CreditLimit, true
	}
	return 0, false
}

// canDebit checks the guard for a new debit of amt (posted or pending).
func (a *Account) canDebit(amt int64) error {
	if err := a.open(); err != nil {
		return err
	}
	floor, guarded := a.floor()
	if guarded && a.Available()-amt < floor {
		if a.Guard == GuardCreditLimit {
			return Errorf(CodeInsufficientFunds, "account %s can spend %s more (available %s, credit limit %s)", a.ID,
				FormatAmount(max(a.Available()-floor, 0), a.Unit), FormatAmount(a.Available(), a.Unit), FormatAmount(a.CreditLimit, a.Unit))
		}
		return Errorf(CodeInsufficientFunds, "account %s has %s available", a.ID, FormatAmount(a.Available(), a.Unit))
	}
	return nil
}

// canCredit checks the storage cap for a new credit of amt.
func (a *Account) canCredit(amt int64) error {
	if err := a.open(); err != nil {
		return err
	}
	if a.MaxBalance > 0 && a.Balance()+a.CreditsPending+amt > a.MaxBalance {
		return Errorf(CodeMaxBalanceExceeded, "account %s would exceed its maximum balance of %s", a.ID, FormatAmount(a.MaxBalance, a.Unit))
	}
	return nil
}

// Headroom returns how much more a can be credited before its storage cap,
// or -1 when it has no cap.
func (a *Account) Headroom() int64 {
	if a.MaxBalance <= 0 {
		return -1
	}
	h := a.MaxBalance - a.Balance() - a.CreditsPending
	if h < 0 {
		return 0
	}
	return h
}

// CheckOpen returns account_frozen or account_closed unless a takes
// postings: for a workflow that decides where value goes by the account
// (a credit above the storage cap goes to the pool instead) and must
// refuse a frozen owner even when no posting would touch the account.
func (a *Account) CheckOpen() error { return a.open() }

func (a *Account) open() error {
	switch a.Status {
	case StatusFrozen:
		return Errorf(CodeAccountFrozen, "account %s is frozen", a.ID)
	case StatusClosed:
		return Errorf(CodeAccountClosed, "account %s is closed", a.ID)
	}
	return nil
}

// AccountSpec describes an account to open.
type AccountSpec struct {
	ID          string
	Unit        Unit
	OwnerKind   OwnerKind
	Owner       string
	Kind        string
	Community   string
	Guard       Guard
	CreditLimit int64
	MaxBalance  int64
}
