package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// TestRolesRecheckedInsideTheCommit: a write authorized on roles that a
// commit withdrew before the write's own commit is refused (409 conflict)
// and writes nothing — it once went through, so a coordinator whose role
// was just removed confirmed services and a committee member removed from
// the committee cast the deciding vote; on the roles it was authorized
// with it runs; acting for a member who became staff meanwhile is refused.
func TestRolesRecheckedInsideTheCommit(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.member("co", "c1", "coordinator")
	ts.member("co2", "c1", "coordinator")
	ts.member("res", "c1", "resident")
	ran := 0
	op := func(tx ledger.Tx) (any, error) {
		ran++
		tx.Audit("test.op", nil)
		return nil, nil
	}
	submit := func(p *Principal) error {
		_, err := ts.store.Submit(context.Background(), ledger.Request{Actor: p.actor(), Op: ts.api.authorized(p, op)})
		return err
	}
	coord := []community.Role{community.RoleCoordinator}
	co := &Principal{Member: "co", Community: "c1", Roles: coord}
	if err := submit(co); err != nil || ran != 1 {
		t.Fatalf("on the roles it was authorized with: %v, ran %d", err, ran)
	}
	forRes := &Principal{Member: "co2", Community: "c1", Roles: coord, OnBehalf: "res"}
	if err := submit(forRes); err != nil || ran != 2 {
		t.Fatalf("acting for a resident: %v, ran %d", err, ran)
	}

	ts.must(200, "PUT", "/v1/members/co/roles", ts.admin, map[string]any{"roles": []string{"resident"}})
	size := ts.auditSize()
	if err := submit(co); ledger.ErrorCode(err) != ledger.CodeConflict || ran != 2 {
		t.Fatalf("after the role was withdrawn: %v (ran %d), want conflict and nothing run", err, ran)
	}
	if got := ts.auditSize(); got != size {
		t.Fatalf("a refused write added %d audit records", got-size)
	}
	ts.must(200, "PUT", "/v1/members/res/roles", ts.admin, map[string]any{"roles": []string{"coordinator"}})
	size = ts.auditSize()
	// Checked when the request was read, so a change since is a
	// conflict: sent again, the request is judged as things are now.
	if err := submit(forRes); ledger.ErrorCode(err) != ledger.CodeConflict || ran != 2 {
		t.Fatalf("acting for a member who became staff: %v (ran %d), want conflict", err, ran)
	}
	if got := ts.auditSize(); got != size {
		t.Fatalf("a refused write added %d audit records", got-size)
	}
}

// TestLogoutRecheckedInsideTheCommit: a write authenticated before a
// logout that is applied after it is refused (401 invalid_token) and
// writes nothing — an outside probe saw 307 gifts commit after the
// auth.logout record that revoked the very token they used, which no
// one-at-a-time order explains.
func TestLogoutRecheckedInsideTheCommit(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	tok := ts.member("res", "c1", "resident")
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		ID      string  `json:"jti"`
		Session string  `json:"sid"`
		Iat     float64 `json:"iat"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.ID == "" {
		t.Fatalf("claims %s: %v", payload, err)
	}
	// The principal the request was authenticated as, before the logout.
	p := &Principal{Member: "res", Community: "c1", Roles: []community.Role{community.RoleResident}, TokenID: claims.ID, Session: claims.Session}
	ran := 0
	submit := func() error {
		_, err := ts.store.Submit(context.Background(), ledger.Request{Actor: p.actor(), Op: ts.api.authorized(p, func(tx ledger.Tx) (any, error) {
			ran++
			tx.Audit("test.op", nil)
			return nil, nil
		})})
		return err
	}
	if err := submit(); err != nil || ran != 1 {
		t.Fatalf("before the logout: %v, ran %d", err, ran)
	}
	ts.must(200, "POST", "/v1/auth/logout", tok, nil)
	size := ts.auditSize()
	if err := submit(); ledger.ErrorCode(err) != CodeInvalidToken || ran != 1 || ts.auditSize() != size {
		t.Fatalf("after the logout: %v (ran %d, records %d → %d), want invalid_token and nothing written", err, ran, size, ts.auditSize())
	}
	// A password reset applied before the write ends the member's tokens
	// for it too.
	tok = ts.login("res", "password-res")
	payload, _ = base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	p = &Principal{Member: "res", Community: "c1", Roles: []community.Role{community.RoleResident}, TokenID: claims.ID, Session: claims.Session,
		IssuedAt: int64(claims.Iat * 1000)}
	if err := submit(); err != nil || ran != 2 {
		t.Fatalf("a new login: %v, ran %d", err, ran)
	}
	ts.must(200, "PUT", "/v1/members/res/password", ts.admin, map[string]any{"username": "res", "new_password": "reset-by-admin-1"})
	if err := submit(); ledger.ErrorCode(err) != CodeInvalidToken || ran != 2 {
		t.Fatalf("after a password reset: %v (ran %d), want invalid_token", err, ran)
	}
}

// TestRevocationsPruned: expired revoked ids are dropped as the set grows
// (amortised: a logout's op adds to it inside the writer), and live ones
// stay.
func TestRevocationsPruned(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	r := &revocations{ids: map[string]time.Time{}, now: func() time.Time { return now }}
	for i := range 1000 {
		r.add(fmt.Sprint("old", i), now.Add(-time.Hour))
	}
	r.add("live", now.Add(time.Hour))
	if len(r.ids) > 2*minPruneAt || !r.has("live") {
		t.Fatalf("%d ids kept after 1000 expired ones, live kept %v", len(r.ids), r.has("live"))
	}
}
