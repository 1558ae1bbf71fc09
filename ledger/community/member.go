package community

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"tally/ledger"
)

// Role is what a member may do; see shared/SPEC.md §1.
type Role string

const (
	RoleResident    Role = "resident"
	RoleVolunteer   Role = "volunteer"
	RoleCoordinator Role = "coordinator"
	RoleCommittee   Role = "committee"
	RoleAuditor     Role = "auditor"
	RoleAdmin       Role = "admin"
)

// Roles lists every role.
var Roles = []Role{RoleResident, RoleVolunteer, RoleCoordinator, RoleCommittee, RoleAuditor, RoleAdmin}

// Personal data fields accepted into the encrypted store. Nothing else
// about a person is kept, and none of it enters the chain.
var PersonalFields = []string{"display_name", "real_name", "phone", "id_number", "birth_date", "notes", "hardship"}

// MaxPersonalLen bounds each personal field.
const MaxPersonalLen = 500

// Member is a registered person. The member document holds only opaque
// ids; names and other personal data live in the encrypted store.
type Member struct {
	ID        string            `json:"id"`
	Community string            `json:"community"` // "" only for the bootstrap admin: the whole deployment
	Roles     []Role            `json:"roles"`
	Relatives []string          `json:"relatives,omitempty"`
	Accounts  map[string]string `json:"accounts"` // unit → account id
	Login     bool              `json:"login"`
	Erased    bool              `json:"erased,omitempty"`
	Created   time.Time         `json:"created"`
	// TokensAfter (Unix milliseconds) refuses the member's tokens issued
	// before it: a password change or reset ends every session — but the
	// one, TokenKept (a token id), that changed its own password.
	TokensAfter int64  `json:"tokens_after,omitempty"`
	TokenKept   string `json:"token_kept,omitempty"`
}

// Has reports whether m holds any of roles.
func (m *Member) Has(roles ...Role) bool {
	for _, r := range roles {
		if slices.Contains(m.Roles, r) {
			return true
		}
	}
	return false
}

// User is a login: a username, the member it logs in as, and the password
// hash (bcrypt). It lives outside the chain: usernames are often phone
// numbers.
type User struct {
	Username     string `json:"username"`
	Member       string `json:"member"`
	PasswordHash []byte `json:"password_hash"`
}

// GetMember returns a member or not_found.
func GetMember(r ledger.Reader, id string) (*Member, error) {
	cache, _ := r.(ledger.DocCache)
	if cache != nil {
		if v, ok := cache.CachedDoc(KindMember, id); ok {
			if m, ok := v.(*Member); ok {
				return m.clone(), nil
			}
		}
	}
	m := &Member{}
	if err := r.Doc(KindMember, id, m); err != nil {
		return nil, ledger.Errorf(ledger.CodeNotFound, "member %s not found", id)
	}
	if cache != nil {
		// Every gift, service and redemption reads its members in the
		// single writer; decoding them each time was a fifth of its work.
		cache.CacheDoc(KindMember, id, m.clone())
	}
	return m, nil
}

// clone copies m deeply: a cached member is shared.
func (m *Member) clone() *Member {
	c := *m
	c.Roles = slices.Clone(m.Roles)
	c.Relatives = slices.Clone(m.Relatives)
	c.Accounts = maps.Clone(m.Accounts)
	return &c
}

// UserKey is the key a username's login is kept and throttled under:
// usernames are case-insensitive, so that "Zhang" and "zhang" are one
// login, never two that look alike (ids, and so usernames, are ASCII).
func UserKey(username string) string { return strings.ToLower(username) }

// GetUser returns a login, whatever the case its username is typed in,
// or not_found.
func GetUser(r ledger.Reader, username string) (*User, error) {
	_, u, err := getUser(r, username)
	return u, err
}

