package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/fund"
	"tally/ledger/timebank"
)

// AccountView is an account's balances as decimal strings of its unit.
type AccountView struct {
	ID         string `json:"id"`
	Unit       string `json:"unit"`
	Balance    string `json:"balance" doc:"posted credits less posted debits, in the unit"`
	Available  string `json:"available" doc:"balance less pending_out (what holds reserve); a no_overdraft account spends while it stays at or above zero, a credit_limit one down to minus credit_limit"`
	PendingIn  string `json:"pending_in" doc:"held amounts on their way in (holds not yet posted or voided); not in balance"`
	PendingOut string `json:"pending_out" doc:"held amounts on their way out; reserved, so not available"`
	Kind       string `json:"kind" doc:"member, issuance, pool, redemptions, clearing, external, fund, project, ..."`
	OwnerKind  string `json:"owner_kind" doc:"member, community, fund or external"`
	Owner      string `json:"owner"`
	Community  string `json:"community,omitempty"`
	Guard      string `json:"guard" doc:"no_overdraft (available never below zero), credit_limit (never below minus credit_limit) or none (system accounts)"`
	// CreditLimit (guard credit_limit) is how far below zero the balance
	// may go; MaxBalance the storage cap on balance plus credits held
	// (for a member, the community policy's as it stands).
	CreditLimit string `json:"credit_limit,omitempty"`
	MaxBalance  string `json:"max_balance,omitempty"`
	Status      string `json:"status" enum:"open|frozen|closed" doc:"open; frozen and closed accounts refuse new postings"`
}

// AccountViewOf renders an account.
func AccountViewOf(a *ledger.Account) AccountView {
	f := func(v int64) string { return ledger.FormatAmount(v, a.Unit) }
	v := AccountView{ID: a.ID, Unit: string(a.Unit), Balance: f(a.Balance()), Available: f(a.Available()),
		PendingIn: f(a.CreditsPending), PendingOut: f(a.DebitsPending), Kind: a.Kind,
		OwnerKind: string(a.OwnerKind), Owner: a.Owner, Community: a.Community, Guard: string(a.Guard), Status: string(a.Status)}
	if a.Guard == ledger.GuardCreditLimit {
		v.CreditLimit = f(a.CreditLimit)
	}
	if a.MaxBalance > 0 {
		v.MaxBalance = f(a.MaxBalance)
	}
	return v
}

// EntryView is one line of an account's history.
type EntryView struct {
	Seq          uint64    `json:"seq" doc:"the audit sequence number of the change that wrote this line"`
	Tx           string    `json:"tx" doc:"the transaction: a posting, a hold, or the post or void that resolved a hold"`
	Time         time.Time `json:"time"`
	Kind         string    `json:"kind" enum:"posted|pending|released" doc:"posted (moved), pending (a hold reserved it) or released (a hold's reservation undone by its post or void)"`
	Amount       string    `json:"amount" doc:"signed decimal: negative leaves this account, positive enters it (a pending line reserves it: available moves, balance does not, until the hold is posted)"` // signed: "-1.50" is a debit
	Unit         string    `json:"unit"`
	Counterparty string    `json:"counterparty" doc:"the account on the other side of the posting"`
	Memo         string    `json:"memo,omitempty"`
	Balance      string    `json:"balance,omitempty" doc:"the account's balance after this line, as a passbook shows it (a pending or released line leaves it as it was); absent on lines an earlier version wrote"`
}

// PostingRequest is one posting of a transfer.
type PostingRequest struct {
	From   string `json:"from" id:"account"`
	To     string `json:"to" id:"account"`
	Amount string `json:"amount"`
	Unit   string `json:"unit"`
}

// TransferRequest creates a transaction. Memo is about the transaction,
// not a person: it enters the audit chain and is never erased.
type TransferRequest struct {
	Postings []PostingRequest `json:"postings"`
	Memo     string           `json:"memo,omitempty" doc:"kept in the audit chain for good, never erased: about the transaction, never personal data (names, phone numbers, health details belong in a member's personal fields)"`
	Pending  bool             `json:"pending,omitempty"`
	Timeout  string           `json:"timeout,omitempty" empty:"invalid_request"`
}

