package api

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"tally/ledger"
	"tally/ledger/community"
)

// HeaderOnBehalf names the member a coordinator acts for (代办).
const HeaderOnBehalf = "X-On-Behalf-Of"

// Principal is the authenticated caller, from a verified access token.
type Principal struct {
	Member    string
	Community string // scope: "" is the whole deployment
	Roles     []community.Role
	TokenID   string
	Session   string // the login the token descends from ("" for older tokens)
	Expires   time.Time
	IssuedAt  int64  // Unix milliseconds
	OnBehalf  string // set when a coordinator acts for a resident
	// Delegated: OnBehalf came from X-On-Behalf-Of, so the request has the
	// member's rights and none of the coordinator's (Has is false for
	// every role; the member's own roles are the domain's to check on
	// Acting). A staff write that names a member's account sets OnBehalf
	// without it, so that the record names both, and keeps its rights.
	Delegated bool
	// Refreshing: TokenID is a refresh token being traded, whose second
	// use the refresh op itself judges (it ends the session): authorized
	// checks only its session.
	Refreshing bool
}

// Has reports whether p holds any of roles for this request: never while
// acting for a member through X-On-Behalf-Of (代办 gives no staff rights,
// not even to read another member).
func (p *Principal) Has(roles ...community.Role) bool {
	return !p.Delegated && p.holds(roles...)
}

// holds reports whether the caller's token holds any of roles, whoever
// the request acts for: the gate lets a coordinator into the routes a
// member could call, and the handler then judges the member's rights.
func (p *Principal) holds(roles ...community.Role) bool {
	for _, r := range roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

// Acting returns the member the request acts for: the on-behalf member,
// or the caller.
func (p *Principal) Acting() string {
	if p.OnBehalf != "" {
		return p.OnBehalf
	}
	return p.Member
}

func (p *Principal) actor() ledger.Actor {
	if p == nil {
		return ledger.Actor{ID: "anonymous"}
	}
	return ledger.Actor{ID: p.Member, OnBehalf: p.OnBehalf}
}

// authorized wraps a write so that it runs only if the caller is, inside
// its commit, who the request was authorized as: the same community
// scope and roles (the gate and every handler decided on p), not erased,
// and still allowed to act for the member named in X-On-Behalf-Of. A
// role withdrawn by a commit just before is seen, as if the requests ran
// one at a time (shared/SPEC.md §2); the caller gets 409 conflict and may
// send the request again, to be judged on the roles it has now. The
// member is read from the writer's document cache.
//
// The token is judged again too: a logout (or a refresh token's reuse)
// applied before this write — in its batch or an earlier one — revoked
// it, and a write authenticated before the logout must not commit after
// it (401 invalid_token). Revocations are noted in the server's set as
// their op is applied, before they are durable: one whose commit then
// fails refuses a token that should still be honoured, never the other
// way round.
func (s *Server) authorized(p *Principal, op ledger.Op) ledger.Op {
	if p == nil {
		return op
	}
	return func(tx ledger.Tx) (any, error) {
		if !p.Refreshing && s.revoked.has(p.TokenID) || p.Session != "" && s.revoked.has(p.Session) {
			return nil, ledger.Errorf(CodeInvalidToken, "the token is invalid or expired")
		}
		m, err := community.GetMember(tx, p.Member)
		if err != nil || m.Erased {
			return nil, ledger.Errorf(CodeInvalidToken, "the token is invalid or expired")
		}
		// A password change or reset applied meanwhile ends the member's
		// other tokens (as authenticate judges them).
		if p.IssuedAt > 0 && p.IssuedAt < m.TokensAfter && p.TokenID != m.TokenKept {
			return nil, ledger.Errorf(CodeInvalidToken, "the token is invalid or expired")
		}
		if m.Community != p.Community || !slices.Equal(m.Roles, p.Roles) {
			return nil, ledger.Errorf(ledger.CodeConflict, "your roles or scope changed while this request was waiting; send it again")
		}
		if p.OnBehalf != "" {
			// Checked when the request was read: failing now, the member
			// changed meanwhile (became staff, moved, was erased).
			if err := actableFor(tx, p, p.OnBehalf); errors.Is(err, errActForErased) {
				return nil, err // a retry's record was not found: the write is new, and refused
			} else if err != nil {
				return nil, ledger.Errorf(ledger.CodeConflict, "the member you act for changed while this request was waiting; send it again")
			}
		}
		return op(tx)
	}
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p (and its ledger actor).
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return ledger.WithActor(context.WithValue(ctx, principalKey{}, p), p.actor())
}

// PrincipalFrom returns the caller carried by ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

func principal(c *gin.Context) *Principal { return PrincipalFrom(c.Request.Context()) }

// inScope is the one scope check: the caller's scope must contain the
// community. Errors: not_found (community), forbidden.
func inScope(r ledger.Reader, p *Principal, communityID string) error {
	if p.Community == "" {
		if _, err := community.Get(r, communityID); err != nil && communityID != "" {
			return ledger.Errorf(ledger.CodeNotFound, "community %s not found", communityID)
		}
		return nil
	}
	c, err := community.Get(r, communityID)
	if err != nil {
		return ledger.Errorf(ledger.CodeNotFound, "community %s not found", communityID)
	}
	if !c.Within(p.Community) {
		return ledger.Errorf(ledger.CodeForbidden, "community %s is outside your scope", communityID)
	}
	return nil
}

// Authorize reports whether p may act with one of roles over community
// (the subtree rule), returning forbidden or not_found otherwise. It is
// exported for the workflow handlers.
func Authorize(r ledger.Reader, p *Principal, communityID string, roles ...community.Role) error {
	if !p.Has(roles...) {
		return ledger.Errorf(ledger.CodeForbidden, "this needs one of the roles %v", roles)
	}
	return inScope(r, p, communityID)
}

// canReadAccount: the owner, or staff (coordinator, admin, auditor) whose
// scope holds the account's community. Errors: not_found, forbidden.
// hideOutOfScope turns a refusal for being outside the caller's scope
// into the not_found an unknown id gets: for people and their accounts a
// 403 would confirm that someone exists and name their community.
// memberOutOfScope answers not_found, as for an unknown id, when member
// exists outside p's scope (a deployment-wide member counts as outside a
// scoped caller's); anything else — in scope, unknown, malformed — is left
// to the workflow to report.
func memberOutOfScope(r ledger.Reader, p *Principal, member string) error {
	m, err := community.GetMember(r, member)
	if err != nil || p.Community == "" {
		return nil
	}
	if m.Community == "" {
		return ledger.Errorf(ledger.CodeNotFound, "member %s not found", member)
	}
	return hideOutOfScope(inScope(r, p, m.Community), "member %s not found", member)
}

func hideOutOfScope(err error, format string, args ...any) error {
	if ledger.IsCode(err, ledger.CodeForbidden) {
		return ledger.Errorf(ledger.CodeNotFound, format, args...)
	}
	return err
}

func canReadAccount(r ledger.Reader, p *Principal, a *ledger.Account) error {
	if a.OwnerKind == ledger.OwnerMember && a.Owner == p.Acting() {
		return nil
	}
	if !p.Has(community.RoleCoordinator, community.RoleAdmin, community.RoleAuditor) {
		// Do not reveal that someone else's account exists.
		return ledger.Errorf(ledger.CodeNotFound, "account %s not found", a.ID)
	}
	if a.Community == "" {
		if p.Community == "" {
			return nil
		}
		return ledger.Errorf(ledger.CodeNotFound, "account %s not found", a.ID)
	}
	return hideOutOfScope(inScope(r, p, a.Community), "account %s not found", a.ID)
}