// getUser also returns the key the login is kept under: the username
// exactly as typed first — a login made before usernames were
// case-insensitive whose lower-case key another had already (the store
// moved the others to their lower-case keys when it opened) — then
// UserKey's.
func getUser(r ledger.Reader, username string) (string, *User, error) {
	u := &User{}
	key := username
	err := r.Doc(KindUser, key, u)
	if ledger.IsCode(err, ledger.CodeNotFound) && UserKey(username) != username {
		key = UserKey(username)
		err = r.Doc(KindUser, key, u)
		if err == nil && username != u.Member {
			// Typed as it is spelled, the name is another's id ("M5",
			// where login "m5" is member m6's): it does not log in as
			// someone else (ids are case-sensitive, logins not).
			var owner string
			if derr := r.Doc(KindEntity, username, &owner); derr == nil && owner == KindMember {
				return "", nil, ledger.Errorf(ledger.CodeNotFound, "no login %s", username)
			} else if derr != nil && !ledger.IsCode(derr, ledger.CodeNotFound) {
				return "", nil, derr
			}
		}
	}
	if err != nil {
		return "", nil, err
	}
	return key, u, nil
}

// NewMember describes a member to register. PasswordHash is computed by
// the caller (outside the writer: hashing is slow on purpose).
type NewMember struct {
	ID           string
	Community    string
	Roles        []Role
	Relatives    []string
	Username     string
	PasswordHash []byte
	Personal     map[string]string
	// Global makes a member with no community: scope over the whole
	// deployment. Only the first-start bootstrap of the admin uses it.
	Global bool
}

// CheckRoles judges a list of roles: 1 to ledger.MaxRoles known roles,
// none twice. Errors: invalid_request, limit_exceeded.
func CheckRoles(roles []Role) error {
	if len(roles) == 0 {
		return ledger.Errorf(ledger.CodeInvalidRequest, "a member has 1 to %d roles", ledger.MaxRoles)
	}
	if len(roles) > ledger.MaxRoles {
		// A named limit, as for the other lists (relatives, postings) and
		// as the body's list cap says past 64 (probe s24e).
		return ledger.Errorf(ledger.CodeLimitExceeded, "a member has 1 to %d roles", ledger.MaxRoles)
	}
	for i, r := range roles {
		if !slices.Contains(Roles, r) {
			return ledger.Errorf(ledger.CodeInvalidRequest, "unknown role %q", r)
		}
		if slices.Contains(roles[:i], r) {
			return ledger.Errorf(ledger.CodeInvalidRequest, "role %q is listed twice", r)
		}
	}
	return nil
}

func checkPersonal(p map[string]string, now time.Time) error {
	for k, v := range p {
		if !slices.Contains(PersonalFields, k) {
			return ledger.Errorf(ledger.CodeInvalidRequest, "unknown personal field %q: the fields are %s", k, strings.Join(PersonalFields, ", "))
		}
		check := ledger.CheckText
		if k == "display_name" && v != "" {
			// The name the views show, also when sent among the personal
			// fields: one line and at most a name's length, as the
			// top-level field is (review s27l).
			check = func(k, v string, _ int) error { return ledger.CheckName(k, v, ledger.MaxNameLen) }
		}
		if err := check(k, v, MaxPersonalLen); err != nil {
			return err
		}
	}
	if b, ok := p["birth_date"]; ok && b != "" {
		// Eligibility rules (age 65) read it: a date that does not parse,
		// or one no living resident has, is refused now rather than
		// making every later redemption fail.
		born, err := time.ParseInLocation(BirthDateLayout, b, DayZone)
		// Today as the communities' calendar has it (China time).
		if err != nil || born.Year() < MinBirthYear || born.After(now.In(DayZone)) {
			return ledger.Errorf(ledger.CodeInvalidRequest,
				"birth_date must be a date YYYY-MM-DD from %d to today", MinBirthYear)
		}
	}
	if h, ok := p["hardship"]; ok && h != "" && h != "true" && h != "false" {
		// The eligibility rule reads it as a flag: "yes" or "是" would
		// silently read as no hardship.
		return ledger.Errorf(ledger.CodeInvalidRequest, `hardship must be "true" or "false"`)
	}
	return nil
}

// BirthDateLayout is the form of personal birth_date; MinBirthYear the
// earliest year accepted.
const (
	BirthDateLayout = "2006-01-02"
	MinBirthYear    = 1900
)

