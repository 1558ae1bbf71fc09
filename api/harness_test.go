package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/store"
)

// testServer is a real API over a real Badger store in t.TempDir(), with
// the bootstrap admin logged in.
type testServer struct {
	t     testing.TB
	store *store.Store
	api   *Server
	http  *httptest.Server
	admin string // admin access token
}

const testAdminPassword = "admin-password-1"

// TestMain lowers the bcrypt cost: the tests create hundreds of logins,
// and password hashing at the production cost under the race detector
// would dominate the suite. Hash checks work the same at any cost.
func TestMain(m *testing.M) {
	PasswordCost = bcrypt.MinCost
	os.Exit(m.Run())
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	return newTestServerWith(t, Config{})
}

func newTestServerWith(t testing.TB, cfg Config) *testServer {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := HashPassword(testAdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Submit(context.Background(), ledger.Request{Actor: ledger.SystemActor, Op: func(tx ledger.Tx) (any, error) {
		return community.CreateMember(tx, community.NewMember{ID: "admin", Global: true,
			Roles: []community.Role{community.RoleAdmin}, Username: "admin", PasswordHash: hash,
			Personal: map[string]string{"display_name": "Administrator"}})
	}}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, store: st, api: srv, http: httptest.NewServer(srv.Handler())}
	// A request sent with "Expect: 100-continue" waits for the server's
	// go-ahead before its body: an oversize body is answered 413 and the
	// connection closed without reading it, which a client still writing
	// the body may see as a broken pipe instead of the answer.
	ts.http.Client().Transport.(*http.Transport).ExpectContinueTimeout = 5 * time.Second
	t.Cleanup(func() { ts.http.Close(); st.Close() })
	ts.admin = ts.login("admin", testAdminPassword)
	return ts
}

// serveWith serves the same store through a server made with cfg (the
// audit routes, say), as a restart would.
func (ts *testServer) serveWith(cfg Config) {
	ts.t.Helper()
	srv, err := New(context.Background(), ts.store, cfg)
	if err != nil {
		ts.t.Fatal(err)
	}
	h := httptest.NewServer(srv.Handler())
	ts.t.Cleanup(h.Close)
	ts.http = h
}

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Code returns the problem code of an error answer.
func (r response) Code() string { s, _ := r.Body["code"].(string); return s }

// Str returns a top-level string field.
func (r response) Str(k string) string { s, _ := r.Body[k].(string); return s }

// do sends a request with an optional token, JSON body (any value, or a
// string sent as is) and extra headers given as key, value pairs.
func (ts *testServer) do(method, path, token string, body any, headers ...string) response {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.http.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		switch headers[i] { // a lower-case name adds to a default instead
		case "Content-Type", "Authorization": // replace the defaults above
			req.Header.Set(headers[i], headers[i+1])
		default: // a header named twice is sent twice
			req.Header.Add(headers[i], headers[i+1])
		}
	}
	resp, err := ts.http.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

// must is do that fails the test unless the status is want.
func (ts *testServer) must(want int, method, path, token string, body any, headers ...string) response {
	ts.t.Helper()
	r := ts.do(method, path, token, body, headers...)
	if r.Status != want {
		ts.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Raw)
	}
	return r
}

func (ts *testServer) login(username, password string) string {
	ts.t.Helper()
	r := ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": username, "password": password})
	return r.Str("access_token")
}

// community creates a community as admin.
func (ts *testServer) community(id, parent string, policy map[string]any) {
	ts.t.Helper()
	body := map[string]any{"id": id, "name": "社区 " + id}
	if parent != "" {
		body["parent"] = parent
	}
	if policy != nil {
		body["policy"] = policy
	}
	ts.must(201, "POST", "/v1/communities", ts.admin, body)
}

// member registers a member with a login (username = id) as admin and
// returns an access token for it.
func (ts *testServer) member(id, communityID string, roles ...string) string {
	ts.t.Helper()
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": id, "community": communityID,
		"display_name": "居民 " + id, "roles": roles, "username": id, "password": "password-" + id})
	return ts.login(id, "password-"+id)
}

// balance returns an account's balance string.
func (ts *testServer) balance(account string) string {
	ts.t.Helper()
	return ts.must(200, "GET", "/v1/accounts/"+account, ts.admin, nil).Str("balance")
}

// auditSize returns the number of audit records.
func (ts *testServer) auditSize() uint64 {
	var n uint64
	ts.store.View(context.Background(), func(r ledger.Reader) error { n, _ = r.Head(); return nil })
	return n
}

// lastRecord decodes the newest audit record.
func (ts *testServer) lastRecord() *audit.Record {
	ts.t.Helper()
	n := ts.auditSize()
	recs, _, err := ts.store.Audit().Records(n-1, 1)
	if err != nil || len(recs) != 1 {
		ts.t.Fatalf("record %d: %v", n-1, err)
	}
	rec, err := audit.Decode(recs[0].Record)
	if err != nil {
		ts.t.Fatal(err)
	}
	return rec
}
