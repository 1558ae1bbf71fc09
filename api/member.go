package api

import (
	"errors"
	"maps"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/fund"
	"tally/ledger/timebank"
)

// PolicyRequest is a community's time-bank policy as the API takes it:
// amounts as decimal strings of HOUR, durations as Go durations ("72h").
type PolicyRequest struct {
	Earning         string            `json:"earning,omitempty" empty:"invalid_request;late" enum:"deposit|mutual_credit"`
	CreditLimit     string            `json:"credit_limit,omitempty" empty:"invalid_amount"`
	MaxBalance      string            `json:"max_balance,omitempty" empty:"invalid_amount"`
	SettlementDelay string            `json:"settlement_delay,omitempty" empty:"invalid_request"`
	Weights         map[string]string `json:"weights,omitempty"`
	MinAge          int               `json:"min_age,omitempty"`
	HardshipMinAge  int               `json:"hardship_min_age,omitempty"`
}

// ToDomain converts and validates the policy's amounts and durations.
func (p *PolicyRequest) ToDomain() (community.Policy, error) {
	out := community.Policy{Earning: p.Earning, MinAge: p.MinAge, HardshipMinAge: p.HardshipMinAge}
	var err error
	if p.CreditLimit != "" {
		if out.CreditLimit, err = ledger.ParseAmount(p.CreditLimit, ledger.HOUR); err != nil {
			return out, err
		}
	}
	if p.MaxBalance != "" {
		if out.MaxBalance, err = ledger.ParseAmount(p.MaxBalance, ledger.HOUR); err != nil {
			return out, err
		}
	}
	if p.SettlementDelay != "" {
		if out.SettlementDelay, err = parseDuration(p.SettlementDelay); err != nil {
			return out, err
		}
		if out.SettlementDelay < 0 {
			return out, ledger.Errorf(ledger.CodeInvalidRequest, "settlement_delay must not be negative")
		}
	}
	if len(p.Weights) > 0 {
		out.Weights = map[string]int64{}
		for k, v := range p.Weights {
			w, err := ledger.ParseAmount(v, ledger.HOUR) // a weight is a decimal with two places
			if err != nil {
				return out, ledger.Errorf(ledger.CodeInvalidRequest, "weight of %s must be a decimal like \"1.50\"", k)
			}
			out.Weights[k] = w
		}
	}
	return out, out.Validate()
}

// PolicyView is a policy as the API shows it, and as
// PUT /v1/communities/{id}/policy replaces it.
type PolicyView struct {
	Earning         string            `json:"earning" enum:"deposit|mutual_credit"`
	CreditLimit     string            `json:"credit_limit,omitempty" empty:"invalid_amount"`
	MaxBalance      string            `json:"max_balance,omitempty" empty:"invalid_amount"`
	SettlementDelay string            `json:"settlement_delay,omitempty" empty:"invalid_request"`
	Weights         map[string]string `json:"weights,omitempty"`
	MinAge          int               `json:"min_age,omitempty"`
	HardshipMinAge  int               `json:"hardship_min_age,omitempty"`
}

func policyView(p community.Policy) PolicyView {
	v := PolicyView{Earning: p.Earning, MinAge: p.MinAge, HardshipMinAge: p.HardshipMinAge}
	if p.CreditLimit > 0 {
		v.CreditLimit = ledger.FormatAmount(p.CreditLimit, ledger.HOUR)
	}
	if p.MaxBalance > 0 {
		v.MaxBalance = ledger.FormatAmount(p.MaxBalance, ledger.HOUR)
	}
	if p.SettlementDelay > 0 {
		v.SettlementDelay = formatDuration(p.SettlementDelay)
	}
	if len(p.Weights) > 0 {
		v.Weights = map[string]string{}
		for k, w := range p.Weights {
			v.Weights[k] = ledger.FormatAmount(w, ledger.HOUR)
		}
	}
	return v
}