// ToDomain parses the amounts and units. Errors: invalid_request,
// invalid_amount, unknown_unit, invalid_id.
func (r *TransferRequest) ToDomain() (ledger.TransferSpec, error) {
	spec := ledger.TransferSpec{Memo: r.Memo, Pending: r.Pending}
	if len(r.Postings) == 0 {
		return spec, ledger.Errorf(ledger.CodeInvalidRequest, "a transfer has 1 to %d postings", ledger.MaxPostings)
	}
	if len(r.Postings) > ledger.MaxPostings {
		return spec, ledger.Errorf(ledger.CodeLimitExceeded, "a transfer has 1 to %d postings", ledger.MaxPostings)
	}
	for _, p := range r.Postings {
		u, err := ledger.ParseUnit(p.Unit)
		if err != nil {
			return spec, err
		}
		amt, err := ledger.ParseAmount(p.Amount, u)
		if err != nil {
			return spec, err
		}
		if err := ledger.CheckAccountID(p.From); err != nil {
			return spec, err
		}
		if err := ledger.CheckAccountID(p.To); err != nil {
			return spec, err
		}
		spec.Postings = append(spec.Postings, ledger.Posting{From: p.From, To: p.To, Amount: amt, Unit: u})
	}
	if r.Timeout != "" {
		if !r.Pending {
			return spec, ledger.Errorf(ledger.CodeInvalidRequest, "timeout applies to pending transfers only")
		}
		d, err := parseDuration(r.Timeout)
		if err != nil {
			return spec, err
		}
		if d <= 0 {
			// Zero would mean "the default" to the ledger; a client that
			// writes "0s" asked for something else.
			return spec, ledger.Errorf(ledger.CodeInvalidRequest, "timeout must be between 1s and %s", ledger.MaxHoldTimeout)
		}
		spec.Timeout = d
	}
	return spec, nil
}

// PostingView is a posting with a decimal amount.
type PostingView struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount string `json:"amount"`
	Unit   string `json:"unit"`
}

// TransactionView is a transaction as the API shows it.
type TransactionView struct {
	ID         string        `json:"id"`
	Seq        uint64        `json:"seq"`
	Status     string        `json:"status" enum:"posted|pending|voided"`
	Kind       string        `json:"kind"`
	Time       time.Time     `json:"time"`
	Postings   []PostingView `json:"postings"`
	Memo       string        `json:"memo,omitempty"`
	Actor      string        `json:"actor"`
	OnBehalf   string        `json:"on_behalf,omitempty"`
	Deadline   *time.Time    `json:"deadline,omitempty"`
	PendingID  string        `json:"pending_id,omitempty"`
	Reverses   string        `json:"reverses,omitempty"`
	ResolvedBy string        `json:"resolved_by,omitempty"`
}

// TransactionViewOf renders a transaction.
func TransactionViewOf(t *ledger.Transaction) TransactionView {
	v := TransactionView{ID: t.ID, Seq: t.Seq, Status: string(t.Status), Kind: t.Kind, Time: t.Time,
		Memo: t.Memo, Actor: t.Actor, OnBehalf: t.OnBehalf, PendingID: t.PendingID, Reverses: t.Reverses, ResolvedBy: t.ResolvedBy}
	for _, p := range t.Postings {
		v.Postings = append(v.Postings, PostingView{From: p.From, To: p.To, Amount: ledger.FormatAmount(p.Amount, p.Unit), Unit: string(p.Unit)})
	}
	if !t.Deadline.IsZero() {
		d := t.Deadline
		v.Deadline = &d
	}
	return v
}

// SettleRequest posts (optionally a smaller amount) or voids a hold.
type SettleRequest struct {
	Amount string `json:"amount,omitempty" empty:"invalid_amount"`
	Memo   string `json:"memo,omitempty" doc:"kept in the audit chain for good, never erased: about the transaction, never personal data (names, phone numbers, health details belong in a member's personal fields)"`
}

// ReverseRequest reverses a posted transaction; the reason is required.
type ReverseRequest struct {
	Reason string `json:"reason" empty:"invalid_request" doc:"kept in the audit chain for good, never erased: about the correction, never personal data (names, phone numbers, health details belong in a member's personal fields)"`
}

