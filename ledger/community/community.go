// Package community keeps the district tree of communities with their
// time-bank policies, and the members of each with their roles, relatives,
// logins and HOUR accounts. The time bank and the fund build on it, and the
// API asks it who may act where.
package community

import (
	"maps"
	"slices"
	"strings"
	"time"

	"tally/ledger"
)

func init() { ledger.CapPolicy = memberCap }

// memberCap is ledger.CapPolicy: a member's time account carries its
// community's current storage cap (Policy.MaxBalance). Other accounts keep
// their own.
func memberCap(r ledger.Reader, a *ledger.Account) (int64, bool, error) {
	if a.OwnerKind != ledger.OwnerMember || a.Kind != "member" || a.Unit != ledger.HOUR || a.Community == "" {
		return 0, false, nil
	}
	c, err := Get(r, a.Community)
	if err != nil {
		return 0, false, err
	}
	return c.Policy.MaxBalance, true, nil
}

// Document kinds in the store.
const (
	KindCommunity = "community"
	KindMember    = "member"
	KindUser      = "user"
	// KindEntity reserves an id across communities, members and funds, so
	// that "<id>:<suffix>" account ids can never collide.
	KindEntity = "entity"
)

// Earning models.
const (
	EarningDeposit      = "deposit"
	EarningMutualCredit = "mutual_credit"
)

// Limits of the tree and policies.
const (
	MaxDepth           = 6 // district → street/town → community, with room
	MaxCategoryWeights = 32
	MaxWeightHundredth = 1000 // a category may weigh at most 10× an hour
	MaxSettlementDelay = 90 * 24 * time.Hour
	// MinSettlementDelay is the shortest delay other than none: a dispute
	// window under a second would close before the timer's next tick.
	MinSettlementDelay = time.Second
	MaxAge             = 150
	// DefaultCreditLimit is a mutual-credit community's credit limit when
	// its creation names none (HOUR minor units: 10 h). A limit of zero
	// would leave it where nobody can ever pay for a service (the
	// recipient pays), and the limit is fixed at creation.
	DefaultCreditLimit int64 = 10_00
)

// Policy is a community's time-bank policy.
type Policy struct {
	Earning         string           `json:"earning"`
	CreditLimit     int64            `json:"credit_limit,omitempty"`     // HOUR minor units, mutual credit
	MaxBalance      int64            `json:"max_balance,omitempty"`      // HOUR minor units, 0 = none
	SettlementDelay time.Duration    `json:"settlement_delay,omitempty"` // credits held pending
	Weights         map[string]int64 `json:"weights,omitempty"`          // category → hundredths (100 = 1×)
	MinAge          int              `json:"min_age,omitempty"`          // redemption eligibility
	HardshipMinAge  int              `json:"hardship_min_age,omitempty"`
}

// Community is a node of the tree. Path lists its ancestors from the root
// down to itself.
type Community struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Parent   string            `json:"parent,omitempty"`
	Path     []string          `json:"path"`
	Policy   Policy            `json:"policy"`
	Accounts map[string]string `json:"accounts"` // issuance, pool, redemptions, clearing
	Created  time.Time         `json:"created"`
}

// Account suffixes of a community's system accounts.
const (
	AcctIssuance    = "issuance"
	AcctPool        = "pool"
	AcctRedemptions = "redemptions"
	AcctClearing    = "clearing"
)

// DayZone is the zone of calendar days (birth dates, the daily limit,
// report periods): the communities served keep China Standard Time, and a
// fixed zone needs no tz database on the server.
var DayZone = time.FixedZone("CST", 8*3600)

// AccountID returns the id of an entity's account with the given suffix.
func AccountID(owner, suffix string) string { return owner + ":" + suffix }

// Within reports whether the community c lies in the subtree of scope;
// the empty scope is the whole deployment.
func (c *Community) Within(scope string) bool {
	return scope == "" || slices.Contains(c.Path, scope)
}