// parseDuration takes whole hours, minutes and seconds in that order, each
// at most once ("72h", "90m", "1h30m", "1h0m5s") and whole days ("7d"):
// the forms durations are answered in. Fractions, signs, other units and
// a unit given twice ("1.5s", "+1h", "1h1h", "1s0ms") are refused rather
// than read some way the sender may not have meant.
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		// Whole days only ("7d"), and never so many that the hours overflow;
		// "1h1d" is neither form.
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || days == "" || days[0] == '+' || n > uint64(math.MaxInt64/int64(24*time.Hour)) {
			return 0, durationErr(errors.New("bad days"), s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	if s == "0" {
		return 0, nil // "0 (none)", as Go's own durations read it
	}
	m := durationForm.FindStringSubmatch(s)
	if s == "" || m == nil {
		return 0, durationErr(errors.New("bad form"), s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseUint(m[i+1], 10, 63)
		if err != nil || n > uint64((math.MaxInt64-d)/unit) {
			return 0, durationErr(errors.New("too long"), s)
		}
		d += time.Duration(n) * unit
	}
	return d, nil
}

// durationForm is a duration of whole hours, minutes and seconds.
var durationForm = regexp.MustCompile(`^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$`)

// formatDuration writes a duration as it is usually sent: "72h", not
// Go's "72h0m0s"; parseDuration reads it back.
func formatDuration(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

func durationErr(err error, s string) error {
	if err != nil {
		return ledger.Errorf(ledger.CodeInvalidRequest, "%q is not a duration like \"72h\" or \"7d\"", truncateStr(s, 32))
	}
	return nil
}

func truncateStr(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// CommunityRequest creates a community.
type CommunityRequest struct {
	ID     string         `json:"id" id:"entity"`
	Name   string         `json:"name"`
	Parent string         `json:"parent,omitempty" id:"entity"`
	Policy *PolicyRequest `json:"policy,omitempty"`
}

// CommunityView shows a community.
type CommunityView struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Parent   string            `json:"parent,omitempty"`
	Path     []string          `json:"path"`
	Policy   PolicyView        `json:"policy"`
	Accounts map[string]string `json:"accounts"`
}

func communityView(c *community.Community) CommunityView {
	return CommunityView{ID: c.ID, Name: c.Name, Parent: c.Parent, Path: c.Path, Policy: policyView(c.Policy), Accounts: c.Accounts}
}

// MemberRequest registers a member. Personal data (display_name and the
// optional personal fields) goes to the encrypted store, never the chain.
// A password without a username logs in as the member's id; a member
// without a password cannot log in (served through a coordinator).
type MemberRequest struct {
	ID          string            `json:"id" id:"entity"`
	Community   string            `json:"community" id:"entity"`
	DisplayName string            `json:"display_name"`
	Roles       []community.Role  `json:"roles"`
	Username    string            `json:"username,omitempty"`
	Password    string            `json:"password,omitempty"`
	Relatives   []string          `json:"relatives,omitempty" id:"entity"`
	Personal    map[string]string `json:"personal,omitempty"`
}

// MemberView shows a member; personal data only to who may see it.
type MemberView struct {
	ID          string            `json:"id"`
	Community   string            `json:"community"`
	Roles       []community.Role  `json:"roles"`
	Relatives   []string          `json:"relatives"`
	Accounts    map[string]string `json:"accounts"`
	Login       bool              `json:"login"`
	Erased      bool              `json:"erased,omitempty"`
	DisplayName string            `json:"display_name,omitempty"`
	Personal    map[string]string `json:"personal,omitempty"`
}

// RolesRequest replaces a member's roles.
type RolesRequest struct {
	Roles []community.Role `json:"roles"`
}

var staff = []community.Role{community.RoleCoordinator, community.RoleAdmin}

func (s *Server) memberRoutes() []route {
	admin := []community.Role{community.RoleAdmin}
	return []route{
		{method: "POST", path: "/v1/communities", summary: "Create a community (with its system accounts)", tag: "communities", auth: authenticated, roles: admin, req: CommunityRequest{}, resp: CommunityView{}, status: 201, handle: s.createCommunity},
		{method: "GET", path: "/v1/communities/:id", summary: "A community and its policy", tag: "communities", auth: authenticated, resp: CommunityView{}, status: 200, handle: s.getCommunity},
		{method: "PUT", path: "/v1/communities/:id/policy", summary: "Replace a community's policy (earning and credit_limit stay as created: 409 conflict)", tag: "communities", auth: authenticated, roles: admin, req: PolicyView{}, resp: CommunityView{}, status: 200, handle: s.setPolicy},
		{method: "POST", path: "/v1/members", summary: "Register a member (with a HOUR account)", tag: "members", auth: authenticated, roles: staff, req: MemberRequest{}, resp: MemberView{}, status: 201, handle: s.createMember},
		{method: "GET", path: "/v1/members", summary: "A community's roster, newest first (role=volunteer,resident lists those holding any of the roles named); display names for its coordinators and admins only, other personal data on the member's own page", tag: "members", auth: authenticated, roles: tbReaders, query: []string{"community!", "role", "after", "limit:int", "order"}, resp: List[MemberView]{}, status: 200, handle: s.listMembers},
		{method: "GET", path: "/v1/members/:id", summary: "A member", tag: "members", auth: authenticated, resp: MemberView{}, status: 200, handle: s.getMember},
		{method: "PATCH", path: "/v1/members/:id", summary: "Change a member's display name, personal data (the member or staff) or relatives (an admin); recorded without the values", tag: "members", auth: authenticated, req: MemberUpdate{}, resp: MemberView{}, status: 200, handle: s.updateMember},
		{method: "PUT", path: "/v1/members/:id/roles", summary: "Replace a member's roles", tag: "members", auth: authenticated, roles: admin, req: RolesRequest{}, resp: MemberView{}, status: 200, handle: s.setRoles},
		{method: "PUT", path: "/v1/members/:id/password", summary: "Set a member's password (an admin in scope: a forgotten password, or a known one retired)", tag: "members", auth: authenticated, roles: admin, req: PasswordReset{}, resp: MemberView{}, status: 200, handle: s.resetPassword},
		{method: "POST", path: "/v1/members/:id/erase", summary: "Erase a member's personal data (PIPL); the chain still verifies", tag: "members", auth: authenticated, roles: admin, req: DecisionRequest{}, resp: MemberView{}, status: 200, handle: s.eraseMember},
	}
}

func (s *Server) createCommunity(c *gin.Context) {
	var req CommunityRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	var pol community.Policy
	if req.Policy != nil {
		var err error
		if pol, err = req.Policy.ToDomain(); err != nil {
			fail(c, err)
			return
		}
	}
	p := principal(c)
	if p.Community != "" && req.Parent == "" {
		failCode(c, ledger.CodeForbidden, "a scoped admin creates communities under their own scope")
		return
	}
	s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
		if req.Parent != "" {
			if err := inScope(tx, p, req.Parent); err != nil {
				return nil, err
			}
		}
		cm, err := community.Create(tx, community.NewCommunity{ID: req.ID, Name: req.Name, Parent: req.Parent, Policy: pol})
		if err != nil {
			return nil, err
		}
		return communityView(cm), nil
	})
}

func (s *Server) getCommunity(c *gin.Context) {
	viewJSON(s, c, func(r ledger.Reader) (CommunityView, error) {
		cm, err := community.Get(r, c.Param("id"))
		if err != nil {
			return CommunityView{}, err
		}
		return communityView(cm), nil
	})
}

func (s *Server) setPolicy(c *gin.Context) {
	// The body is a policy as GET shows it; earning is required there: a
	// replace names its earning model.
	var body PolicyView
	if err := bind(c, &body); err != nil {
		fail(c, err)
		return
	}
	if body.Earning == "" {
		// A replace names its earning model: an empty body must not reset
		// a community's whole policy to the defaults.
		failCode(c, ledger.CodeInvalidRequest, "earning is required: %q or %q", community.EarningDeposit, community.EarningMutualCredit)
		return
	}
	req := PolicyRequest(body)
	pol, err := req.ToDomain()
	if err != nil {
		fail(c, err)
		return
	}
	p, id := principal(c), c.Param("id")
	s.commit(c, http.StatusOK, func(tx ledger.Tx) (any, error) {
		if err := inScope(tx, p, id); err != nil {
			return nil, err
		}
		cm, err := community.SetPolicy(tx, id, pol)
		if err != nil {
			return nil, err
		}
		return communityView(cm), nil
	})
}

// coordinatorGrantable are the roles a coordinator may give; the rest
// (coordinator, committee, auditor, admin) take an admin.
var coordinatorGrantable = []community.Role{community.RoleResident, community.RoleVolunteer}

func (s *Server) createMember(c *gin.Context) {
	var req MemberRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	// Bad input is 400 whoever sends it (probe s25e: an unknown role was
	// 403 from a coordinator, 400 from an admin); then who may grant it.
	if err := community.CheckRoles(req.Roles); err != nil {
		fail(c, err)
		return
	}
	if !p.Has(community.RoleAdmin) {
		for _, r := range req.Roles {
			if !containsRole(coordinatorGrantable, r) {
				failCode(c, ledger.CodeForbidden, "a coordinator registers residents and volunteers only")
				return
			}
		}
	}
	if err := ledger.CheckName("display_name", req.DisplayName, ledger.MaxNameLen); err != nil {
		fail(c, err)
		return
	}
	if ledger.Blank(req.DisplayName) {
		failCode(c, ledger.CodeInvalidRequest, "display_name is required")
		return
	}
	var hash []byte
	if req.Password != "" && req.Username == "" {
		// A password alone logs in as the member's own id.
		req.Username = req.ID
	}
	if req.Username != "" || req.Password != "" {
		if req.Password == "" {
			failCode(c, ledger.CodeInvalidRequest, "a username needs a password")
			return
		}
		var err error
		if hash, err = HashPassword(req.Password); err != nil {
			fail(c, err)
			return
		}
	}
	if slices.Contains(req.Relatives, p.Member) {
		failCode(c, ledger.CodeForbidden, "nobody registers a member as their own relative; another coordinator or an admin does")
		return
	}
	personal := map[string]string{}
	for k, v := range req.Personal {
		personal[k] = v
	}
	personal["display_name"] = req.DisplayName
	s.commit(c, http.StatusCreated, func(tx ledger.Tx) (any, error) {
		if err := ledger.CheckID("community", req.Community); err != nil {
			return nil, err
		}
		if err := inScope(tx, p, req.Community); err != nil {
			return nil, err
		}
		if containsRole(req.Roles, community.RoleAdmin) {
			if err := fromAbove(tx, p, req.Community, "registering an admin"); err != nil {
				return nil, err
			}
		}
		if err := relativesInScope(tx, p, req.Relatives); err != nil {
			return nil, err
		}
		if err := committeesInScope(tx, p, req.Relatives); err != nil {
			return nil, err
		}
		// Nor a relative of the registrar's own family (a member they
		// hold the login of could pass credits on to it).
		for _, rel := range req.Relatives {
			if err := community.NoConflict(tx, p.Member, rel, "naming a relative"); err != nil {
				return nil, err
			}
			if err := relativeOfStaff(tx, p, rel); err != nil {
				return nil, err
			}
		}
		m, err := community.CreateMember(tx, community.NewMember{ID: req.ID, Community: req.Community,
			Roles: req.Roles, Relatives: req.Relatives, Username: req.Username, PasswordHash: hash, Personal: personal})
		if err != nil {
			return nil, err
		}
		if len(req.Relatives) > 0 {
			// A committee member named a relative of a proposal's
			// beneficiary must now recuse: judged as a PATCH would.
			if err := fund.MembersChanged(tx, append([]string{m.ID}, req.Relatives...)); err != nil {
				return nil, err
			}
		}
		// No personal data in a write's result: the result is kept with
		// its Idempotency-Key, where an erasure could not reach it.
		return memberView(m, nil), nil
	})
}

// relativeOfStaff refuses a coordinator naming a staff or committee
// member someone's relative at registration: relatives decide who must
// recuse on a fund's proposals (a made-up relative could take a voter out
// of every quorum) and whom staff may not credit; like changing relatives
// later, that is an admin's to do.
func relativeOfStaff(r ledger.Reader, p *Principal, id string) error {
	if p.Has(community.RoleAdmin) {
		return nil
	}
	m, err := community.GetMember(r, id)
	if err != nil {
		return err
	}
	for _, role := range []community.Role{community.RoleAdmin, community.RoleCoordinator, community.RoleAuditor, community.RoleCommittee} {
		if containsRole(m.Roles, role) {
			return ledger.Errorf(ledger.CodeForbidden, "naming %s someone's relative is an admin's to do", article(string(role)))
		}
	}
	return nil
}

// relativesInScope: naming someone a relative has effects (gifts, a
// committee member's recusal), so the registrar must have them in scope.
func relativesInScope(r ledger.Reader, p *Principal, ids []string) error {
	for _, id := range ids {
		if err := ledger.CheckID("relative", id); err != nil {
			return err
		}
		m, err := community.GetMember(r, id)
		if err != nil {
			return err
		}
		if m.Community == "" {
			return ledger.Errorf(ledger.CodeInvalidRequest, "%s cannot be named a relative", id)
		}
		if err := inScope(r, p, m.Community); err != nil {
			return hideOutOfScope(err, "member %s not found", id)
		}
	}
	return nil
}

// relativesChange judges a change of member id's relatives from before
// to after by p. Links that involve p are changed by another admin, the
// links dropped as the ones added: an admin who could drop their own link
// could then direct credits or a disbursement to that relative (probe
// s26c). Every member whose list changes must be in p's scope (a dropped
// relative's record is rewritten too), and so must every fund on whose
// committee one of them sits (who must recuse is decided by the links).
func relativesChange(r ledger.Reader, p *Principal, id string, before, after []string) error {
	added := slices.DeleteFunc(slices.Clone(after), func(x string) bool { return slices.Contains(before, x) })
	dropped := slices.DeleteFunc(slices.Clone(before), func(x string) bool { return slices.Contains(after, x) })
	if len(added)+len(dropped) == 0 {
		return nil
	}
	if id == p.Member || slices.Contains(added, p.Member) || slices.Contains(dropped, p.Member) {
		return ledger.Errorf(ledger.CodeForbidden, "nobody adds or drops their own relative links; another admin does")
	}
	if err := relativesInScope(r, p, added); err != nil {
		return err
	}
	// Nor links of their own family, as at registration: an admin who
	// linked a relative of theirs to a member whose login they hold
	// (one they registered) could pass credits on through it (probe
	// s26f).
	for _, m := range append(append([]string{id}, added...), dropped...) {
		if err := community.NoConflict(r, p.Member, m, "a change of relative links"); err != nil {
			return err
		}
	}
	for _, rel := range dropped {
		m, err := community.GetMember(r, rel)
		if err != nil {
			return err
		}
		if err := inScope(r, p, m.Community); err != nil {
			return ledger.Errorf(ledger.CodeForbidden, "dropping the link to %s changes a member outside your scope; an admin over their community does", rel)
		}
	}
	return committeesInScope(r, p, append(append([]string{id}, added...), dropped...))
}

// committeesInScope refuses a change concerning members who sit on the
// committee of a fund outside p's scope — their committee role, their
// relatives, their password, their erasure — which would decide who votes
// on, or settle, that fund's proposals: an admin over the fund's
// community makes it (probe s26c: an admin of a child community withdrew
// the roles of a parent community fund's committee and so rejected its
// proposal). Nor does one with a proposal of their own open on such a
// fund make it: who proposes does not choose who approves (probe s26h:
// a proposer dropped a voter's recusing link, reset another's password
// and voted as them).
func committeesInScope(r ledger.Reader, p *Principal, members []string) error {
	fs, err := fund.Committees(r, members)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if open, err := fund.OpenProposalOf(r, f.ID, p.Member); err != nil {
			return err
		} else if open != "" {
			return ledger.Errorf(ledger.CodeConflictOfInterest, "this change concerns a member of the committee voting on your proposal %s; someone else makes it", open)
		}
		if p.Community == "" {
			continue
		}
		if err := inScope(r, p, f.Community); err != nil {
			if !ledger.IsCode(err, ledger.CodeForbidden) {
				return err
			}
			// Not naming the fund: who sits on a committee is not public.
			return ledger.Errorf(ledger.CodeForbidden, "this change concerns a member of the committee of a fund outside your scope; an admin over that fund's community makes it")
		}
	}
	return nil
}