func (s *Server) accountRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/accounts/:id", summary: "An account's balances", tag: "ledger", auth: authenticated, resp: AccountView{}, status: 200, handle: s.getAccount},
		{method: "GET", path: "/v1/accounts/:id/entries", summary: "An account's history, cursor paged (order=newest|oldest)", tag: "ledger", auth: authenticated, query: []string{"after", "limit:int", "order"}, resp: List[EntryView]{}, status: 200, handle: s.getEntries},
		{method: "POST", path: "/v1/transfers", summary: "Create a transaction (posted, or pending as a hold)", tag: "ledger", auth: authenticated, roles: staff, req: TransferRequest{}, resp: TransactionView{}, status: 201, handle: s.createTransfer},
		{method: "GET", path: "/v1/transfers/:id", summary: "A transaction", tag: "ledger", auth: authenticated, resp: TransactionView{}, status: 200, handle: s.getTransfer},
		{method: "POST", path: "/v1/transfers/:id/post", summary: "Post a hold, in full or for a smaller amount", tag: "ledger", auth: authenticated, roles: staff, req: SettleRequest{}, resp: TransactionView{}, status: 200, handle: s.postTransfer},
		{method: "POST", path: "/v1/transfers/:id/void", summary: "Void a hold", tag: "ledger", auth: authenticated, roles: staff, req: SettleRequest{}, resp: TransactionView{}, status: 200, handle: s.voidTransfer},
		{method: "POST", path: "/v1/accounts/:id/status", summary: "Freeze, reopen or close an account (frozen and closed accounts refuse new postings)", tag: "ledger", auth: authenticated, roles: staff, req: AccountStatusRequest{}, resp: AccountView{}, status: 200, handle: s.setAccountStatus},
		{method: "POST", path: "/v1/transfers/:id/reverse", summary: "Reverse a posted transfer, gift or pool grant with a new transaction naming it and why (a gift across communities also comes off the settlement view); other workflows correct their own transactions", tag: "ledger", auth: authenticated, roles: staff, req: ReverseRequest{}, resp: TransactionView{}, status: 201, handle: s.reverseTransfer},
	}
}

func (s *Server) readAccount(c *gin.Context, r ledger.Reader) (*ledger.Account, error) {
	id := c.Param("id")
	if err := ledger.CheckAccountID(id); err != nil {
		return nil, err
	}
	a, err := r.Account(id)
	if err != nil {
		return nil, err
	}
	return a, canReadAccount(r, principal(c), a)
}

func (s *Server) getAccount(c *gin.Context) {
	viewJSON(s, c, func(r ledger.Reader) (AccountView, error) {
		a, err := s.readAccount(c, r)
		if err == nil {
			err = ledger.CurrentCap(r, a)
		}
		if err != nil {
			return AccountView{}, err
		}
		return AccountViewOf(a), nil
	})
}

func (s *Server) getEntries(c *gin.Context) {
	pg, err := page(c)
	if err != nil {
		fail(c, err)
		return
	}
	viewJSON(s, c, func(r ledger.Reader) (List[EntryView], error) {
		a, err := s.readAccount(c, r)
		if err != nil {
			return List[EntryView]{}, err
		}
		es, next, err := r.Entries(a.ID, pg)
		if err != nil {
			return List[EntryView]{}, err
		}
		views := make([]EntryView, len(es))
		for i, e := range es {
			views[i] = EntryView{Seq: e.Seq, Tx: e.Tx, Time: e.Time, Kind: e.Kind, Amount: ledger.FormatAmount(e.Amount, e.Unit),
				Unit: string(e.Unit), Counterparty: e.Counterparty, Memo: e.Memo}
			if e.Balance != nil {
				views[i].Balance = ledger.FormatAmount(*e.Balance, e.Unit)
			}
		}
		return newList(views, next), nil
	})
}