// Weight returns the weight of a category in hundredths (100 by
// default). Categories are matched ignoring case and '-' against '_', so
// that a weight cannot be dodged by spelling its category otherwise
// ("CASE_WORK", "case-work" for "case_work").
func (p Policy) Weight(category string) int64 {
	if w, ok := p.Weights[category]; ok {
		return w
	}
	c := Category(category)
	for _, k := range slices.Sorted(maps.Keys(p.Weights)) { // sorted: one answer, were two to match
		if Category(k) == c {
			return p.Weights[k]
		}
	}
	return 100
}

// Category is the form in which two spellings of a category compare
// equal: lower case, '_' for '-'.
func Category(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }

// ReservedCategory names the services report's total row (its CSV's
// first column): no category may take it.
const ReservedCategory = "total"

// CheckStoredCategory checks a category read back from a stored record
// (a need's, carried into the service that completes it): an id, not the
// reserved one, without the screen for personal numbers that a new one
// passes (data stored before it must still be usable).
func CheckStoredCategory(c string) error {
	if err := ledger.CheckID("category", c); err != nil {
		return err
	}
	if Category(c) == ReservedCategory {
		return ledger.Errorf(ledger.CodeInvalidRequest, "category %q is reserved (the reports' total row); name the kind of service", c)
	}
	return nil
}

// CheckCategory checks a service category: an id, not the reserved one.
// Errors: invalid_id, invalid_request.
func CheckCategory(c string) error {
	if err := ledger.CheckEntityID("category", c); err != nil { // it enters the chain
		return err
	}
	if Category(c) == ReservedCategory {
		return ledger.Errorf(ledger.CodeInvalidRequest, "category %q is reserved (the reports' total row); name the kind of service", c)
	}
	return nil
}

// Validate checks a policy. Errors: invalid_request, invalid_amount.
func (p *Policy) Validate() error {
	switch p.Earning {
	case "":
		p.Earning = EarningDeposit
	case EarningDeposit, EarningMutualCredit:
	default:
		return ledger.Errorf(ledger.CodeInvalidRequest, "earning must be deposit or mutual_credit")
	}
	if p.CreditLimit < 0 || p.CreditLimit > ledger.MaxAmountMinor || p.MaxBalance < 0 || p.MaxBalance > ledger.MaxAmountMinor {
		return ledger.Errorf(ledger.CodeInvalidAmount, "credit_limit and max_balance must be in range")
	}
	if p.Earning == EarningDeposit && p.CreditLimit != 0 {
		return ledger.Errorf(ledger.CodeInvalidRequest, "credit_limit applies to mutual_credit only")
	}
	if p.SettlementDelay < 0 || p.SettlementDelay > MaxSettlementDelay || p.SettlementDelay > 0 && p.SettlementDelay < MinSettlementDelay {
		return ledger.Errorf(ledger.CodeInvalidRequest, "settlement_delay must be 0 (none) or between %s and %s", MinSettlementDelay, MaxSettlementDelay)
	}
	if len(p.Weights) > MaxCategoryWeights {
		return ledger.Errorf(ledger.CodeLimitExceeded, "at most %d category weights", MaxCategoryWeights)
	}
	seen := make(map[string]bool, len(p.Weights))
	for c, w := range p.Weights {
		if err := CheckCategory(c); err != nil {
			return err
		}
		if w <= 0 || w > MaxWeightHundredth {
			return ledger.Errorf(ledger.CodeInvalidRequest, "weight of %s must be between 0.01 and %d", c, MaxWeightHundredth/100)
		}
		if seen[Category(c)] {
			return ledger.Errorf(ledger.CodeInvalidRequest, "category %s is given twice (categories ignore case, and '-' is '_')", Category(c))
		}
		seen[Category(c)] = true
	}
	if p.MinAge < 0 || p.MinAge > MaxAge || p.HardshipMinAge < 0 || p.HardshipMinAge > MaxAge {
		return ledger.Errorf(ledger.CodeInvalidRequest, "ages must be between 0 and %d", MaxAge)
	}
	if p.HardshipMinAge != 0 && (p.MinAge == 0 || p.HardshipMinAge > p.MinAge) {
		// The hardship age is an exception that lowers min_age: without
		// min_age there is no rule to lower, and above it it lowers nothing.
		return ledger.Errorf(ledger.CodeInvalidRequest, "hardship_min_age needs a min_age and must not exceed it")
	}
	return nil
}