// fromAbove: the admin role is given and taken from above — by an admin
// over the whole deployment, or one whose scope holds the member's
// community below its own top — never by a peer of the same scope (probe
// s26f: an admin scoped to a community registered a second admin of it
// with a login they chose, and through it granted themself the committee
// role, dropped their own relative link and credited that relative). The
// member's community is in p's scope already (checked by the caller).
//
// Nor does one with a proposal of their own open on a fund of that
// community (or below it) appoint, or take over, an admin who would run
// it: that admin could change the fund's committee for them (review
// s26R2: a proposer appointed a puppet admin who lowered the quorum).
// act names what is refused ("giving or withdrawing the admin role of a
// member").
func fromAbove(r ledger.Reader, p *Principal, memberCommunity, act string) error {
	if p.Community != "" && memberCommunity == p.Community {
		return ledger.Errorf(ledger.CodeForbidden, "%s of %s is for an admin over a wider scope, not one of %s", act, memberCommunity, p.Community)
	}
	open, err := fund.OpenProposalIn(r, p.Member, func(fc string) bool {
		c, err := community.Get(r, fc)
		return err == nil && c.Within(memberCommunity)
	})
	if err != nil {
		return err
	}
	if open != "" {
		return ledger.Errorf(ledger.CodeConflictOfInterest, "you proposed %s, still open on a fund this admin would run; another admin appoints them", open)
	}
	return nil
}