// accountsInScope refuses a transaction touching accounts outside the
// caller's scope (checked inside the op, on the state it commits over).
func accountsInScope(tx ledger.Tx, p *Principal, ids ...string) error {
	for _, id := range ids {
		a, err := tx.Account(id)
		if err != nil {
			return err
		}
		if a.Community == "" {
			if p.Community != "" {
				if a.OwnerKind == ledger.OwnerMember { // as unknown, like any member out of scope
					return ledger.Errorf(ledger.CodeNotFound, "account %s not found", id)
				}
				return ledger.Errorf(ledger.CodeForbidden, "account %s is outside your scope", id)
			}
			continue
		}
		if err := inScope(tx, p, a.Community); err != nil {
			if a.OwnerKind == ledger.OwnerMember {
				// A member's account out of scope is as unknown as a
				// missing one: a 403 would confirm the person exists.
				return hideOutOfScope(err, "account %s not found", id)
			}
			return err
		}
	}
	return nil
}

// workflowOf returns transaction id, or for the post of a hold the hold:
// the transaction whose kind says which workflow made the money move.
func workflowOf(tx ledger.Tx, id string) (*ledger.Transaction, error) {
	t, err := tx.Transaction(id)
	if err != nil || t.Kind != "post" || t.PendingID == "" {
		return t, err
	}
	return tx.Transaction(t.PendingID)
}

// noFundMoney refuses any raw transaction touching a fund's accounts,
// whoever asks, the admin included: a fund's money moves only through
// donations and proposals its committee votes on (and restricted money
// only to its project), so neither a payout without a vote nor a move out
// of a project account can be made with a transfer, post, void or
// reversal.
func noFundMoney(tx ledger.Tx, ids ...string) error {
	for _, id := range ids {
		a, err := tx.Account(id)
		if err != nil {
			return err
		}
		if a.OwnerKind != ledger.OwnerFund && a.OwnerKind != ledger.OwnerExternal {
			continue
		}
		if _, err := fund.Get(tx, a.Owner); err == nil {
			return ledger.Errorf(ledger.CodeForbidden, "account %s belongs to fund %s: its money moves by donations (corrected with POST /v1/donations/{id}/reverse) and voted proposals", id, a.Owner)
		}
	}
	return nil
}

// withinCommunity refuses a raw posting between accounts of two
// communities: each community's accounts sum to zero, which is what makes
// its issuance and clearing balances its outstanding credits and what it
// owes. Credits cross communities only through the workflows, which post
// the clearing legs and the settlement (通存通兑).
func withinCommunity(tx ledger.Tx, postings []ledger.Posting) error {
	for _, ps := range postings {
		from, err := tx.Account(ps.From)
		if err != nil {
			return err
		}
		to, err := tx.Account(ps.To)
		if err != nil {
			return err
		}
		if from.Community != "" && to.Community != "" && from.Community != to.Community {
			return ledger.Errorf(ledger.CodeForbidden, "%s and %s belong to different communities; credits cross communities through redemptions, gifts and services, which keep the clearing accounts", ps.From, ps.To)
		}
		for _, a := range []*ledger.Account{from, to} {
			if err := workflowAccount(a); err != nil {
				return err
			}
		}
	}
	return nil
}

// workflowAccount refuses a raw posting to or from a community's clearing
// or redemptions account, whoever asks: what communities owe each other
// (the settlement) is kept beside the clearing legs the workflows post,
// and what was redeemed beside the redemptions, so a raw move would make
// a receivable out of nothing, or spend redeemed credits again, with
// every report still adding up the old way.
func workflowAccount(a *ledger.Account) error {
	if a.OwnerKind != ledger.OwnerCommunity {
		return nil
	}
	switch a.Kind {
	case community.AcctClearing:
		return ledger.Errorf(ledger.CodeForbidden, "%s is a clearing account: it moves only with the redemptions, gifts and services between communities that keep the settlement", a.ID)
	case community.AcctRedemptions:
		return ledger.Errorf(ledger.CodeForbidden, "%s holds redeemed credits: it moves only with redemptions (corrected by cancelling or reversing them)", a.ID)
	}
	return nil
}

// noSelfCredit refuses a coordinator's transfer that credits their own
// account or a relative's (conflict_of_interest): staff move credits to
// others, and someone else moves them to staff and their families. The
// deployment's admin, who answers for the whole ledger, may; an admin
// scoped to a community is staff of that community like its coordinators.
func noSelfCredit(tx ledger.Tx, p *Principal, postings []ledger.Posting) error {
	if deploymentAdmin(p) {
		return nil
	}
	for _, ps := range postings {
		a, err := tx.Account(ps.To)
		if err != nil {
			return err
		}
		if a.OwnerKind != ledger.OwnerMember {
			continue
		}
		if err := community.NoConflict(tx, p.Member, a.Owner, "a transfer"); err != nil {
			return err
		}
	}
	return nil
}