// CreateMember registers a member with a HOUR account guarded by the
// community's policy, and records "member.create" (ids and roles only).
// Errors: invalid_id, invalid_request, not_found (community, relative),
// already_exists (id or username).
func CreateMember(tx ledger.Tx, n NewMember) (*Member, error) {
	if err := ledger.CheckPseudonym("id", n.ID); err != nil {
		return nil, err
	}
	if strings.EqualFold(n.ID, ledger.SystemActor.ID) {
		// Records by the ledger itself (hold expiry, deadlines) name it
		// as their actor: a member so named could pass for it.
		return nil, ledger.Errorf(ledger.CodeInvalidID, "id %q is reserved for the ledger itself", n.ID)
	}
	if err := CheckRoles(n.Roles); err != nil {
		return nil, err
	}
	if err := checkPersonal(n.Personal, tx.Now()); err != nil {
		return nil, err
	}
	c := &Community{Policy: Policy{Earning: EarningDeposit}}
	if !n.Global {
		var err error
		if c, err = Get(tx, n.Community); err != nil {
			return nil, ledger.Errorf(ledger.CodeNotFound, "community %s not found", n.Community)
		}
	} else if n.Community != "" {
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "a global member has no community")
	}
	if len(n.Relatives) > ledger.MaxRelatives {
		return nil, ledger.Errorf(ledger.CodeLimitExceeded, "at most %d relatives", ledger.MaxRelatives)
	}
	var relatives []*Member
	for i, rel := range n.Relatives {
		if rel == n.ID {
			return nil, ledger.Errorf(ledger.CodeInvalidRequest, "a member is not their own relative")
		}
		if slices.Contains(n.Relatives[:i], rel) {
			return nil, ledger.Errorf(ledger.CodeInvalidRequest, "relative %s is listed twice", rel)
		}
		r, err := GetMember(tx, rel)
		if err != nil {
			return nil, err
		}
		if err := NotErased(r); err != nil {
			return nil, err
		}
		if len(r.Relatives) >= ledger.MaxRelatives {
			return nil, ledger.Errorf(ledger.CodeLimitExceeded, "member %s already has %d relatives", rel, ledger.MaxRelatives)
		}
		relatives = append(relatives, r)
	}
	// Being relatives is mutual: each named relative lists the new member
	// too, so both members' views show it.
	for _, r := range relatives {
		r.Relatives = append(r.Relatives, n.ID)
		if err := tx.PutDoc(KindMember, r.ID, r); err != nil {
			return nil, err
		}
	}
	if err := reserve(tx, KindMember, n.ID); err != nil {
		return nil, err
	}
	m := &Member{ID: n.ID, Community: n.Community, Roles: n.Roles, Relatives: n.Relatives,
		Accounts: map[string]string{}, Created: tx.Now()}
	if n.Username != "" {
		if err := addUser(tx, n.Username, n.ID, n.PasswordHash); err != nil {
			return nil, err
		}
		m.Login = true
	}
	spec := ledger.AccountSpec{ID: AccountID(n.ID, string(ledger.HOUR)), Unit: ledger.HOUR,
		OwnerKind: ledger.OwnerMember, Owner: n.ID, Community: n.Community, Kind: "member", Guard: ledger.GuardNoOverdraft,
		MaxBalance: c.Policy.MaxBalance}
	if c.Policy.Earning == EarningMutualCredit {
		spec.Guard, spec.CreditLimit = ledger.GuardCreditLimit, c.Policy.CreditLimit
	}
	a, err := ledger.OpenAccount(tx, spec)
	if err != nil {
		return nil, err
	}
	m.Accounts[string(ledger.HOUR)] = a.ID
	if len(n.Personal) > 0 {
		if err := tx.PutPersonal(n.ID, n.Personal); err != nil {
			return nil, err
		}
	}
	if err := tx.PutDoc(KindMember, m.ID, m); err != nil {
		return nil, err
	}
	if m.Community != "" {
		if err := tx.PutIndex(rosterKey(m.Community, tx.Seq()), []byte(m.ID)); err != nil {
			return nil, err
		}
	}
	tx.Audit("member.create", map[string]any{"id": m.ID, "community": m.Community,
		"roles": roleStrings(m.Roles), "relatives": m.Relatives, "login": m.Login})
	return m, nil
}