// Fields returns the policy as audit content.
func (p Policy) Fields() map[string]any {
	w := map[string]any{}
	for k, v := range p.Weights {
		w[k] = v
	}
	return map[string]any{
		"earning": p.Earning, "credit_limit": p.CreditLimit, "max_balance": p.MaxBalance,
		"settlement_delay_s": int64(p.SettlementDelay / time.Second), "weights": w,
		"min_age": int64(p.MinAge), "hardship_min_age": int64(p.HardshipMinAge),
	}
}

// Get returns a community or not_found.
func Get(r ledger.Reader, id string) (*Community, error) {
	cache, _ := r.(ledger.DocCache)
	if cache != nil {
		if v, ok := cache.CachedDoc(KindCommunity, id); ok {
			if c, ok := v.(*Community); ok {
				return c.clone(), nil
			}
		}
	}
	c := &Community{}
	if err := r.Doc(KindCommunity, id, c); err != nil {
		return nil, err
	}
	if cache != nil {
		// Every transaction touching a member's time account reads its
		// community's policy in the single writer (ledger.CapPolicy).
		cache.CacheDoc(KindCommunity, id, c.clone())
	}
	return c, nil
}

// clone copies c deeply: a cached community is shared.
func (c *Community) clone() *Community {
	d := *c
	d.Path = slices.Clone(c.Path)
	d.Accounts = maps.Clone(c.Accounts)
	d.Policy.Weights = maps.Clone(c.Policy.Weights)
	return &d
}

// reserve claims id in the shared entity namespace. Errors: invalid_id,
// already_exists.
func reserve(tx ledger.Tx, kind, id string) error {
	if err := ledger.CheckEntityID(kind+" id", id); err != nil { // the chain keeps it for good
		return err
	}
	if strings.EqualFold(id, ledger.SystemActor.ID) {
		// The ledger's own records name it as their actor: a community or
		// fund so named would read as the ledger on a report.
		return ledger.Errorf(ledger.CodeInvalidID, "id %q is reserved for the ledger itself", id)
	}
	// Account ids are <owner>:<suffix>: an entity named "c1:pool" would
	// read as community c1's pool wherever an account id is taken, and an
	// entity "c1" made after an entity "c1:pool" would open that very id.
	// So ':' may appear in an id (shared/SPEC.md §7a), but what precedes it
	// is never another entity, and no entity extends this one.
	if owner, _, ok := strings.Cut(id, ":"); ok {
		var other string
		if err := tx.Doc(KindEntity, owner, &other); err == nil {
			return ledger.Errorf(ledger.CodeInvalidID, "%s id %s would name an account of %s %s", kind, id, other, owner)
		} else if !ledger.IsCode(err, ledger.CodeNotFound) {
			return err
		}
	}
	var extends string
	if _, err := tx.Docs(KindEntity, ledger.Page{After: id + ":", Limit: 1}, func(other string, _ []byte) error {
		if strings.HasPrefix(other, id+":") {
			extends = other
		}
		return nil
	}); err != nil {
		return err
	}
	if extends != "" {
		return ledger.Errorf(ledger.CodeInvalidID, "%s id %s would own the account id %s, already an entity's id", kind, id, extends)
	}
	var owner string
	if err := tx.Doc(KindEntity, id, &owner); err == nil {
		return ledger.Errorf(ledger.CodeAlreadyExists, "id %s is already used by a %s", id, owner)
	} else if !ledger.IsCode(err, ledger.CodeNotFound) {
		return err
	}
	if _, err := GetUser(tx, id); err == nil {
		return ledger.Errorf(ledger.CodeAlreadyExists, "id %s is another member's username", id)
	}
	return tx.PutDoc(KindEntity, id, kind)
}

// Reserve claims id for an entity of another package (a fund).
func Reserve(tx ledger.Tx, kind, id string) error { return reserve(tx, kind, id) }

// NewCommunity describes a community to create.
type NewCommunity struct {
	ID     string
	Name   string
	Parent string
	Policy Policy
}