func deploymentAdmin(p *Principal) bool { return p.Has(community.RoleAdmin) && p.Community == "" }

// debitedMember is the member, other than the caller, whose account a
// staff transfer takes credits out of ("" for none): such a transfer is
// made for them (代办, SPEC §1), names them as such, and says why.
// Errors: invalid_request (several members' accounts at once); an
// account that does not exist is the transfer's to report.
func debitedMember(r ledger.Reader, p *Principal, postings []ledger.Posting) (string, error) {
	owner := ""
	for _, ps := range postings {
		a, err := r.Account(ps.From)
		if err != nil || a.OwnerKind != ledger.OwnerMember || a.Owner == p.Member || a.Owner == owner {
			continue
		}
		if owner != "" {
			return "", ledger.Errorf(ledger.CodeInvalidRequest, "a transfer takes credits out of one member's account at a time (%s and %s)", owner, a.Owner)
		}
		owner = a.Owner
	}
	return owner, nil
}

// rawHold refuses to settle through /v1/transfers a hold that a workflow
// made (a proposal's disbursement, a held service credit, a booking): its
// own route settles it, keeping the workflow's state and rules (a quorum,
// a dispute window) in step with the money.
func rawHold(t *ledger.Transaction) error {
	if t.Status == ledger.TxPending && t.Kind != "transfer" {
		return workflowHold(t)
	}
	return nil
}

// workflowHold refuses posting or voiding a workflow's transaction
// through the transfer routes, whatever its state (a settled booking
// answers as an open one does).
func workflowHold(t *ledger.Transaction) error {
	if t.Kind != "transfer" {
		return ledger.Errorf(ledger.CodeForbidden, "hold %s is a %s; settle it through its own route", t.ID, t.Kind)
	}
	return nil
}

// neverHeld refuses settling a workflow's transaction that was never a
// hold (the post or void of one, a reversal, a donation): nothing to
// settle, whoever asks and whatever accounts it touched.
func neverHeld(t *ledger.Transaction) error {
	if t.Kind != "transfer" && t.Deadline.IsZero() {
		return ledger.Errorf(ledger.CodeNotPending, "transaction %s is a %s, not a hold", t.ID, t.Kind)
	}
	return nil
}

// backwards is postings run the other way: what undoing them moves.
func backwards(ps []ledger.Posting) []ledger.Posting {
	back := make([]ledger.Posting, len(ps))
	for i, p := range ps {
		back[i] = ledger.Posting{From: p.To, To: p.From, Amount: p.Amount, Unit: p.Unit}
	}
	return back
}

func postingAccounts(ps []ledger.Posting) []string {
	ids := make([]string, 0, 2*len(ps))
	for _, p := range ps {
		ids = append(ids, p.From, p.To)
	}
	return ids
}