// adminFromAbove: taking over or removing an admin — resetting their
// password, erasing them — is done from above, as their role is (review
// s26R: a peer reset the other admin's password and, logged in as them,
// granted themself the committee role).
func adminFromAbove(r ledger.Reader, p *Principal, id, act string) error {
	m, err := community.GetMember(r, id)
	if err != nil || !m.Has(community.RoleAdmin) {
		return err
	}
	return fromAbove(r, p, m.Community, act)
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

func containsRole(rs []community.Role, r community.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func memberView(m *community.Member, personal map[string]string) MemberView {
	v := MemberView{ID: m.ID, Community: m.Community, Roles: m.Roles, Relatives: m.Relatives,
		Accounts: m.Accounts, Login: m.Login, Erased: m.Erased}
	if v.Relatives == nil {
		v.Relatives = []string{}
	}
	if personal != nil {
		v.DisplayName = personal["display_name"]
		rest := map[string]string{}
		for k, val := range personal {
			if k != "display_name" {
				rest[k] = val
			}
		}
		if len(rest) > 0 {
			v.Personal = rest
		}
	}
	return v
}

// getMember: a member sees themself; staff and auditors see members of
// their scope, with personal data for coordinators and admins only.
func (s *Server) getMember(c *gin.Context) {
	p := principal(c)
	var out MemberView
	if s.view(c, func(r ledger.Reader) error {
		m, err := community.GetMember(r, c.Param("id"))
		if err != nil {
			return err
		}
		self := m.ID == p.Acting()
		if !self {
			if !p.Has(community.RoleCoordinator, community.RoleAdmin, community.RoleAuditor) {
				return ledger.Errorf(ledger.CodeNotFound, "member %s not found", m.ID)
			}
			// Outside the caller's scope a member is not found, like an
			// unknown one: a 403 would confirm the person exists and name
			// their community.
			if m.Community == "" && p.Community != "" || m.Community != "" && inScope(r, p, m.Community) != nil {
				return ledger.Errorf(ledger.CodeNotFound, "member %s not found", m.ID)
			}
		}
		var personal map[string]string
		if self || p.Has(community.RoleCoordinator, community.RoleAdmin) {
			personal, _ = r.Personal(m.ID)
		}
		out = memberView(m, personal)
		return nil
	}) {
		c.JSON(http.StatusOK, out)
	}
}

// listMembers is a community's roster (not its subtree's) for its
// coordinators, admins and auditors. A roster shows each member's display
// name to staff, who register and serve them, and to nobody else; the
// rest of a person's data is read one member at a time.
func (s *Server) listMembers(c *gin.Context) {
	var roles []community.Role
	if q := c.Query("role"); q != "" {
		for _, r := range strings.Split(q, ",") {
			roles = append(roles, community.Role(r))
		}
	}
	p := principal(c)
	names := p.Has(community.RoleCoordinator, community.RoleAdmin)
	readersList(s, c, func(r ledger.Reader, cm, _ string, pg ledger.Page) ([]MemberView, string, error) {
		ms, next, err := community.ListMembers(r, cm, roles, pg)
		views := make([]MemberView, len(ms))
		for i, m := range ms {
			views[i] = memberView(m, nil)
			if names {
				if personal, err := r.Personal(m.ID); err == nil {
					views[i].DisplayName = personal["display_name"]
				}
			}
		}
		return views, next, err
	}, func(v MemberView) MemberView { return v })
}

func (s *Server) memberOp(c *gin.Context, fn func(tx ledger.Tx, id string) (*community.Member, error)) {
	p, id := principal(c), c.Param("id")
	// The change is committed before the response: drop cached members
	// between the two, so the caller's next request sees it.
	s.commitThen(c, http.StatusOK, s.members.invalidate, func(tx ledger.Tx) (any, error) {
		m, err := community.GetMember(tx, id)
		if err != nil {
			return nil, err
		}
		if m.Community == "" && p.Community != "" {
			return nil, ledger.Errorf(ledger.CodeNotFound, "member %s not found", id)
		}
		if m.Community != "" {
			if err := inScope(tx, p, m.Community); err != nil {
				return nil, hideOutOfScope(err, "member %s not found", id)
			}
		}
		m, err = fn(tx, id)
		if err != nil {
			return nil, err
		}
		return memberView(m, nil), nil
	})
}

// MemberUpdate changes a member: fields left out stay as they are. A
// personal field set to "" is removed (display_name cannot be); relatives,
// when given, replace the list (both sides of each link change).
type MemberUpdate struct {
	DisplayName string            `json:"display_name,omitempty" empty:"invalid_request"`
	Personal    map[string]string `json:"personal,omitempty"`
	Relatives   *[]string         `json:"relatives,omitempty" id:"entity"`
}

// updateMember: a member changes their own display name and personal
// data; staff in scope change those of the members they may act for (a
// coordinator: residents and volunteers); only an admin changes relatives. Nobody
// makes themself someone's relative (a coordinator so named could then
// receive what they move for that member).
func (s *Server) updateMember(c *gin.Context) {
	var req MemberUpdate
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	ch := community.MemberChange{Relatives: req.Relatives}
	if req.DisplayName != "" || req.Personal != nil {
		if err := ledger.CheckName("display_name", req.DisplayName, ledger.MaxNameLen); err != nil {
			fail(c, err)
			return
		}
		ch.Personal = maps.Clone(req.Personal)
		if ch.Personal == nil {
			ch.Personal = map[string]string{}
		}
		if req.DisplayName != "" {
			ch.Personal["display_name"] = req.DisplayName
		}
	}
	if ch.Personal == nil && ch.Relatives == nil {
		failCode(c, ledger.CodeInvalidRequest, "nothing to change: give display_name, personal or relatives")
		return
	}
	p := principal(c)
	s.memberOp(c, func(tx ledger.Tx, id string) (*community.Member, error) {
		self := id == p.Acting()
		eligibility := hasKey(ch.Personal, "birth_date") || hasKey(ch.Personal, "hardship")
		if eligibility && !self {
			// Nor their family: another coordinator records a relative's.
			if err := community.NoConflict(tx, p.Member, id, "recording birth_date or hardship (redemption eligibility)"); err != nil {
				return nil, err
			}
		}
		switch {
		case self && eligibility:
			// Redemption eligibility (age, hardship) reads them: nobody
			// qualifies themself, staff included (as staff never credit
			// themselves); a coordinator records them in their own name.
			return nil, ledger.Errorf(ledger.CodeForbidden, "birth_date and hardship decide eligibility; a coordinator records them, for others than themself")
		case ch.Relatives != nil && !p.Has(community.RoleAdmin):
			// Relatives decide who may receive gifts and who must recuse
			// from a vote: a coordinator who could change them could drop
			// their own link and then credit that relative, or clear or
			// block a committee's voters on their own proposal.
			return nil, ledger.Errorf(ledger.CodeForbidden, "relatives are changed by an admin")
		case self:
		case !p.Has(staff...):
			return nil, ledger.Errorf(ledger.CodeNotFound, "member %s not found", id)
		case !p.Has(community.RoleAdmin):
			if err := actableFor(tx, p, id); err != nil {
				return nil, err
			}
		}
		var before []string
		if ch.Relatives != nil {
			old, err := community.GetMember(tx, id)
			if err != nil {
				return nil, err
			}
			before = old.Relatives
			if err := relativesChange(tx, p, id, before, *ch.Relatives); err != nil {
				return nil, err
			}
		}
		m, err := community.UpdateMember(tx, id, ch)
		if err != nil || ch.Relatives == nil {
			return m, err
		}
		// A committee member now (or no longer) a relative of a
		// proposal's beneficiary or proposer may no longer (or again) vote
		// on it: open proposals that can no longer reach their quorum are
		// rejected at once, as after a role withdrawal.
		return m, fund.MembersChanged(tx, append(append([]string{id}, before...), *ch.Relatives...))
	})
}

func (s *Server) setRoles(c *gin.Context) {
	var req RolesRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	s.memberOp(c, func(tx ledger.Tx, id string) (*community.Member, error) {
		// An admin who dropped their own admin role could leave the
		// deployment with nobody to run it; another admin can do it.
		if p := principal(c); id == p.Member && p.Has(community.RoleAdmin) && !slices.Contains(req.Roles, community.RoleAdmin) {
			return nil, ledger.Errorf(ledger.CodeConflict, "you cannot remove your own admin role; another admin can")
		}
		old, err := community.GetMember(tx, id)
		if err != nil {
			return nil, err
		}
		if containsRole(old.Roles, community.RoleAdmin) != containsRole(req.Roles, community.RoleAdmin) {
			if err := fromAbove(tx, principal(c), old.Community, "giving or withdrawing the admin role of a member"); err != nil {
				return nil, err
			}
		}
		if containsRole(old.Roles, community.RoleCommittee) != containsRole(req.Roles, community.RoleCommittee) {
			if err := committeesInScope(tx, principal(c), []string{id}); err != nil {
				return nil, err
			}
		}
		m, err := community.SetRoles(tx, id, req.Roles)
		if err != nil {
			return nil, err
		}
		return m, fund.MemberChanged(tx, id)
	})
}

// PasswordReset sets the password of one of a member's logins.
type PasswordReset struct {
	Username    string `json:"username"`
	NewPassword string `json:"new_password"`
}

func (s *Server) resetPassword(c *gin.Context) {
	var req PasswordReset
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	hash, err := HashPassword(req.NewPassword)
	if err != nil {
		fail(c, err)
		return
	}
	s.memberOp(c, func(tx ledger.Tx, id string) (*community.Member, error) {
		if id == principal(c).Member {
			// One's own password needs the current one (a stolen access
			// token must not become the account).
			return nil, ledger.Errorf(ledger.CodeForbidden, "a reset is for others' passwords; change your own with POST /v1/auth/password (the current one is checked)")
		}
		// A login is everything its member may do: a scoped admin does
		// not take over the login of a committee member of a fund outside
		// their scope (probe s26d: reset, logged in and cast the deciding
		// vote on a fund they cannot read).
		if err := committeesInScope(tx, principal(c), []string{id}); err != nil {
			return nil, err
		}
		if err := adminFromAbove(tx, principal(c), id, "resetting the password of an admin"); err != nil {
			return nil, err
		}
		if err := community.SetPassword(tx, req.Username, id, hash, ""); err != nil {
			return nil, err
		}
		return community.GetMember(tx, id)
	})
}

func (s *Server) eraseMember(c *gin.Context) {
	var req DecisionRequest
	if err := bindOptional(c, &req); err != nil {
		fail(c, err)
		return
	}
	s.memberOp(c, func(tx ledger.Tx, id string) (*community.Member, error) {
		if id == principal(c).Member {
			return nil, ledger.Errorf(ledger.CodeConflict, "you cannot erase yourself; another admin can")
		}
		if err := committeesInScope(tx, principal(c), []string{id}); err != nil {
			return nil, err
		}
		if err := adminFromAbove(tx, principal(c), id, "erasing an admin"); err != nil {
			return nil, err
		}
		m, err := community.Erase(tx, id, req.Reason)
		if err != nil {
			return nil, err
		}
		if err := timebank.MemberErased(tx, id); err != nil {
			return nil, err
		}
		return m, fund.MemberChanged(tx, id)
	})
}

// article puts "a" or "an" before a role's name.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an " + word
	}
	return "a " + word
}