// rosterKey lists a member under their community, in order of
// registration (members of a community never move).
func rosterKey(c string, seq uint64) string { return "mem/" + c + "/" + ledger.SeqKey(seq) }

// ListMembers lists the members registered in community c (not its
// subtree), in order of registration (the page says which way); with roles, only those holding any of them.
// The page counts roster entries, so a filter that matches few cannot make
// one call read the whole roster. Erased members stay listed (erased).
// Errors: invalid_request (an unknown role).
func ListMembers(r ledger.Reader, c string, roles []Role, p ledger.Page) ([]*Member, string, error) {
	for i, role := range roles {
		if !slices.Contains(Roles, role) || slices.Contains(roles[:i], role) {
			return nil, "", ledger.Errorf(ledger.CodeInvalidRequest, "role %q is not one of %v, or named twice", role, Roles)
		}
	}
	var out []*Member
	next, err := r.Index("mem/"+c+"/", p, func(_ string, v []byte) error {
		m, err := GetMember(r, string(v))
		if err != nil {
			return err
		}
		if len(roles) == 0 || m.Has(roles...) {
			out = append(out, m)
		}
		return nil
	})
	return out, next, err
}

func addUser(tx ledger.Tx, username, member string, hash []byte) error {
	if err := ledger.CheckID("username", username); err != nil {
		return err
	}
	if len(hash) == 0 {
		return ledger.Errorf(ledger.CodeInvalidRequest, "a username needs a password")
	}
	if _, err := GetUser(tx, username); err == nil {
		return ledger.Errorf(ledger.CodeAlreadyExists, "username is taken")
	}
	// Logging in as "zhang" must not make someone other than member
	// zhang: a username is its member's own id or no one's, in any case.
	for _, id := range []string{username, UserKey(username)} {
		if id == member {
			continue
		}
		var owner string
		if err := tx.Doc(KindEntity, id, &owner); err == nil {
			return ledger.Errorf(ledger.CodeAlreadyExists, "username %s is the id of a %s", username, owner)
		} else if !ledger.IsCode(err, ledger.CodeNotFound) {
			return err
		}
	}
	return tx.PutDoc(KindUser, UserKey(username), User{Username: username, Member: member, PasswordHash: hash})
}

// SetPassword replaces the password hash of member's login username
// ("member.password"; the record names the member, never the username or
// the hash) and refuses every token issued to the member before it but
// keep (the token id of a member changing their own password, "" for a
// reset). Errors: not_found (no such login of that member).
func SetPassword(tx ledger.Tx, username, member string, hash []byte, keep string) error {
	// The request names the username (often a phone number) and carries
	// a password: its idempotency record dies with the member's erasure.
	tx.Concerns(member)
	key, u, err := getUser(tx, username)
	if err != nil || u.Member != member {
		return ledger.Errorf(ledger.CodeNotFound, "member %s has no login %s", member, username)
	}
	m, err := GetMember(tx, member)
	if err != nil {
		return err
	}
	if err := NotErased(m); err != nil {
		return err
	}
	if len(hash) == 0 {
		return ledger.Errorf(ledger.CodeInvalidRequest, "a login needs a password")
	}
	u.PasswordHash = hash
	if err := tx.PutDoc(KindUser, key, u); err != nil {
		return err
	}
	// Whoever held the old password may hold tokens too.
	m.TokensAfter, m.TokenKept = tx.Now().UnixMilli(), keep
	if err := tx.PutDoc(KindMember, m.ID, m); err != nil {
		return err
	}
	tx.Audit("member.password", map[string]any{"member": member})
	return nil
}

