package api

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/store"
	"tally/ledger/timebank"
)

// tbServer is the test server with the store's clock under the test's
// control (settlement delays pass without sleeping) and the time bank's
// timers registered. The API keeps the real clock, so tokens stay valid
// however far the store's clock moves.
type tbServer struct {
	*testServer
	mu  sync.Mutex
	now time.Time
}

func newTBServer(t *testing.T) *tbServer {
	t.Helper()
	tb := &tbServer{now: time.Now().UTC().Truncate(time.Second)}
	st, err := store.Open(t.TempDir(), store.Options{Clock: tb.clock})
	if err != nil {
		t.Fatal(err)
	}
	for kind, h := range timebank.Timers() {
		st.OnTimer(kind, h)
	}
	hash, err := HashPassword(testAdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Submit(context.Background(), ledger.Request{Actor: ledger.SystemActor, Op: func(tx ledger.Tx) (any, error) {
		return community.CreateMember(tx, community.NewMember{ID: "admin", Global: true,
			Roles: []community.Role{community.RoleAdmin}, Username: "admin", PasswordHash: hash})
	}}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(context.Background(), st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tb.testServer = &testServer{t: t, store: st, api: srv, http: httptest.NewServer(srv.Handler())}
	t.Cleanup(func() { tb.http.Close(); st.Close() })
	tb.admin = tb.login("admin", testAdminPassword)
	return tb
}

func (tb *tbServer) clock() time.Time {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.now
}

// advance moves the store's clock and runs the timers that fall due.
func (tb *tbServer) advance(d time.Duration) {
	tb.mu.Lock()
	tb.now = tb.now.Add(d)
	tb.mu.Unlock()
	tb.store.FireTimers(context.Background())
}

// pass moves the store's clock without running the timers (a timer tick
// that has not come yet).
func (tb *tbServer) pass(d time.Duration) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.now = tb.now.Add(d)
}

// ago is the store's now less d, as RFC 3339.
func (tb *tbServer) ago(d time.Duration) string { return tb.clock().Add(-d).Format(time.RFC3339) }

// resident registers a member with personal data and a login.
func (tb *tbServer) resident(id, c string, personal map[string]string, relatives []string, roles ...string) string {
	tb.t.Helper()
	body := map[string]any{"id": id, "community": c, "display_name": "居民" + id, "roles": roles,
		"username": id, "password": "password-" + id}
	if personal != nil {
		body["personal"] = personal
	}
	if relatives != nil {
		body["relatives"] = relatives
	}
	tb.must(201, "POST", "/v1/members", tb.admin, body)
	return tb.login(id, "password-"+id)
}

// service logs a service as token and returns its id.
func (tb *tbServer) service(token, volunteer, recipient, c, category, hours string, ago time.Duration) string {
	tb.t.Helper()
	// ago is how long since the service ended: it begins hours before.
	h, err := ledger.ParseAmount(hours, ledger.HOUR)
	if err != nil {
		tb.t.Fatal(err)
	}
	r := tb.must(201, "POST", "/v1/services", token, map[string]any{"volunteer": volunteer, "recipient": recipient,
		"community": c, "category": category, "hours": hours, "occurred_at": tb.ago(ago + time.Duration(h)*time.Hour/100)})
	if r.Str("status") != "pending" {
		tb.t.Fatalf("logged service: status %q, want pending", r.Str("status"))
	}
	return r.Str("id")
}

// tbProblem fails unless r is a problem with the status and code.
func tbProblem(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Code() != code {
		t.Fatalf("got %d %q, want %d %q: %s", r.Status, r.Code(), status, code, r.Raw)
	}
}

// record decodes the audit record that committed transaction or change
// seq.
func (tb *tbServer) record(seq uint64) *audit.Record {
	tb.t.Helper()
	rec, err := tb.store.Audit().Record(seq)
	if err != nil {
		tb.t.Fatal(err)
	}
	r, err := audit.Decode(rec.Record)
	if err != nil {
		tb.t.Fatal(err)
	}
	return r
}

// lastRecord is the newest audit record.
func (tb *tbServer) lastRecord() *audit.Record { return tb.record(tb.auditSize() - 1) }

// tbSeqOfTx is the audit sequence of a transaction id "tx-<seq>[.n]".
func tbSeqOfTx(t *testing.T, id string) uint64 {
	t.Helper()
	s, _, _ := strings.Cut(strings.TrimPrefix(id, "tx-"), ".")
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("transaction id %q", id)
	}
	return n
}

// sumsToZero asserts that a community's HOUR accounts sum to zero.
func (tb *tbServer) sumsToZero(c string, members ...string) {
	tb.t.Helper()
	var total ledger.Account
	ids := []string{c + ":issuance", c + ":pool", c + ":redemptions", c + ":clearing"}
	for _, m := range members {
		ids = append(ids, m+":HOUR")
	}
	for _, id := range ids {
		var a *ledger.Account
		tb.store.View(context.Background(), func(r ledger.Reader) error {
			var err error
			a, err = r.Account(id)
			return err
		})
		if a == nil {
			tb.t.Fatalf("account %s missing", id)
		}
		total.CreditsPosted += a.CreditsPosted
		total.DebitsPosted += a.DebitsPosted
	}
	if total.Balance() != 0 {
		tb.t.Fatalf("community %s sums to %d, want 0", c, total.Balance())
	}
}

// twoCommunities is a district d with communities a and b, their
// coordinators wang (a) and zhou (b), and li, a resident of a; it returns
// the server and the three tokens.
func twoCommunities(t *testing.T) (tb *tbServer, coordA, coordB, li string) {
	t.Helper()
	tb = newTBServer(t)
	tb.community("d", "", nil)
	tb.community("a", "d", nil)
	tb.community("b", "d", nil)
	coordA = tb.resident("wang", "a", nil, nil, "coordinator")
	coordB = tb.resident("zhou", "b", nil, nil, "coordinator")
	li = tb.resident("li", "a", nil, nil, "resident")
	return tb, coordA, coordB, li
}