// Create adds a community and its system HOUR accounts inside tx, and
// records "community.create". Errors: invalid_id, invalid_request,
// already_exists, not_found (parent), limit_exceeded (depth).
func Create(tx ledger.Tx, n NewCommunity) (*Community, error) {
	if err := ledger.CheckChainName("name", n.Name, ledger.MaxNameLen); err != nil {
		return nil, err
	}
	if ledger.Blank(n.Name) {
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "name is required")
	}
	if n.Policy.Earning == EarningMutualCredit && n.Policy.CreditLimit == 0 {
		n.Policy.CreditLimit = DefaultCreditLimit
	}
	if err := n.Policy.Validate(); err != nil {
		return nil, err
	}
	path := []string{}
	if n.Parent != "" {
		parent, err := Get(tx, n.Parent)
		if err != nil {
			return nil, ledger.Errorf(ledger.CodeNotFound, "parent community %s not found", n.Parent)
		}
		if len(parent.Path) >= MaxDepth {
			return nil, ledger.Errorf(ledger.CodeLimitExceeded, "communities nest at most %d deep", MaxDepth)
		}
		path = append(path, parent.Path...)
	}
	if err := reserve(tx, KindCommunity, n.ID); err != nil {
		return nil, err
	}
	// "CZ" beside "cz" would be two communities nobody tells apart on a
	// report or a form (funds and projects refuse their case twins too).
	if err := ledger.EachDocID(tx, KindCommunity, func(other string) error {
		if other != n.ID && strings.EqualFold(other, n.ID) {
			return ledger.Errorf(ledger.CodeAlreadyExists, "community %s differs from community %s only in case", n.ID, other)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	c := &Community{ID: n.ID, Name: n.Name, Parent: n.Parent, Path: append(path, n.ID),
		Policy: n.Policy, Accounts: map[string]string{}, Created: tx.Now()}
	for _, spec := range []struct {
		suffix string
		guard  ledger.Guard
	}{{AcctIssuance, ledger.GuardNone}, {AcctPool, ledger.GuardNoOverdraft},
		{AcctRedemptions, ledger.GuardNone}, {AcctClearing, ledger.GuardNone}} {
		id := AccountID(n.ID, spec.suffix)
		if _, err := ledger.OpenAccount(tx, ledger.AccountSpec{ID: id, Unit: ledger.HOUR,
			OwnerKind: ledger.OwnerCommunity, Owner: n.ID, Community: n.ID, Kind: spec.suffix, Guard: spec.guard}); err != nil {
			return nil, err
		}
		c.Accounts[spec.suffix] = id
	}
	if err := tx.PutDoc(KindCommunity, c.ID, c); err != nil {
		return nil, err
	}
	tx.Audit("community.create", map[string]any{"id": c.ID, "name": c.Name, "parent": c.Parent,
		"path": c.Path, "policy": c.Policy.Fields()})
	return c, nil
}

// SetPolicy replaces a community's policy and records "policy.set". The
// new guards apply to accounts opened afterwards and to the caps checked
// by the workflows. Errors: not_found, invalid_request.
func SetPolicy(tx ledger.Tx, id string, p Policy) (*Community, error) {
	c, err := Get(tx, id)
	if err != nil {
		return nil, err
	}
	if p.Earning == "" {
		p.Earning = c.Policy.Earning // unchanged when not named
	}
	if p.Earning == EarningMutualCredit && p.CreditLimit == 0 {
		p.CreditLimit = c.Policy.CreditLimit
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.Earning != c.Policy.Earning || p.CreditLimit != c.Policy.CreditLimit {
		// Members' accounts are opened with the earning model's guard and
		// credit limit; a change here would not reach them, so it is
		// refused rather than applying to newcomers only.
		return nil, ledger.Errorf(ledger.CodeConflict,
			"community %s: earning and credit_limit are fixed when the community is created (its members' accounts carry them); other policy fields may change", c.ID)
	}
	c.Policy = p
	if err := tx.PutDoc(KindCommunity, c.ID, c); err != nil {
		return nil, err
	}
	tx.Audit("policy.set", map[string]any{"community": c.ID, "policy": p.Fields()})
	return c, nil
}