func (s *Server) createTransfer(c *gin.Context) {
	var req TransferRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	spec, err := req.ToDomain()
	if err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	// Credits taken out of a member's account by staff are taken for them
	// (代办): the record names both — unless the deployment's admin, who
	// answers for the whole ledger in their own name, takes them, or the
	// member cannot be acted for (erased, staff, out of scope: the checks
	// below refuse or allow the transfer as they would).
	var debited string
	actingFor := func(r ledger.Reader) string {
		if debited != "" && !deploymentAdmin(p) && actableFor(r, p, debited) == nil {
			return debited
		}
		return ""
	}
	s.view(c, func(r ledger.Reader) error {
		debited, _ = debitedMember(r, p, spec.Postings)
		p.OnBehalf = actingFor(r)
		return nil
	})
	s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
		// The record names whom it was made for as the request was read;
		// a member who meanwhile became (or stopped being) someone the
		// caller acts for makes it another request.
		if actingFor(tx) != p.OnBehalf {
			return nil, ledger.Errorf(ledger.CodeConflict, "the accounts changed while this request was waiting; send it again")
		}
		if err := accountsInScope(tx, p, postingAccounts(spec.Postings)...); err != nil {
			return nil, err
		}
		if err := noFundMoney(tx, postingAccounts(spec.Postings)...); err != nil {
			return nil, err
		}
		if err := noSelfCredit(tx, p, spec.Postings); err != nil {
			return nil, err
		}
		if err := withinCommunity(tx, spec.Postings); err != nil {
			return nil, err
		}
		// Judged before the ledger's own checks: the shape of a request is
		// refused the same way whatever the balances (a second member's
		// account was insufficient_funds while empty).
		owner, err := debitedMember(tx, p, spec.Postings)
		switch {
		case err != nil:
			return nil, err
		case owner != debited:
			return nil, ledger.Errorf(ledger.CodeConflict, "the accounts changed while this request was waiting; send it again")
		}
		sent := spec
		if debited != "" && ledger.Blank(sent.Memo) {
			// memo is optional (SPEC §7a); credits taken out of a member's
			// account by someone else still say so in the transaction.
			sent.Memo = "taken out of the account of " + debited + " by " + p.Member + " (no reason given)"
		}
		t, err := ledger.Transfer(tx, sent)
		if err != nil {
			return nil, err
		}
		if err := community.ErasedAccountsSettle(tx, t.Postings); err != nil {
			return nil, err
		}
		action := "tx.transfer"
		if spec.Pending {
			action = "tx.hold"
		}
		tx.Audit(action, ledger.TxFields(t))
		return TransactionViewOf(t), nil
	})
}

func (s *Server) getTransfer(c *gin.Context) {
	viewOne(s, c, ledger.Reader.Transaction, canReadTransaction, TransactionViewOf)
}

// canReadTransaction: whoever may read one of its accounts may read the
// transaction; to anyone else it is as unknown as a missing one.
func canReadTransaction(r ledger.Reader, p *Principal, t *ledger.Transaction) error {
	for _, id := range postingAccounts(t.Postings) {
		if a, err := r.Account(id); err == nil && canReadAccount(r, p, a) == nil {
			return nil
		}
	}
	return ledger.Errorf(ledger.CodeNotFound, "transaction %s not found", t.ID)
}

// settleOp wraps a post/void/reverse of transaction id in a scope check;
// settles is true for a post or void, which only a hold can take.
func (s *Server) settleOp(c *gin.Context, status int, action string, settles bool, fn func(tx ledger.Tx, t *ledger.Transaction) (*ledger.Transaction, error)) {
	p, id := principal(c), c.Param("id")
	s.commit(c, status, func(tx ledger.Tx) (any, error) {
		t, err := tx.Transaction(id)
		if err != nil {
			return nil, err
		}
		if err := canReadTransaction(tx, p, t); err != nil {
			return nil, err
		}
		if err := accountsInScope(tx, p, postingAccounts(t.Postings)...); err != nil {
			return nil, err
		}
		if settles {
			if err := neverHeld(t); err != nil { // before the fund's refusal: true of any
				return nil, err
			}
		}
		if err := noFundMoney(tx, postingAccounts(t.Postings)...); err != nil {
			return nil, err
		}
		if err := rawHold(t); err != nil {
			return nil, err
		}
		r, err := fn(tx, t)
		if err != nil {
			return nil, err
		}
		tx.Audit(action, ledger.TxFields(r))
		return TransactionViewOf(r), nil
	})
}

// settleAmount reads a post's or void's optional amount in the unit of
// the hold :id (nil when none is given); false when it answered an error.
func (s *Server) settleAmount(c *gin.Context, req *SettleRequest) (*int64, bool) {
	if req.Amount == "" {
		return nil, true
	}
	var unit ledger.Unit
	if !s.view(c, func(r ledger.Reader) error {
		t, err := r.Transaction(c.Param("id"))
		if err == nil && len(t.Postings) > 0 {
			unit = t.Postings[0].Unit
		}
		return err
	}) {
		return nil, false
	}
	amt, err := ledger.ParseAmount(req.Amount, unit)
	if err != nil {
		fail(c, err)
		return nil, false
	}
	return &amt, true
}