func roleStrings(rs []Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

// NotErased refuses (conflict) to take an erased member into anything new:
// a workflow, a relation, a role. Their history stays; they take no part
// in what follows (PIPL erasure).
func NotErased(m *Member) error {
	if m.Erased {
		return ledger.Errorf(ledger.CodeConflict, "member %s was erased and takes part in nothing new", m.ID)
	}
	return nil
}

// SetRoles replaces a member's roles and records "role.grant". Errors:
// not_found, invalid_request.
func SetRoles(tx ledger.Tx, id string, roles []Role) (*Member, error) {
	if err := CheckRoles(roles); err != nil {
		return nil, err
	}
	m, err := GetMember(tx, id)
	if err != nil {
		return nil, err
	}
	if err := NotErased(m); err != nil {
		return nil, err
	}
	// Nobody grants themself a role: an admin who made themself a
	// committee member or an auditor would vote on, or audit, what they
	// run (separation of duties, as for their own password and account
	// status); another admin grants it. Dropping one's own roles is left
	// to the caller's rules.
	if tx.Actor().ID == id {
		for _, r := range roles {
			if !slices.Contains(m.Roles, r) {
				return nil, ledger.Errorf(ledger.CodeForbidden, "you cannot grant yourself the %s role; another admin can", r)
			}
		}
	}
	m.Roles = roles
	if err := tx.PutDoc(KindMember, m.ID, m); err != nil {
		return nil, err
	}
	tx.Audit("role.grant", map[string]any{"member": m.ID, "roles": roleStrings(roles)})
	return m, nil
}

// MemberChange is what UpdateMember changes; a nil field is left as is.
type MemberChange struct {
	// Personal fields to set (PersonalFields; "" removes one, and
	// display_name cannot be removed).
	Personal map[string]string
	// Relatives replaces the member's relatives; both sides of every link
	// added or removed change (being relatives is mutual).
	Relatives *[]string
}

// UpdateMember changes a member's personal data or relatives and records
// "member.update", naming the member, which personal fields changed (not
// their values: personal data never enters the chain) and the relatives.
// Errors: not_found, conflict (erased), invalid_request, limit_exceeded.
func UpdateMember(tx ledger.Tx, id string, ch MemberChange) (*Member, error) {
	m, err := GetMember(tx, id)
	if err != nil {
		return nil, err
	}
	if err := NotErased(m); err != nil {
		return nil, err
	}
	fields := map[string]any{"member": m.ID}
	if ch.Personal != nil {
		if err := checkPersonal(ch.Personal, tx.Now()); err != nil {
			return nil, err
		}
		if v, ok := ch.Personal["display_name"]; ok && ledger.Blank(v) {
			return nil, ledger.Errorf(ledger.CodeInvalidRequest, "display_name cannot be removed")
		}
		cur, err := tx.Personal(m.ID)
		if err != nil && !ledger.IsCode(err, ledger.CodeNotFound) {
			return nil, err
		}
		next := maps.Clone(cur)
		if next == nil {
			next = map[string]string{}
		}
		for k, v := range ch.Personal {
			if v == "" {
				delete(next, k)
			} else {
				next[k] = v
			}
		}
		if err := tx.PutPersonal(m.ID, next); err != nil {
			return nil, err
		}
		fields["personal_fields"] = slices.Sorted(maps.Keys(ch.Personal))
	}
	if ch.Relatives != nil {
		if err := setRelatives(tx, m, *ch.Relatives); err != nil {
			return nil, err
		}
		fields["relatives"] = m.Relatives
	}
	if err := tx.PutDoc(KindMember, m.ID, m); err != nil {
		return nil, err
	}
	tx.Audit("member.update", fields)
	return m, nil
}

// setRelatives makes rels m's relatives, adding m to every new one's list
// and removing it from every dropped one's.
func setRelatives(tx ledger.Tx, m *Member, rels []string) error {
	if len(rels) > ledger.MaxRelatives {
		return ledger.Errorf(ledger.CodeLimitExceeded, "at most %d relatives", ledger.MaxRelatives)
	}
	for i, rel := range rels {
		if rel == m.ID {
			return ledger.Errorf(ledger.CodeInvalidRequest, "a member is not their own relative")
		}
		if slices.Contains(rels[:i], rel) {
			return ledger.Errorf(ledger.CodeInvalidRequest, "relative %s is listed twice", rel)
		}
	}
	for _, rel := range rels {
		if slices.Contains(m.Relatives, rel) {
			continue
		}
		r, err := GetMember(tx, rel)
		if err != nil {
			return err
		}
		if err := NotErased(r); err != nil {
			return err
		}
		if len(r.Relatives) >= ledger.MaxRelatives {
			return ledger.Errorf(ledger.CodeLimitExceeded, "member %s already has %d relatives", rel, ledger.MaxRelatives)
		}
		r.Relatives = append(r.Relatives, m.ID)
		if err := tx.PutDoc(KindMember, r.ID, r); err != nil {
			return err
		}
	}
	for _, old := range m.Relatives {
		if slices.Contains(rels, old) {
			continue
		}
		r, err := GetMember(tx, old)
		if err != nil {
			return err
		}
		r.Relatives = slices.DeleteFunc(r.Relatives, func(x string) bool { return x == m.ID })
		if err := tx.PutDoc(KindMember, r.ID, r); err != nil {
			return err
		}
	}
	m.Relatives = slices.Clone(rels)
	return nil
}

// Erase destroys a member's personal data key (PIPL erasure) and records
// "member.erase". The chain, which names only ids, still verifies.
func Erase(tx ledger.Tx, id, reason string) (*Member, error) {
	if err := ledger.CheckChainText("reason", reason, ledger.MaxMemoLen); err != nil {
		return nil, err
	}
	m, err := GetMember(tx, id)
	if err != nil {
		return nil, err
	}
	if m.Erased {
		return nil, ledger.Errorf(ledger.CodeConflict, "member %s is already erased", id)
	}
	if err := tx.ErasePersonal(id); err != nil {
		return nil, err
	}
	m.Erased, m.Login = true, false // an erased member no longer logs in
	if err := tx.PutDoc(KindMember, m.ID, m); err != nil {
		return nil, err
	}
	if err := deleteLogins(tx, m.ID); err != nil {
		return nil, err
	}
	f := map[string]any{"member": m.ID}
	if reason != "" {
		f["reason"] = reason // the request's reference, never personal data
	}
	tx.Audit("member.erase", f)
	return m, nil
}

// deleteLogins removes member's logins: a username is often a phone
// number, and the password hash is theirs too. Logins are found by a
// scan of them all (erasure is rare; logins carry no member index).
func deleteLogins(tx ledger.Tx, member string) error {
	var mine []string
	p := ledger.Page{Limit: ledger.MaxPageSize}
	for {
		next, err := tx.Docs(KindUser, p, func(username string, raw []byte) error {
			var u User
			if err := json.Unmarshal(raw, &u); err != nil {
				return fmt.Errorf("community: login document: %w", err)
			}
			if u.Member == member {
				mine = append(mine, username)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if next == "" {
			break
		}
		p.After = next
	}
	for _, username := range mine {
		if err := tx.DeleteDoc(KindUser, username); err != nil {
			return err
		}
	}
	return nil
}

// ErasedAccountsSettle refuses postings, already applied in r, that do
// more with an erased member's account than settle it towards zero:
// every such account they credit must stand at zero or below (a debt
// written off, a payment refunded — never credits the erased person
// could not use), every one they debit at zero or above counting what is
// held (what they held moved out — never a new debt in their name), and
// none may be both credited and debited (value passed through it).
// Errors: conflict.
func ErasedAccountsSettle(r ledger.Reader, postings []ledger.Posting) error {
	in, out := map[string]bool{}, map[string]bool{}
	for _, ps := range postings {
		in[ps.To], out[ps.From] = true, true
	}
	for _, id := range slices.Sorted(maps.Keys(mergeKeys(in, out))) {
		a, err := r.Account(id)
		if err != nil {
			return err
		}
		if a.OwnerKind != ledger.OwnerMember {
			continue
		}
		m, err := GetMember(r, a.Owner)
		if err != nil {
			return err
		}
		if !m.Erased {
			continue
		}
		switch {
		case in[id] && out[id]:
			return ledger.Errorf(ledger.CodeConflict, "member %s was erased: a transfer does not pass through their account", m.ID)
		case in[id] && a.CreditsPending > 0:
			return ledger.Errorf(ledger.CodeConflict, "member %s was erased: their account takes no hold (a plain transfer may clear a debt they left)", m.ID)
		case in[id] && a.Balance() > 0:
			return ledger.Errorf(ledger.CodeConflict, "member %s was erased: their account takes credits only to clear a debt, up to a balance of zero (it would be %s)",
				m.ID, ledger.FormatAmount(a.Balance(), a.Unit))
		case out[id] && a.Available() < 0:
			return ledger.Errorf(ledger.CodeConflict, "member %s was erased: only what their account holds can be moved out, no new debt in their name (what it holds would be %s)",
				m.ID, ledger.FormatAmount(a.Available(), a.Unit))
		}
	}
	return nil
}

// ErasedOwner returns the first erased member who owns one of the
// accounts of postings, or "".
func ErasedOwner(r ledger.Reader, postings []ledger.Posting) (string, error) {
	for _, ps := range postings {
		for _, id := range []string{ps.From, ps.To} {
			a, err := r.Account(id)
			if err != nil {
				return "", err
			}
			if a.OwnerKind != ledger.OwnerMember {
				continue
			}
			if m, err := GetMember(r, a.Owner); err != nil {
				return "", err
			} else if m.Erased {
				return m.ID, nil
			}
		}
	}
	return "", nil
}

func mergeKeys(a, b map[string]bool) map[string]bool {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}

// AreRelatives reports whether either member lists the other.
func AreRelatives(a, b *Member) bool {
	return slices.Contains(a.Relatives, b.ID) || slices.Contains(b.Relatives, a.ID)
}

// NoConflict refuses value that staff acting (actor, a member id) would
// direct to member when member is the actor (forbidden) or one of the
// actor's relatives (conflict_of_interest): someone else makes that move. what says
// what is refused. An actor or member that is no member (the system, a
// community's account) has no conflict.
func NoConflict(r ledger.Reader, actor, member, what string) error {
	if actor == "" || member == "" {
		return nil
	}
	if actor == member {
		return ledger.Errorf(ledger.CodeForbidden, "%s to yourself is made by someone else", what)
	}
	a, err := GetMember(r, actor)
	if ledger.IsCode(err, ledger.CodeNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m, err := GetMember(r, member)
	if ledger.IsCode(err, ledger.CodeNotFound) {
		return NameConflict(a, member, what)
	}
	if err != nil {
		return err
	}
	if AreRelatives(a, m) {
		// Named, not "your": staff acting for a member (代办) take on that
		// member's relatives.
		return ledger.Errorf(ledger.CodeConflictOfInterest, "%s to %s, a registered relative of %s, is made by someone else", what, member, actor)
	}
	// A member registered under an id that is the actor's but for case is
	// another person with an account of their own (review s26R2: judging
	// them as the actor refused ordinary work between strangers); only a
	// name that is no member's is read as the member it spells (above),
	// and a disbursement's beneficiary always (fund's checkConflict).
	return nil
}

// NameConflict judges a name (a pseudonymous beneficiary, a member's id)
// against member a: one that differs from
// a's id, or from one of a's relatives' ids, only in case names that
// member all the same — member ids are case-sensitive, but a "COC1" paid
// is coC1 to anyone reading it (probe s26f: a coordinator proposed a
// payment to their own id in capitals, and their relative voted on one
// to theirs).
func NameConflict(a *Member, name, what string) error {
	if name == a.ID {
		return nil // the same member: judged by the caller
	}
	if strings.EqualFold(name, a.ID) {
		return ledger.Errorf(ledger.CodeForbidden, "%s to %s (%s, but for case) is made by someone else", what, name, a.ID)
	}
	for _, rel := range a.Relatives {
		if name != rel && strings.EqualFold(name, rel) {
			return ledger.Errorf(ledger.CodeConflictOfInterest, "%s to %s (%s, a registered relative of %s, but for case) is made by someone else", what, name, rel, a.ID)
		}
	}
	return nil
}