func (s *Server) postTransfer(c *gin.Context) {
	var req SettleRequest
	if err := bindOptional(c, &req); err != nil {
		fail(c, err)
		return
	}
	amount, ok := s.settleAmount(c, &req)
	if !ok {
		return
	}
	s.settleOp(c, http.StatusOK, "tx.post", true, func(tx ledger.Tx, t *ledger.Transaction) (*ledger.Transaction, error) {
		if err := workflowHold(t); err != nil {
			return nil, err
		}
		// A raw hold on a clearing or redemptions account (made before
		// such holds were refused) is voided, not posted: posting it would
		// move what the settlement or the redemptions do not know of.
		for _, id := range postingAccounts(t.Postings) {
			a, err := tx.Account(id)
			if err != nil {
				return nil, err
			}
			if err := workflowAccount(a); err != nil {
				return nil, err
			}
		}
		// Posting is what moves the value: staff do not post a hold that
		// pays themselves or a relative, whoever made it.
		if err := noSelfCredit(tx, principal(c), t.Postings); err != nil {
			return nil, err
		}
		// A partial post also gives the payer back the rest, as a void
		// gives all of it: not to the caller or a relative.
		if amount != nil {
			if err := noSelfCredit(tx, principal(c), backwards(t.Postings)); err != nil {
				return nil, err
			}
		}
		posted, err := ledger.PostPending(tx, t.ID, amount, req.Memo)
		if err != nil {
			return nil, err
		}
		// A hold made before its payee was erased is voided, not posted
		// (unless it clears a debt they left): nobody could act for what
		// it would credit.
		return posted, community.ErasedAccountsSettle(tx, posted.Postings)
	})
}

func (s *Server) voidTransfer(c *gin.Context) {
	var req SettleRequest
	if err := bindOptional(c, &req); err != nil {
		fail(c, err)
		return
	}
	// SPEC §7a gives /post and /void one body: a void releases the whole
	// hold, so an amount, when given, is the amount held.
	amount, ok := s.settleAmount(c, &req)
	if !ok {
		return
	}
	s.settleOp(c, http.StatusOK, "tx.void", true, func(tx ledger.Tx, t *ledger.Transaction) (*ledger.Transaction, error) {
		if err := workflowHold(t); err != nil {
			return nil, err
		}
		if held := ledger.HeldTotal(t.Postings); amount != nil && t.Status == ledger.TxPending && *amount != held {
			if held < 0 {
				return nil, ledger.Errorf(ledger.CodeInvalidAmount, "a void releases the whole hold, of more than one unit here: give no amount")
			}
			return nil, ledger.Errorf(ledger.CodeInvalidAmount, "a void releases the whole hold: amount, when given, is the amount held (%s)", ledger.FormatAmount(held, t.Postings[0].Unit))
		}
		// A void gives the payer back what the hold reserved: staff do
		// not void a hold on their own or a relative's account.
		if err := noSelfCredit(tx, principal(c), backwards(t.Postings)); err != nil {
			return nil, err
		}
		return ledger.VoidBeforeDeadline(tx, t.ID, req.Memo)
	})
}

// bindReverse binds a reversal's body: a reason of white space alone is
// no reason, refused before the thing reversed is looked up, as an empty
// one is (review s25R2), on the three reversal routes alike.
func bindReverse(c *gin.Context) (*ReverseRequest, bool) {
	var req ReverseRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return nil, false
	}
	if ledger.Blank(req.Reason) {
		failCode(c, ledger.CodeInvalidRequest, "a reversal needs a reason")
		return nil, false
	}
	return &req, true
}

func (s *Server) reverseTransfer(c *gin.Context) {
	req, ok := bindReverse(c)
	if !ok {
		return
	}
	p := principal(c)
	s.settleOp(c, http.StatusCreated, "tx.reverse", false, func(tx ledger.Tx, t *ledger.Transaction) (*ledger.Transaction, error) {
		id := t.ID
		// A reversal pays back whoever the original took from: not the
		// caller or their family (the original's payer is the reversal's
		// payee).
		if err := noSelfCredit(tx, p, backwards(t.Postings)); err != nil {
			return nil, err
		}
		w, err := workflowOf(tx, id)
		switch {
		case err != nil || w.Kind == "transfer":
			r, err := ledger.Reverse(tx, id, req.Reason)
			if err != nil {
				return nil, err
			}
			return r, community.ErasedAccountsSettle(tx, r.Postings)
		case w.Kind == timebank.KindGift || w.Kind == timebank.KindGrant:
			// Gifts and grants keep no records beyond their transaction;
			// their reversal also corrects what communities owe each other.
			return timebank.ReverseMove(tx, id, req.Reason)
		}
		// Any other workflow's transaction (a service credit, a
		// redemption, a donation, a disbursement) also lives in the
		// workflow's records and reports; a bare reversal would leave them
		// saying otherwise.
		return nil, ledger.Errorf(ledger.CodeForbidden, "transaction %s is a %s; it is corrected through its workflow, not reversed", id, w.Kind)
	})
}

// AccountStatusRequest freezes ("frozen"), reopens ("open") or closes
// ("closed", only an empty account without holds) an account. The reason is
// about the account's state, not a person: it enters the chain.
type AccountStatusRequest struct {
	Status string `json:"status" enum:"frozen|open|closed"`
	Reason string `json:"reason,omitempty" doc:"kept in the audit chain for good, never erased: about the decision, never personal data (names, phone numbers, health details belong in a member's personal fields)"`
}

func (s *Server) setAccountStatus(c *gin.Context) {
	var req AccountStatusRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := ledger.CheckChainText("reason", req.Reason, ledger.MaxMemoLen); err != nil {
		fail(c, err)
		return
	}
	p, id := principal(c), c.Param("id")
	if err := ledger.CheckAccountID(id); err != nil {
		fail(c, err)
		return
	}
	s.commit(c, http.StatusOK, func(tx ledger.Tx) (any, error) {
		if err := accountsInScope(tx, p, id); err != nil {
			return nil, err
		}
		if !p.Has(community.RoleAdmin) { // freezing a fund's account is the admin's
			if err := noFundMoney(tx, id); err != nil {
				return nil, err
			}
		}
		if err := mayChangeStatus(tx, p, id, ledger.Status(req.Status)); err != nil {
			return nil, err
		}
		a, err := ledger.SetAccountStatus(tx, id, ledger.Status(req.Status))
		if err != nil {
			return nil, err
		}
		tx.Audit("account.status", map[string]any{"account": a.ID, "status": string(a.Status), "reason": req.Reason})
		shown := *a
		if err := ledger.CurrentCap(tx, &shown); err != nil {
			return nil, err
		}
		return AccountViewOf(&shown), nil
	})
}

// mayChangeStatus keeps a freeze a safeguard: nobody changes the status of
// their own or a registered relative's account (a frozen coordinator
// would reopen it), and a freeze is lifted (or the account closed) only by an admin (a
// coordinator in scope could otherwise undo a freeze the operator
// placed while it investigates).
func mayChangeStatus(tx ledger.Tx, p *Principal, id string, to ledger.Status) error {
	a, err := tx.Account(id)
	if err != nil {
		return err
	}
	if a.OwnerKind == ledger.OwnerMember && p.Member != "" {
		if a.Owner == p.Member {
			return ledger.Errorf(ledger.CodeForbidden, "nobody changes the status of their own account; another coordinator or an admin does")
		}
		me, err1 := community.GetMember(tx, p.Member)
		owner, err2 := community.GetMember(tx, a.Owner)
		if err1 == nil && err2 == nil && community.AreRelatives(me, owner) {
			return ledger.Errorf(ledger.CodeConflictOfInterest, "account %s is of %s, a registered relative of %s; someone else changes its status", id, a.Owner, p.Member)
		}
	}
	if to == ledger.StatusClosed && !p.Has(community.RoleAdmin) {
		// A closed account is never reopened, by anyone: a coordinator
		// who closed a community's clearing or issuance account would end
		// its redemptions across communities, or its credits, for good
		// (probe s26d). A coordinator freezes; an admin closes.
		return ledger.Errorf(ledger.CodeForbidden, "closing an account is for good and is an admin's to do; freeze it meanwhile")
	}
	if a.Status == ledger.StatusFrozen && to != ledger.StatusFrozen && !p.Has(community.RoleAdmin) {
		// Closing it would make the freeze permanent, past the admin.
		return ledger.Errorf(ledger.CodeForbidden, "a frozen account is reopened or closed by an admin")
	}
	return nil
}
