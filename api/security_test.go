package api

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/store"
)

// forge builds tokens an attacker could make.
func forgeHS256(t *testing.T, sub string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "iss": "tally", "aud": []string{audAccess},
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "jti": "x", "roles": []string{"admin"}})
	s, err := tok.SignedString([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func forgeNone(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	h := enc([]byte(`{"alg":"none","typ":"JWT"}`))
	c := enc([]byte(`{"sub":"` + sub + `","iss":"tally","aud":["tally-api"],"exp":9999999999,"iat":1,"jti":"x","roles":["admin"]}`))
	return h + "." + c + "."
}

func forgeOtherKey(t *testing.T, kid string) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "admin", "iss": "tally", "aud": []string{audAccess},
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "jti": "y", "roles": []string{"admin"}})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// changeClaims swaps the payload of a real token, keeping its signature.
func changeClaims(tok string) string {
	parts := strings.Split(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	changed := strings.Replace(string(raw), `"resident"`, `"admin"`, 1)
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(changed))
	return strings.Join(parts, ".")
}

func stripSignature(tok string) string {
	return tok[:strings.LastIndexByte(tok, '.')+1]
}

func TestTokenAttacks(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	resident := ts.member("res", "c1", "resident")
	kid, _ := ts.api.keys.signer()
	cases := map[string]string{
		"missing":           "",
		"garbage":           "not.a.token",
		"alg none":          forgeNone("admin"),
		"hs256 guessed key": forgeHS256(t, "admin"),
		"other ed25519 key": forgeOtherKey(t, kid),
		"changed claims":    changeClaims(resident),
		"stripped sig":      stripSignature(resident),
		"too long":          strings.Repeat("a", MaxTokenLen+1),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			before := ts.auditSize()
			r := ts.do("POST", "/v1/communities", tok, map[string]any{"id": "evil", "name": "x"})
			if r.Status != 401 {
				t.Fatalf("status %d, want 401: %s", r.Status, r.Raw)
			}
			if c := r.Code(); c != "unauthorized" && c != "invalid_token" {
				t.Fatalf("code %q, want unauthorized or invalid_token", c)
			}
			if got := ts.auditSize(); got != before {
				t.Fatalf("audit size %d after refused request, want %d", got, before)
			}
		})
	}
}

func TestExpiredTokenAndLogout(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	tok := ts.member("res", "c1", "resident")
	login := ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "res", "password": "password-res"})
	first := login.Str("refresh_token")
	r := ts.must(200, "POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": first})
	refresh := r.Str("refresh_token")
	if r.Str("access_token") == "" || refresh == "" || refresh == first {
		t.Fatalf("refresh gave no access token or no new refresh token: %s", r.Raw)
	}
	// Rotation: a refresh token is spent by its use; a second use (a
	// stolen copy) is refused and ends the session, the new pair with it
	// (TestRefreshReuseRevokesSession); the rest uses a second login.
	if r := ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": first}); r.Status != 401 || r.Code() != "invalid_token" {
		t.Fatalf("spent refresh token used again: %d %s, want 401 invalid_token", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": refresh}); r.Status != 401 {
		t.Fatalf("the refresh token of a session ended by reuse: %d %s, want 401", r.Status, r.Raw)
	}
	login = ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "res", "password": "password-res"})
	refresh = ts.must(200, "POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": login.Str("refresh_token")}).Str("refresh_token")
	// An access token is not a refresh token and vice versa.
	if r := ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": tok}); r.Status != 401 {
		t.Fatalf("access token used as refresh: status %d, want 401", r.Status)
	}
	if r := ts.do("GET", "/v1/accounts/res:HOUR", refresh, nil); r.Status != 401 {
		t.Fatalf("refresh token used as access: status %d, want 401", r.Status)
	}
	access := login.Str("access_token")
	ts.must(200, "POST", "/v1/auth/logout", access, map[string]any{"refresh_token": refresh})
	if r := ts.do("GET", "/v1/accounts/res:HOUR", access, nil); r.Status != 401 || r.Code() != "invalid_token" {
		t.Fatalf("token after logout: %d %s, want 401 invalid_token", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": refresh}); r.Status != 401 {
		t.Fatalf("refresh after logout: status %d, want 401", r.Status)
	}
	// Expiry: move the server's clock past the token's lifetime.
	ts.api.cfg.Clock = func() time.Time { return time.Now().Add(AccessTTL + time.Minute) }
	if r := ts.do("GET", "/v1/accounts/res:HOUR", tok, nil); r.Status != 401 {
		t.Fatalf("expired token: status %d, want 401", r.Status)
	}
}

func TestLoginThrottle(t *testing.T) {
	ts := newTestServer(t)
	for i := 0; i < MaxFailedLogins; i++ {
		if r := ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": "wrong-password"}); r.Status != 401 {
			t.Fatalf("attempt %d: status %d, want 401", i, r.Status)
		}
	}
	r := ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword})
	if r.Status != 429 || r.Code() != "too_many_attempts" {
		t.Fatalf("after %d failures: %d %s, want 429 too_many_attempts", MaxFailedLogins, r.Status, r.Raw)
	}
	if got, want := r.Header.Get("Retry-After"), strconv.Itoa(int(LoginWindow/time.Second)); got != want {
		t.Fatalf("429 Retry-After: %q, want %q", got, want)
	}
}

// TestTokenHandling: the scheme is case-insensitive, token responses and
// what a token reads are not cached, a logout with a useless refresh token (garbage, or an access
// token) is refused and writes nothing, one without revokes the access
// token, and a write naming two idempotency keys is refused.
func TestTokenHandling(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	tok := ts.member("li", "c1", "resident")
	if r := ts.must(200, "GET", "/v1/accounts/li:HOUR", "", nil, "Authorization", "bearer "+tok); r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("an authenticated read: Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
	}
	r := ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "li", "password": "password-li"})
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("token response Cache-Control %q, want no-store", cc)
	}
	access := r.Str("access_token")
	other := ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "li", "password": "password-li"})
	size0 := ts.auditSize()
	for _, bad := range []string{"not-a-token", other.Str("access_token")} {
		if r := ts.do("POST", "/v1/auth/logout", access, map[string]any{"refresh_token": bad}); r.Status != 400 || r.Code() != "invalid_request" {
			t.Fatalf("logout with a useless refresh token: %d %s, want 400 invalid_request", r.Status, r.Raw)
		}
	}
	if ts.auditSize() != size0 {
		t.Fatal("a refused logout wrote a record")
	}
	ts.must(200, "GET", "/v1/accounts/li:HOUR", access, nil)
	out := ts.must(200, "POST", "/v1/auth/logout", access, nil)
	if revoked, _ := out.Body["revoked"].([]any); len(revoked) != 2 {
		t.Fatalf("logout without a refresh token revoked %v, want the access token and its session", out.Body["revoked"])
	}
	if r := ts.do("GET", "/v1/accounts/li:HOUR", access, nil); r.Status != 401 {
		t.Fatalf("access token after logout: %d, want 401", r.Status)
	}
	// The session ended: its refresh token, not named, is refused too;
	// the other login of the same member goes on.
	if r := ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": r.Str("refresh_token")}); r.Status != 401 || r.Code() != "invalid_token" {
		t.Fatalf("refresh token of a logged-out session: %d %s, want 401 invalid_token", r.Status, r.Raw)
	}
	ts.must(200, "GET", "/v1/accounts/li:HOUR", other.Str("access_token"), nil)
	size := ts.auditSize()
	if r := ts.do("POST", "/v1/gifts", tok, map[string]any{"from": "li", "to": "c1:pool", "hours": "0.01"},
		"Idempotency-Key", "k1", "Idempotency-Key", "k2"); r.Status != 400 || r.Code() != "invalid_idempotency_key" {
		t.Fatalf("two idempotency keys: %d %s, want 400 invalid_idempotency_key", r.Status, r.Raw)
	}
	if ts.auditSize() != size {
		t.Fatal("a refused write wrote a record")
	}
}

// TestLoginThrottleParallel: guesses sent at once are counted before any
// password is checked, so no more than MaxFailedLogins of them are tried.
func TestLoginThrottleParallel(t *testing.T) {
	ts := newTestServer(t)
	const guesses = 40
	var tried, throttled atomic.Int32
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			r := ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": fmt.Sprintf("wrong-%d", i)})
			switch r.Status {
			case 401:
				tried.Add(1)
			case 429:
				throttled.Add(1)
			default:
				t.Errorf("guess %d: %d %s", i, r.Status, r.Raw)
			}
		})
	}
	wg.Wait()
	if tried.Load() != MaxFailedLogins || throttled.Load() != guesses-MaxFailedLogins {
		t.Fatalf("%d parallel guesses: %d checked, %d throttled; want %d checked", guesses, tried.Load(), throttled.Load(), MaxFailedLogins)
	}
}

// TestLoginThrottleIgnoresForwardedFor: with no trusted proxy, a client
// cannot spread failed logins over made-up X-Forwarded-For addresses to
// escape the per-address limit (nor lock out a victim's address by
// naming it).
func TestLoginThrottleIgnoresForwardedFor(t *testing.T) {
	ts := newTestServer(t)
	for i := 0; i < MaxFailedLoginsPerAddr; i++ {
		user := fmt.Sprintf("nobody%d", i) // a new user each time: only the address limit applies
		r := ts.do("POST", "/v1/auth/token", "", map[string]any{"username": user, "password": "wrong-password"},
			"X-Forwarded-For", fmt.Sprintf("10.0.0.%d", i), "X-Real-IP", fmt.Sprintf("10.1.0.%d", i))
		if r.Status != 401 {
			t.Fatalf("attempt %d: status %d, want 401", i, r.Status)
		}
	}
	r := ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword},
		"X-Forwarded-For", "10.0.0.250")
	if r.Status != 429 || r.Code() != "too_many_attempts" {
		t.Fatalf("after %d failures from one address under varied X-Forwarded-For: %d %s, want 429", MaxFailedLoginsPerAddr, r.Status, r.Raw)
	}
}

// TestLoginThrottleBehindTrustedProxy: behind a configured proxy the
// client address is the one the proxy forwards, so one client's failures
// do not lock out the others; a malformed proxy list is refused.
func TestLoginThrottleBehindTrustedProxy(t *testing.T) {
	ts := newTestServerWith(t, Config{TrustedProxies: []string{"127.0.0.1", "::1"}})
	for i := 0; i < MaxFailedLoginsPerAddr; i++ {
		ts.do("POST", "/v1/auth/token", "", map[string]any{"username": fmt.Sprintf("nobody%d", i), "password": "wrong-password"},
			"X-Forwarded-For", "203.0.113.7")
	}
	if r := ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword},
		"X-Forwarded-For", "203.0.113.7"); r.Status != 429 {
		t.Fatalf("the failing client: %d, want 429", r.Status)
	}
	ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword},
		"X-Forwarded-For", "198.51.100.9")
	if _, err := New(t.Context(), ts.store, Config{TrustedProxies: []string{"not-an-address"}}); err == nil {
		t.Fatal("a malformed trusted proxy was accepted")
	}
}

// TestLoginLockoutIsPerAddress: a client's bad guesses at a username
// throttle that client, not the user's own logins from elsewhere; guesses
// spread over many addresses still stop at MaxFailedLoginsPerUser.
func TestLoginLockoutIsPerAddress(t *testing.T) {
	ts := newTestServerWith(t, Config{TrustedProxies: []string{"127.0.0.1", "::1"}})
	guess := func(addr string) response {
		return ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": "a-bad-guess"}, "X-Forwarded-For", addr)
	}
	for range MaxFailedLogins {
		if r := guess("203.0.113.7"); r.Status != 401 {
			t.Fatalf("guess: %d %s", r.Status, r.Raw)
		}
	}
	if r := guess("203.0.113.7"); r.Status != 429 || r.Code() != "too_many_attempts" {
		t.Fatalf("the guessing client after %d failures: %d %s, want 429", MaxFailedLogins, r.Status, r.Raw)
	}
	ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword}, "X-Forwarded-For", "198.51.100.9")
	// The owner's success cleared the user's count; now spread guesses.
	tried := 0
	for i := 0; tried < MaxFailedLoginsPerUser; i++ {
		if r := guess(fmt.Sprintf("10.9.%d.%d", i/MaxFailedLogins/250, i/MaxFailedLogins%250)); r.Status == 401 {
			tried++
		} else {
			t.Fatalf("spread guess %d: %d %s, want 401", i, r.Status, r.Raw)
		}
	}
	if r := guess("10.200.0.1"); r.Status != 429 {
		t.Fatalf("after %d guesses from many addresses: %d, want 429", MaxFailedLoginsPerUser, r.Status)
	}
}

// TestLoginThrottleCountsIPv6Networks: an IPv6 client holds a whole /64,
// so guesses each from a new address of it count as one client's — they
// neither slip past the per-address limits nor lock the owner out
// elsewhere (probe s24e) — and an IPv4 address is one client however a
// proxy writes it.
func TestLoginThrottleCountsIPv6Networks(t *testing.T) {
	ts := newTestServerWith(t, Config{TrustedProxies: []string{"127.0.0.1", "::1"}})
	guess := func(addr string) response {
		return ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": "a-bad-guess"}, "X-Forwarded-For", addr)
	}
	for i := range MaxFailedLogins {
		if r := guess(fmt.Sprintf("2001:db8:1:1::%x", i+1)); r.Status != 401 {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if r := guess("2001:db8:1:1:ffff::9"); r.Status != 429 || r.Code() != "too_many_attempts" {
		t.Fatalf("a new address of the same /64 after %d failures: %d %s, want 429", MaxFailedLogins, r.Status, r.Raw)
	}
	ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword}, "X-Forwarded-For", "2001:db8:1:2::1")
	for _, same := range [][]string{
		{"10.1.1.1", "::ffff:10.1.1.1", "::FFFF:10.1.1.1", "0:0:0:0:0:ffff:a01:101"},
		{"2001:db8::1", "2001:db8::ffff:1", "2001:DB8:0:0:1::1", "fe80::1"},
	} {
		for _, a := range same[1:] {
			if got, want := throttleAddr(a), throttleAddr(same[0]); (got == want) != (a != "fe80::1") {
				t.Errorf("throttleAddr(%q) = %q, throttleAddr(%q) = %q", a, got, same[0], want)
			}
		}
	}
}

// TestLoginsInFlightAreNotFailures: when a user's limit is reached by
// attempts still being checked (many logins at once), the 429 says so and
// asks for a retry in a second, not LoginWindow; once they land as
// failures it is the lockout answer; a success frees its place.
func TestLoginsInFlightAreNotFailures(t *testing.T) {
	ts := newTestServer(t)
	lim := (&passwordAttempt{username: "admin", addr: "127.0.0.1"}).limits()
	for range MaxFailedLogins {
		if ok, _ := ts.api.throttle.begin(lim...); !ok {
			t.Fatal("an attempt under the limit was refused")
		}
	}
	login := func() response {
		return ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword})
	}
	r := login()
	if r.Status != 429 || r.Code() != "too_many_attempts" || r.Header.Get("Retry-After") != strconv.Itoa(int(LoginBusyRetryAfter/time.Second)) ||
		!strings.Contains(r.Str("detail"), "at once") {
		t.Fatalf("with %d attempts in flight: %d %s Retry-After %q, want 429 asking for a retry in a moment", MaxFailedLogins, r.Status, r.Raw, r.Header.Get("Retry-After"))
	}
	for _, l := range lim { // one lands as a success: taken back
		ts.api.throttle.landed(l.key)
		ts.api.throttle.undo(l.key)
	}
	ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword})
	// The success cleared the user's counts; now failures that landed.
	for range MaxFailedLogins {
		ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": "a-bad-guess"})
	}
	if r := login(); r.Status != 429 || r.Header.Get("Retry-After") != strconv.Itoa(int(LoginWindow/time.Second)) {
		t.Fatalf("after %d failures: %d Retry-After %q, want 429 with LoginWindow", MaxFailedLogins, r.Status, r.Header.Get("Retry-After"))
	}
}

func TestTokenKeyRotation(t *testing.T) {
	ts := newTestServer(t)
	old := ts.admin
	if _, err := ts.api.RotateTokenKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	ts.must(201, "POST", "/v1/communities", old, map[string]any{"id": "c1", "name": "old token still valid"})
	fresh := ts.login("admin", testAdminPassword)
	ts.must(201, "POST", "/v1/communities", fresh, map[string]any{"id": "c2", "name": "new key"})
}

// TestRetiredTokenKey: whoever holds a token key (an old backup carries
// it) cannot mint tokens dated after its rotation, nor tokens living
// longer than their kind's TTL with any key; tokens it issued before its
// retirement, access and refresh, stay honoured (SPEC §7), also after a
// restart — until a rotation with end_sessions refuses them all, also
// ones verified (cached) before it.
func TestRetiredTokenKey(t *testing.T) {
	ts := newTestServer(t)
	key := currentTokenKey(t, ts)
	forge := func(iat time.Time, life time.Duration) string {
		return forgeWith(t, key, audAccess, iat, life)
	}
	get := func(token string) int { return ts.do("GET", "/v1/accounts/admin:HOUR", token, nil).Status }
	refresh := func(rt string) response {
		return ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": rt})
	}
	before := time.Now().Add(-time.Minute)
	if got := get(forge(before, 10*time.Minute)); got != 200 {
		t.Fatalf("a token of the current key: %d", got)
	}
	if got := get(forge(time.Now(), 100*365*24*time.Hour)); got != 401 {
		t.Fatalf("a token living a hundred years: %d, want 401", got)
	}
	if _, err := ts.api.RotateTokenKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if got := get(forge(time.Now().Add(time.Minute), 10*time.Minute)); got != 401 {
			t.Fatalf("%s: a token minted with the retired key: %d, want 401", when, got)
		}
		if r := refresh(forgeWith(t, key, audRefresh, time.Now().Add(time.Minute), time.Hour)); r.Status != 401 {
			t.Fatalf("%s: a refresh token minted with the retired key: %d, want 401", when, r.Status)
		}
		if got := get(forge(before, 10*time.Minute)); got != 200 {
			t.Fatalf("%s: a token the retired key issued before its retirement: %d, want 200", when, got)
		}
	}
	check("after the rotation")
	ts.serveWith(Config{})
	check("after a restart")
	// A session from before the rotation still refreshes (SPEC §7) ...
	login := ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword})
	second := currentTokenKey(t, ts)
	if _, err := ts.api.RotateTokenKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := refresh(login.Str("refresh_token")); r.Status != 200 {
		t.Fatalf("a refresh token issued before a rotation: %d %s, want 200", r.Status, r.Raw)
	}
	// ... until a rotation ends every session: tokens of every older key,
	// access and refresh, verified before or not, are refused at once.
	access := forgeWith(t, second, audAccess, time.Now().Add(-time.Minute), 10*time.Minute)
	if got := get(access); got != 200 {
		t.Fatalf("an access token of the retired key before ending sessions: %d", got)
	}
	ts.must(200, "POST", "/v1/admin/keys/token/rotate", ts.admin, map[string]any{"end_sessions": true})
	for _, when := range []string{"after ending sessions", "after a restart"} {
		if when != "after ending sessions" {
			ts.serveWith(Config{})
		}
		if got := get(access); got != 401 {
			t.Fatalf("%s: an access token of an ended key: %d, want 401", when, got)
		}
		if r := refresh(forgeWith(t, key, audRefresh, before, time.Hour)); r.Status != 401 {
			t.Fatalf("%s: a refresh token of an ended key: %d, want 401", when, r.Status)
		}
		if r := ts.do("GET", "/v1/accounts/admin:HOUR", ts.admin, nil); r.Status != 401 {
			t.Fatalf("%s: the admin's own token from before: %d, want 401", when, r.Status)
		}
	}
	ts.admin = ts.login("admin", testAdminPassword)
	ts.must(200, "GET", "/v1/accounts/admin:HOUR", ts.admin, nil)
}

// currentTokenKey reads the token key in force.
func currentTokenKey(t *testing.T, ts *testServer) jwtKey {
	t.Helper()
	var key jwtKey
	ts.store.View(context.Background(), func(r ledger.Reader) error {
		var cur string
		if err := r.Doc(kindJWTCurrent, "current", &cur); err != nil {
			t.Fatal(err)
		}
		return r.Doc(kindJWTKey, cur, &key)
	})
	return key
}

// TestTokenKeysRetiredBeforeUpgrade: keys replaced by rotations made
// before keys recorded their retirement are retired when loaded, each as
// of its successor's creation.
func TestTokenKeysRetiredBeforeUpgrade(t *testing.T) {
	ts := newTestServer(t)
	var first jwtKey
	ts.store.View(context.Background(), func(r ledger.Reader) error {
		var cur string
		if err := r.Doc(kindJWTCurrent, "current", &cur); err != nil {
			t.Fatal(err)
		}
		return r.Doc(kindJWTKey, cur, &first)
	})
	if _, err := ts.api.RotateTokenKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	// As an older version left it: no retirement recorded (and the
	// rotation an hour ago, beyond the leeway a token's iat is given).
	first.Retired, first.Created = time.Time{}, time.Now().Add(-2*time.Hour)
	if _, err := ts.store.Submit(context.Background(), ledger.Request{Actor: ledger.SystemActor, Op: func(tx ledger.Tx) (any, error) {
		var cur string
		var next jwtKey
		if err := tx.Doc(kindJWTCurrent, "current", &cur); err != nil {
			return nil, err
		}
		if err := tx.Doc(kindJWTKey, cur, &next); err != nil {
			return nil, err
		}
		next.Created = time.Now().Add(-time.Hour)
		tx.Audit("jwt.key.rotate", map[string]any{"kid": first.Kid, "test": "unmark"})
		if err := tx.PutDoc(kindJWTKey, cur, &next); err != nil {
			return nil, err
		}
		return nil, tx.PutDoc(kindJWTKey, first.Kid, &first)
	}}); err != nil {
		t.Fatal(err)
	}
	ts.serveWith(Config{})
	if r := ts.do("GET", "/v1/accounts/admin:HOUR", forgeWith(t, first, audAccess, time.Now(), 10*time.Minute), nil); r.Status != 401 {
		t.Fatalf("a token minted now with a key replaced before the upgrade: %d, want 401", r.Status)
	}
}

// forgeWith signs an admin token for aud with key, as whoever holds the
// key could.
func forgeWith(t *testing.T, key jwtKey, aud string, iat time.Time, life time.Duration) string {
	t.Helper()
	{
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "admin", "iss": "tally", "aud": []string{aud},
			"exp": iat.Add(life).Unix(), "iat": iat.Unix(), "jti": "forged-" + iat.String() + life.String(), "roles": []string{"admin"}})
		tok.Header["kid"] = key.Kid
		signed, err := tok.SignedString(ed25519.NewKeyFromSeed(key.Seed))
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
}

// TestRoleChangeAndErasureTakeEffectAtOnce: a withdrawn role and an erased
// member stop working with the token already issued.
func TestRoleChangeAndErasureTakeEffectAtOnce(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	coord := ts.member("wang", "c1", "coordinator")
	body := map[string]any{"id": "m1", "community": "c1", "display_name": "甲", "roles": []string{"resident"}}
	ts.must(201, "POST", "/v1/members", coord, body)
	ts.must(200, "PUT", "/v1/members/wang/roles", ts.admin, map[string]any{"roles": []string{"resident"}})
	body["id"] = "m2"
	if r := ts.do("POST", "/v1/members", coord, body); r.Status != 403 || r.Code() != "forbidden" {
		t.Fatalf("after the role was withdrawn: %d %s, want 403 forbidden", r.Status, r.Raw)
	}
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "li", "community": "c1", "display_name": "李", "roles": []string{"resident"},
		"username": "13800000000", "password": "password-li"})
	ts.login("13800000000", "password-li")
	ts.must(200, "POST", "/v1/members/wang/erase", ts.admin, map[string]any{"reason": "个人信息删除申请 2026-17"})
	if r := ts.do("GET", "/v1/accounts/wang:HOUR", coord, nil); r.Status != 401 || r.Code() != "invalid_token" {
		t.Fatalf("after erasure: %d %s, want 401 invalid_token", r.Status, r.Raw)
	}
	// Erasure takes the login too: a username is often a phone number.
	ts.must(200, "POST", "/v1/members/li/erase", ts.admin, nil)
	ts.store.View(context.Background(), func(r ledger.Reader) error {
		for _, u := range []string{"wang", "13800000000"} {
			if got, err := community.GetUser(r, u); err == nil {
				t.Errorf("login %s of an erased member is still stored: %+v", u, got)
			}
		}
		return nil
	})
	size := ts.auditSize()
	if r := ts.do("POST", "/v1/members/wang/erase", ts.admin, nil); r.Status != 409 || r.Code() != "conflict" {
		t.Fatalf("erasing twice: %d %s, want 409 conflict", r.Status, r.Raw)
	}
	// The operator cannot lock the deployment out by accident.
	if r := ts.do("PUT", "/v1/members/admin/roles", ts.admin, map[string]any{"roles": []string{"resident"}}); r.Status != 409 || r.Code() != "conflict" {
		t.Fatalf("admin drops own admin role: %d %s, want 409 conflict", r.Status, r.Raw)
	}
	if r := ts.do("POST", "/v1/members/admin/erase", ts.admin, nil); r.Status != 409 || r.Code() != "conflict" {
		t.Fatalf("admin erases self: %d %s, want 409 conflict", r.Status, r.Raw)
	}
	// Nobody acts for an erased member (代办 names a person who is gone).
	coord2 := ts.member("zhao", "c1", "coordinator")
	if r := ts.do("POST", "/v1/gifts", coord2, map[string]any{"from": "wang", "to": "c1:pool", "hours": "0.01"},
		"X-On-Behalf-Of", "wang"); r.Status != 409 || r.Code() != "conflict" {
		t.Fatalf("acting for an erased member: %d %s, want 409 conflict", r.Status, r.Raw)
	}
	if ts.auditSize() != size+1 { // zhao's creation
		t.Fatal("refused erasures, role changes and on-behalf writes wrote records")
	}
	ts.must(200, "GET", "/v1/members/admin", ts.admin, nil)
}

// TestRefreshTokenRacesOnce: uses of one refresh token racing each other
// (its owner and a thief) get exactly one new pair; the rest are refused.
func TestRefreshTokenRacesOnce(t *testing.T) {
	ts := newTestServer(t)
	login := ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword})
	const racers = 16
	status := make([]int, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			status[i] = ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": login.Str("refresh_token")}).Status
		})
	}
	wg.Wait()
	ok := 0
	for _, s := range status {
		switch s {
		case 200:
			ok++
		case 401:
		default:
			t.Fatalf("refresh race: status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d racing refreshes succeeded, want 1", ok, racers)
	}
}

// TestRefreshReuseRevokesSession: a spent refresh token presented again
// (a thief's copy, or the owner after the thief) ends the whole login:
// the pair the first refresh issued stops working, durably and in the
// chain; another login of the same member is untouched.
func TestRefreshReuseRevokesSession(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.member("li", "c1", "resident")
	login := ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "li", "password": "password-li"})
	other := ts.login("li", "password-li")
	next := ts.must(200, "POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": login.Str("refresh_token")})
	ts.must(200, "GET", "/v1/accounts/li:HOUR", next.Str("access_token"), nil)
	if r := ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": login.Str("refresh_token")}); r.Status != 401 || r.Code() != "invalid_token" {
		t.Fatalf("spent refresh token again: %d %s, want 401 invalid_token", r.Status, r.Raw)
	}
	if rec := ts.lastRecord(); rec.Action != "auth.reuse" || rec.Content["member"] != "li" {
		t.Fatalf("last record %s %v, want auth.reuse for li", rec.Action, rec.Content)
	}
	check := func(when string, srv *Server) {
		t.Helper()
		h := httptest.NewServer(srv.Handler())
		defer h.Close()
		view := &testServer{t: t, store: ts.store, api: srv, http: h}
		for name, tok := range map[string]string{"access": next.Str("access_token"), "login's access": login.Str("access_token")} {
			if r := view.do("GET", "/v1/accounts/li:HOUR", tok, nil); r.Status != 401 {
				t.Fatalf("%s: the session's %s token answered %d, want 401", when, name, r.Status)
			}
		}
		if r := view.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": next.Str("refresh_token")}); r.Status != 401 {
			t.Fatalf("%s: the session's newest refresh token answered %d, want 401", when, r.Status)
		}
		view.must(200, "GET", "/v1/accounts/li:HOUR", other, nil)
	}
	check("at once", ts.api)
	restarted, err := New(context.Background(), ts.store, Config{})
	if err != nil {
		t.Fatal(err)
	}
	check("after a restart", restarted)
}

// TestRefreshRetryWithIdempotencyKey: a refresh retried under its
// Idempotency-Key (the answer was lost on the way) gets the same pair
// back, not a reuse alarm that ends the session; the same token sent
// again without the key is still reuse.
func TestRefreshRetryWithIdempotencyKey(t *testing.T) {
	ts := newTestServer(t)
	login := ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword})
	body := map[string]any{"refresh_token": login.Str("refresh_token")}
	const key = "0b6f1c5e-rf-retry-0001"
	if r := ts.do("POST", "/v1/auth/refresh", "", body, "Idempotency-Key", "1"); r.Status != 400 || r.Code() != "invalid_idempotency_key" {
		t.Fatalf("a guessable key: %d %s, want 400 invalid_idempotency_key", r.Status, r.Raw)
	}
	first := ts.must(200, "POST", "/v1/auth/refresh", "", body, "Idempotency-Key", key)
	size := ts.auditSize()
	again := ts.must(200, "POST", "/v1/auth/refresh", "", body, "Idempotency-Key", key)
	if again.Header.Get("Idempotent-Replayed") != "true" || again.Str("access_token") != first.Str("access_token") ||
		again.Str("refresh_token") != first.Str("refresh_token") || ts.auditSize() != size {
		t.Fatalf("retry: %s (replayed %q, %d new records), want the first pair again", again.Raw, again.Header.Get("Idempotent-Replayed"), ts.auditSize()-size)
	}
	if again.Header.Get("Cache-Control") != "no-store" {
		t.Fatal("a replayed token answer may be cached")
	}
	works := func(tok string) bool { return ts.do("GET", "/v1/accounts/nobody-here", tok, nil).Status == 404 }
	if !works(first.Str("access_token")) {
		t.Fatal("the pair of a refresh retried under its key was revoked")
	}
	if r := ts.do("POST", "/v1/auth/refresh", "", body); r.Status != 401 {
		t.Fatalf("the spent token again without the key: %d %s, want 401", r.Status, r.Raw)
	}
	if works(first.Str("access_token")) {
		t.Fatal("reuse without the key did not end the session")
	}
}

// TestLogoutRacingRefresh: a logout sent with its refresh token while
// refreshes of that token race it leaves no working token behind,
// whichever commits first (a refresh that won once kept a live session
// after the logout answered 200).
func TestLogoutRacingRefresh(t *testing.T) {
	ts := newTestServer(t)
	for round := range 10 {
		login := ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword})
		rt := login.Str("refresh_token")
		got := make([]response, 6)
		var wg sync.WaitGroup
		var out response
		wg.Go(func() {
			out = ts.do("POST", "/v1/auth/logout", login.Str("access_token"), map[string]any{"refresh_token": rt})
		})
		for i := range got {
			wg.Go(func() { got[i] = ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": rt}) })
		}
		wg.Wait()
		// The logout succeeds, or finds the session already ended by a
		// racing refresh of the spent token (401, or 400 for its refresh
		// token): either way nothing of the login works afterwards.
		if out.Status != 200 && out.Status != 401 && out.Status != 400 {
			t.Fatalf("round %d: logout %d %s", round, out.Status, out.Raw)
		}
		if a := ts.do("GET", "/v1/accounts/nobody", login.Str("access_token"), nil); a.Status != 401 {
			t.Fatalf("round %d: the logged-out access token still works (%d; logout said %d)", round, a.Status, out.Status)
		}
		for _, r := range got {
			if r.Status != 200 {
				continue
			}
			if a := ts.do("GET", "/v1/accounts/nobody", r.Str("access_token"), nil); a.Status != 401 {
				t.Fatalf("round %d: an access token from a refresh racing the logout still works (%d)", round, a.Status)
			}
			if n := ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": r.Str("refresh_token")}); n.Status != 401 {
				t.Fatalf("round %d: a refresh token from a refresh racing the logout still works (%d)", round, n.Status)
			}
		}
	}
}

// TestErasureLeavesNoPersonalDataInReplays: a member created with an
// Idempotency-Key: replaying the creation gives back no personal data
// (write results never carry it); once the member is erased, the key's
// record can no longer be compared with a retry (it was keyed with the
// member's data key, destroyed), so a retry is 409 idempotency_conflict
// and writes nothing; the member no longer shows a login.
func TestErasureLeavesNoPersonalDataInReplays(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	body := map[string]any{"id": "pii", "community": "c1", "display_name": "幂等真名", "roles": []string{"resident"},
		"username": "pii-user", "password": "password-pii-1", "personal": map[string]string{"phone": "13612345678"}}
	first := ts.must(201, "POST", "/v1/members", ts.admin, body, "Idempotency-Key", "erase-test-1")
	replay := ts.must(201, "POST", "/v1/members", ts.admin, body, "Idempotency-Key", "erase-test-1")
	ts.must(200, "POST", "/v1/members/pii/erase", ts.admin, nil)
	size := ts.auditSize()
	again := ts.do("POST", "/v1/members", ts.admin, body, "Idempotency-Key", "erase-test-1")
	if again.Status != 409 || again.Code() != "idempotency_conflict" || ts.auditSize() != size {
		t.Fatalf("a retry after the erasure: %d %s (records %d → %d)", again.Status, again.Raw, size, ts.auditSize())
	}
	for _, r := range []response{first, replay, again} {
		if strings.Contains(string(r.Raw), "幂等真名") || strings.Contains(string(r.Raw), "13612345678") {
			t.Fatalf("a write result carries personal data: %s", r.Raw)
		}
	}
	if m := ts.must(200, "GET", "/v1/members/pii", ts.admin, nil); m.Body["login"] != false || m.Body["erased"] != true {
		t.Fatalf("erased member: %s", m.Raw)
	}
}

// TestRelativesAreMutual: naming a relative shows on both members, and a
// relative listed twice is refused.
func TestRelativesAreMutual(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "mum", "community": "c1", "display_name": "妈妈", "roles": []string{"resident"}})
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "son", "community": "c1", "display_name": "儿子", "roles": []string{"resident"}, "relatives": []string{"mum"}})
	if m := ts.must(200, "GET", "/v1/members/mum", ts.admin, nil); fmt.Sprint(m.Body["relatives"]) != "[son]" {
		t.Fatalf("mum's relatives: %s", m.Raw)
	}
	if r := ts.do("POST", "/v1/members", ts.admin, map[string]any{"id": "kid", "community": "c1", "display_name": "孩子", "roles": []string{"resident"}, "relatives": []string{"mum", "mum"}}); r.Status != 400 {
		t.Fatalf("relative listed twice: %d %s", r.Status, r.Raw)
	}
}

// TestDeclaredBodyTooLarge: a body announced larger than MaxBodyBytes is
// refused at once from its Content-Length, without waiting for bytes the
// client may never send.
func TestDeclaredBodyTooLarge(t *testing.T) {
	ts := newTestServer(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"username\":", 100*MaxBodyBytes)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound, not a timing assertion
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a declared oversize body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared oversize body: %d, want 413", resp.StatusCode)
	}
}

// TestMetricsMethodLabel: made-up methods share one label, so a client
// cannot mint metric series.
func TestMetricsMethodLabel(t *testing.T) {
	ts := newTestServer(t)
	for i := range 3 {
		ts.do(fmt.Sprintf("JUNK%d", i), "/healthz", "", nil)
	}
	r := ts.do("GET", "/metrics", "", nil)
	if strings.Contains(string(r.Raw), "JUNK") || !strings.Contains(string(r.Raw), `method="other"`) {
		t.Fatalf("metrics name made-up methods:\n%s", r.Raw)
	}
}

// TestErasedMemberTakesPartInNothingNew: after a PIPL erasure the member's
// history stays, but no new need, service, credit, relation or role may
// name them, with or without X-On-Behalf-Of (only the header was checked).
func TestErasedMemberTakesPartInNothingNew(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	coord := ts.member("zhao", "c1", "coordinator")
	vol := ts.member("v1", "c1", "volunteer", "resident")
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "m1", "community": "c1", "display_name": "张", "roles": []string{"resident"}})
	ts.must(201, "POST", "/v1/transfers", ts.admin, map[string]any{"postings": []any{map[string]any{"from": "c1:issuance", "to": "c1:pool", "amount": "5.00", "unit": "HOUR"}}})
	hold := ts.must(201, "POST", "/v1/transfers", ts.admin, map[string]any{"pending": true,
		"postings": []any{map[string]any{"from": "c1:pool", "to": "m1:HOUR", "amount": "1.00", "unit": "HOUR"}}}).Str("id")
	ts.must(200, "POST", "/v1/members/m1/erase", ts.admin, map[string]any{"reason": "本人申请"})
	size := ts.auditSize()
	now := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		name, method, path, token string
		body                      map[string]any
	}{
		{"need for them", "POST", "/v1/needs", coord, map[string]any{"community": "c1", "requester": "m1", "category": "elder_care", "title": "陪同"}},
		{"service to them", "POST", "/v1/services", vol, map[string]any{"volunteer": "v1", "recipient": "m1", "community": "c1", "category": "elder_care", "hours": "1.00", "occurred_at": now}},
		{"grant to them", "POST", "/v1/grants", coord, map[string]any{"community": "c1", "member": "m1", "hours": "1.00", "reason": "困难补助"}},
		{"a new relative of theirs", "POST", "/v1/members", ts.admin, map[string]any{"id": "m2", "community": "c1", "display_name": "李", "roles": []string{"resident"}, "relatives": []string{"m1"}}},
		{"roles for them", "PUT", "/v1/members/m1/roles", ts.admin, map[string]any{"roles": []string{"resident", "volunteer"}}},
		{"a transfer to them", "POST", "/v1/transfers", coord, map[string]any{"postings": []any{map[string]any{"from": "c1:pool", "to": "m1:HOUR", "amount": "1.00", "unit": "HOUR"}}}},
		{"posting a hold made for them before", "POST", "/v1/transfers/" + hold + "/post", coord, map[string]any{}},
	} {
		if r := ts.do(c.method, c.path, c.token, c.body); r.Status != 409 || r.Code() != "conflict" {
			t.Errorf("%s: %d %s, want 409 conflict", c.name, r.Status, r.Raw)
		}
	}
	// Naming them in the body says why, as the header does (it said to
	// send the request again, which could never succeed).
	if r := ts.do("POST", "/v1/redemptions", coord, map[string]any{"member": "m1", "community": "c1", "hours": "1.00", "item": "米"}); r.Status != 409 || !strings.Contains(r.Str("detail"), "erased") {
		t.Errorf("a redemption for them: %d %s, want 409 saying they were erased", r.Status, r.Raw)
	}
	if ts.auditSize() != size {
		t.Fatal("refused requests naming an erased member wrote records")
	}
	// The hold made for them before is voided instead.
	ts.must(200, "POST", "/v1/transfers/"+hold+"/void", coord, map[string]any{})
	ts.must(200, "GET", "/v1/members/m1", ts.admin, nil) // their record stays
}

// TestTokenKeyRotationNamesTheAdmin: the record of a token-key rotation
// names the admin who asked for it (it said "system").
func TestTokenKeyRotationNamesTheAdmin(t *testing.T) {
	ts := newTestServer(t)
	ts.must(200, "POST", "/v1/admin/keys/token/rotate", ts.admin, nil)
	if rec := ts.lastRecord(); rec.Action != "jwt.key.rotate" || rec.Actor != "admin" {
		t.Fatalf("rotation recorded as %s by %q, want jwt.key.rotate by admin", rec.Action, rec.Actor)
	}
}

// TestKeyRotationIdempotent: an admin's retry of a key rotation with the
// same Idempotency-Key answers the first rotation and rotates nothing
// more (it rotated again).
func TestKeyRotationIdempotent(t *testing.T) {
	ts := newTestServerWith(t, Config{RotateCheckpointKey: store.RotateCheckpointKeyOp})
	if _, err := ts.store.EnsureCheckpointKey(t.Context(), "tally.test/rotate"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, field string }{
		{"/v1/admin/keys/token/rotate", "kid"},
		{"/v1/admin/keys/checkpoint/rotate", "verifier_key"},
	} {
		first := ts.must(200, "POST", c.path, ts.admin, nil, "Idempotency-Key", "rot-"+c.field)
		size := ts.auditSize()
		again := ts.must(200, "POST", c.path, ts.admin, nil, "Idempotency-Key", "rot-"+c.field)
		if again.Str(c.field) == "" || again.Str(c.field) != first.Str(c.field) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("%s retried: %s, first %s", c.path, again.Raw, first.Raw)
		}
		if ts.auditSize() != size {
			t.Fatalf("%s retried with the same key rotated again", c.path)
		}
		if rec := ts.lastRecord(); rec.Actor != "admin" {
			t.Fatalf("%s recorded by %q, want admin", c.path, rec.Actor)
		}
	}
	// The rotated token key signs new logins.
	ts.login("admin", testAdminPassword)
}

// TestHeadAnswersAsGet: HEAD on a GET route answers the GET's status and
// headers without a body; HEAD where only POST is routed is 405 like any
// other method; and a HEAD of a protected route still needs a token.
func TestHeadAnswersAsGet(t *testing.T) {
	ts := newTestServer(t)
	cases := []struct {
		path, token string
		status      int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/v1/accounts/nobody", ts.admin, 404},
		{"/v1/accounts/nobody", "", 401},
		{"/v1/auth/token", "", 405},
		{"/v1/nowhere", "", 404},
	}
	for _, c := range cases {
		get := ts.do("GET", c.path, c.token, nil)
		head := ts.do("HEAD", c.path, c.token, nil)
		if head.Status != c.status || get.Status != c.status {
			t.Errorf("%s: HEAD %d, GET %d, want %d", c.path, head.Status, get.Status, c.status)
		}
		if len(head.Raw) != 0 {
			t.Errorf("%s: HEAD answered a body: %q", c.path, head.Raw)
		}
		if head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("%s: HEAD Content-Type %q, GET %q", c.path, head.Header.Get("Content-Type"), get.Header.Get("Content-Type"))
		}
	}
	// A 405's Allow names HEAD wherever GET is allowed, and only there.
	for path, want := range map[string]string{"/healthz": "GET, HEAD", "/v1/auth/token": "POST"} {
		if r := ts.do("DELETE", path, "", nil); r.Status != 405 || r.Header.Get("Allow") != want {
			t.Errorf("DELETE %s: %d, Allow %q, want 405 and %q", path, r.Status, r.Header.Get("Allow"), want)
		}
	}
}

// TestLogoutKeyReusedWithAnotherToken: a logout under a used
// Idempotency-Key but with another access token is another request, not a
// retry (it once answered the first logout's result and revoked the second
// token only in memory, so it worked again after a restart); a true retry
// with the same token is refused as that token is revoked; an empty key is
// bad input.
func TestLogoutKeyReusedWithAnotherToken(t *testing.T) {
	ts := newTestServer(t)
	a := ts.login("admin", testAdminPassword)
	b := ts.login("admin", testAdminPassword)
	ts.must(200, "POST", "/v1/auth/logout", a, nil, "Idempotency-Key", "lo-1")
	if r := ts.do("POST", "/v1/auth/logout", b, nil, "Idempotency-Key", "lo-1"); r.Status != 409 || r.Code() != "idempotency_conflict" {
		t.Fatalf("logout of another token under a used key: %d %s", r.Status, r.Raw)
	}
	if r := ts.do("GET", "/v1/accounts/nobody", b, nil); r.Status != 404 {
		t.Fatalf("the second token after the refused logout: %d, want it still valid (404 for the unknown account)", r.Status)
	}
	before := ts.auditSize()
	if r := ts.do("POST", "/v1/auth/logout", b, nil, "Idempotency-Key", ""); r.Status != 400 || r.Code() != "invalid_idempotency_key" {
		t.Fatalf("empty Idempotency-Key: %d %s", r.Status, r.Raw)
	}
	if got := ts.auditSize(); got != before {
		t.Fatalf("an empty key wrote %d records", got-before)
	}
	ts.must(200, "POST", "/v1/auth/logout", b, nil, "Idempotency-Key", "lo-2")
	if r := ts.do("GET", "/v1/accounts/nobody", b, nil); r.Status != 401 {
		t.Fatalf("the second token after its own logout: %d", r.Status)
	}
}

// TestManyTokenKeysLoaded: a server restarted after more token-key
// rotations than a page of documents holds loads every key, the current
// one included (it once read the first page only, and every login then
// panicked on a nil signer).
func TestManyTokenKeysLoaded(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	var kid string
	for range ledger.MaxPageSize + 20 {
		var err error
		if kid, err = ts.api.RotateTokenKey(ctx); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(ctx, ts.store, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if srv.keys.current != kid || srv.keys.private[kid] == nil {
		t.Fatalf("restarted server's current key %q, want %q loaded", srv.keys.current, kid)
	}
	if len(srv.keys.private) <= ledger.MaxPageSize {
		t.Fatalf("%d keys loaded, want all %d", len(srv.keys.private), ledger.MaxPageSize+21)
	}
}

// FuzzParseToken: the token parser never panics, and accepts for each
// audience only the tokens this server issued for it — nothing made by
// changing, truncating or re-encoding one (issued here: an access and a
// refresh token).
func FuzzParseToken(f *testing.F) {
	ts := newTestServer(f)
	pair := ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "admin", "password": testAdminPassword})
	issued := map[string]string{audAccess: pair.Str("access_token"), audRefresh: pair.Str("refresh_token")}
	for _, tok := range []string{ts.admin, pair.Str("access_token"), pair.Str("refresh_token")} {
		f.Add(tok)
		f.Add(tok[:len(tok)-1])
		head, rest, _ := strings.Cut(tok, ".")
		f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + rest)
		f.Add(head + "." + rest + "x")
	}
	f.Add("")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		for _, aud := range []string{audAccess, audRefresh} {
			c, err := ts.api.parse(raw, aud)
			if err != nil {
				continue
			}
			if aud == audAccess && raw == ts.admin {
				continue
			}
			if raw != issued[aud] || c.Subject != "admin" {
				t.Fatalf("accepted a token this server did not issue for %s: %q", aud, raw)
			}
		}
	})
}

// TestUsernamesAreCaseInsensitive: "Li.Hua" and "li.hua" are one login —
// found in any case, never registered twice, throttled together, and an
// id's capitals do not make it another member's username.
func TestUsernamesAreCaseInsensitive(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "lihua", "community": "c1",
		"display_name": "李华", "roles": []string{"resident"}, "username": "Li.Hua", "password": "password-lihua"})
	for _, name := range []string{"Li.Hua", "li.hua", "LI.HUA"} {
		ts.login(name, "password-lihua")
	}
	before := ts.auditSize()
	for _, name := range []string{"li.hua", "LI.hua"} {
		wantProblem(t, ts.do("POST", "/v1/members", ts.admin, map[string]any{"id": "other-" + strings.ToLower(name[:2]), "community": "c1",
			"display_name": "冒名", "roles": []string{"resident"}, "username": name, "password": "password-other"}), 409, "already_exists")
	}
	// Member ids are case-sensitive, but a login spelled like another
	// member's id in other capitals would log in "as" that member.
	wantProblem(t, ts.do("POST", "/v1/members", ts.admin, map[string]any{"id": "wang", "community": "c1",
		"display_name": "王", "roles": []string{"resident"}, "username": "LIHUA", "password": "password-wang"}), 409, "already_exists")
	if after := ts.auditSize(); after != before {
		t.Fatalf("refused registrations wrote %d records", after-before)
	}
	// Member M5 (ids are case-sensitive) has no login; m6's login is
	// "m5": typed "M5", it is M5's id, and logs in as no one else.
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "M5", "community": "c1", "display_name": "五", "roles": []string{"resident"}})
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "m6", "community": "c1", "display_name": "六", "roles": []string{"resident"}, "username": "m5", "password": "password-m6"})
	ts.login("m5", "password-m6")
	wantProblem(t, ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "M5", "password": "password-m6"}), 401, "unauthorized")
	// A community's id names no member: typed in its capitals, a login is
	// still found.
	ts.community("CX", "", nil)
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "p1", "community": "c1", "display_name": "七", "roles": []string{"resident"}, "username": "cx", "password": "password-p1"})
	ts.login("CX", "password-p1")
	// Guesses in varied capitals count against one login's throttle.
	for i := range MaxFailedLogins {
		name := []string{"li.hua", "LI.HUA", "Li.hua"}[i%3]
		wantProblem(t, ts.do("POST", "/v1/auth/token", "", map[string]any{"username": name, "password": "a-bad-guess"}), 401, "unauthorized")
	}
	wantProblem(t, ts.do("POST", "/v1/auth/token", "", map[string]any{"username": "lI.hUa", "password": "password-lihua"}), 429, "too_many_attempts")
}

// TestThrottleCounterSizeIsBounded: a username of tens of kilobytes costs
// a counter no more than a short one (its keys are a hash), and a login
// whose caller leaves before the password is checked counts as no guess.
func TestThrottleCounterSizeIsBounded(t *testing.T) {
	ts := newTestServer(t)
	long := strings.Repeat("x", 60_000)
	wantProblem(t, ts.do("POST", "/v1/auth/token", "", map[string]any{"username": long, "password": "a-bad-guess"}), 401, "unauthorized")
	ts.api.throttle.mu.Lock()
	for k := range ts.api.throttle.fails {
		if len(k) > 100 {
			t.Errorf("a throttle key of %d bytes", len(k))
		}
	}
	ts.api.throttle.mu.Unlock()

	// Every password slot busy: the login waits; its caller gives up.
	for range cap(passwordSlots) {
		passwordSlots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	body := strings.NewReader(`{"username":"admin","password":"a-bad-guess"}`)
	req := httptest.NewRequestWithContext(ctx, "POST", "/v1/auth/token", body)
	req.Header.Set("Content-Type", "application/json")
	done := make(chan struct{})
	go func() { ts.api.Handler().ServeHTTP(httptest.NewRecorder(), req); close(done) }()
	lim := (&passwordAttempt{username: "admin", addr: "192.0.2.1"}).limits() // httptest's client address
	inflight := func() int {
		ts.api.throttle.mu.Lock()
		defer ts.api.throttle.mu.Unlock()
		if a := ts.api.throttle.current(lim[0].key); a != nil {
			return a.inflight
		}
		return 0
	}
	for inflight() == 0 {
		runtime.Gosched() // until the login is counted and waiting for a slot
	}
	cancel()
	<-done
	for range cap(passwordSlots) {
		<-passwordSlots
	}
	ts.api.throttle.mu.Lock()
	defer ts.api.throttle.mu.Unlock()
	for _, l := range lim {
		if a := ts.api.throttle.current(l.key); a != nil && a.n != 0 {
			t.Errorf("%q: %d attempts counted for a login never checked", l.key, a.n)
		}
	}
}

// TestThrottleFullKeepsLockouts: when the throttle's table fills, counters
// short of their limit make room; a lockout stays.
func TestThrottleFullKeepsLockouts(t *testing.T) {
	th := &throttle{fails: map[string]*attempts{}, now: time.Now}
	locked := limit{"ua:victim", MaxFailedLogins}
	for range MaxFailedLogins {
		th.begin(locked)
		th.landed(locked.key)
	}
	for i := 0; i < maxThrottleEntries+10; i++ {
		l := limit{fmt.Sprintf("ua:%d", i), MaxFailedLogins}
		if ok, _ := th.begin(l); !ok {
			t.Fatalf("attempt %d refused", i)
		}
		th.landed(l.key)
	}
	if ok, _ := th.begin(locked); ok {
		t.Fatal("filling the throttle's table lifted a lockout")
	}
	if n := len(th.fails); n > maxThrottleEntries {
		t.Fatalf("%d entries, bound %d", n, maxThrottleEntries)
	}
}

// TestErasedMembersDebtCanBeCleared: a mutual-credit debt an erased member
// left can be written off by a plain transfer up to a balance of zero
// (then the account closes); no more, no hold, no refund past zero, no
// new debt in their name and nothing passed through their account. A
// service they received cannot be credited: the answer says what to do.
func TestErasedMembersDebtCanBeCleared(t *testing.T) {
	ts := newTestServer(t)
	ts.community("mc", "", map[string]any{"earning": "mutual_credit", "credit_limit": "3.00"})
	coord := ts.member("zhao", "mc", "coordinator")
	vol := ts.member("v1", "mc", "volunteer", "resident")
	ts.member("m3", "mc", "resident")
	m2 := ts.member("m2", "mc", "resident")
	ago := time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)
	service := func() string {
		return ts.must(201, "POST", "/v1/services", vol, map[string]any{"volunteer": "v1", "recipient": "m2", "community": "mc",
			"category": "elder_care", "hours": "1.00", "occurred_at": ago}).Str("id")
	}
	ts.must(201, "POST", "/v1/redemptions", m2, map[string]any{"member": "m2", "community": "mc", "hours": "1.00", "item": "理发"})
	paid := service()
	ts.must(200, "POST", "/v1/services/"+paid+"/confirm", m2, nil)
	pending := service()
	ago = time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	ts.must(200, "POST", "/v1/members/m2/erase", ts.admin, nil) // at -2.00
	if r := ts.do("POST", "/v1/services/"+pending+"/confirm", coord, nil); r.Status != 409 || !strings.Contains(r.Str("detail"), "grant") {
		t.Fatalf("confirming a service the erased member received: %d %s, want 409 saying what to do", r.Status, r.Raw)
	}
	transfer := func(from, to, amount string, pending bool) response {
		return ts.do("POST", "/v1/transfers", coord, map[string]any{"pending": pending, "memo": "核销已注销成员的欠额",
			"postings": []any{map[string]any{"from": from, "to": to, "amount": amount, "unit": "HOUR"}}})
	}
	size := ts.auditSize()
	wantProblem(t, transfer("mc:issuance", "m2:HOUR", "2.01", false), 409, "conflict")
	wantProblem(t, transfer("mc:issuance", "m2:HOUR", "1.00", true), 409, "conflict")
	wantProblem(t, transfer("m2:HOUR", "m3:HOUR", "0.50", false), 409, "conflict") // a new debt in their name
	if r := ts.do("POST", "/v1/transfers", coord, map[string]any{"memo": "经过", "postings": []any{
		map[string]any{"from": "mc:issuance", "to": "m2:HOUR", "amount": "1.00", "unit": "HOUR"},
		map[string]any{"from": "m2:HOUR", "to": "m3:HOUR", "amount": "1.00", "unit": "HOUR"}}}); r.Status != 409 {
		t.Fatalf("value passed through the erased account: %d %s", r.Status, r.Raw)
	}
	if ts.auditSize() != size {
		t.Fatal("refused write-offs wrote records")
	}
	if r := transfer("mc:issuance", "m2:HOUR", "1.50", false); r.Status != 201 {
		t.Fatalf("clearing part of the debt: %d %s", r.Status, r.Raw)
	}
	wantProblem(t, transfer("mc:issuance", "m2:HOUR", "0.51", false), 409, "conflict")
	if r := transfer("mc:issuance", "m2:HOUR", "0.50", false); r.Status != 201 {
		t.Fatalf("clearing the rest: %d %s", r.Status, r.Raw)
	}
	// The debt is written off: rejecting the service they paid for would
	// refund them past zero.
	size = ts.auditSize()
	wantProblem(t, ts.do("POST", "/v1/services/"+paid+"/reject", coord, map[string]any{"reason": "记录有误"}), 409, "conflict")
	if ts.auditSize() != size {
		t.Fatal("a refused correction wrote a record")
	}
	if b := ts.balance("m2:HOUR"); b != "0.00" {
		t.Fatalf("balance after the write-off: %s", b)
	}
	ts.must(200, "POST", "/v1/accounts/m2:HOUR/status", ts.admin, map[string]any{"status": "closed"})
}

// TestRetryAfterErasureReplays: a write a coordinator made for a member
// (named in the body or with X-On-Behalf-Of) and retried under its
// Idempotency-Key after the member's erasure gets its original answer;
// a new write for them is still refused, saying why.
func TestRetryAfterErasureReplays(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	coord := ts.member("zhao", "c1", "coordinator")
	ts.member("li", "c1", "resident")
	ts.must(201, "POST", "/v1/transfers", ts.admin, map[string]any{"postings": []any{map[string]any{"from": "c1:issuance", "to": "li:HOUR", "amount": "3.00", "unit": "HOUR"}}})
	body := map[string]any{"from": "li", "to": "c1:pool", "hours": "0.50"}
	first := ts.must(201, "POST", "/v1/gifts", coord, body, "Idempotency-Key", "gift-li-1")
	byHeader := ts.must(201, "POST", "/v1/gifts", coord, body, "Idempotency-Key", "gift-li-2", HeaderOnBehalf, "li")
	ts.must(200, "POST", "/v1/members/li/erase", ts.admin, nil)
	size := ts.auditSize()
	for _, c := range []struct {
		key     string
		headers []string
		want    response
	}{{"gift-li-1", nil, first}, {"gift-li-2", []string{HeaderOnBehalf, "li"}, byHeader}} {
		r := ts.do("POST", "/v1/gifts", coord, body, append([]string{"Idempotency-Key", c.key}, c.headers...)...)
		if r.Status != 201 || string(r.Raw) != string(c.want.Raw) || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry %s after the erasure: %d %s, want the original %s", c.key, r.Status, r.Raw, c.want.Raw)
		}
	}
	for _, h := range [][]string{{"Idempotency-Key", "gift-li-3"}, {"Idempotency-Key", "gift-li-4", HeaderOnBehalf, "li"}, nil} {
		if r := ts.do("POST", "/v1/gifts", coord, body, h...); r.Status != 409 || !strings.Contains(r.Str("detail"), "erased") {
			t.Fatalf("a new write for the erased member %v: %d %s", h, r.Status, r.Raw)
		}
	}
	if ts.auditSize() != size {
		t.Fatal("retries and refusals after the erasure wrote records")
	}
}

// TestConcurrentTokenRotations: rotations sent at once leave the server
// signing with the key the ledger holds as current, so tokens issued
// after them still work after a restart.
func TestConcurrentTokenRotations(t *testing.T) {
	ts := newTestServer(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", ts.http.URL+"/v1/admin/keys/token/rotate", nil)
			req.Header.Set("Authorization", "Bearer "+ts.admin)
			if resp, err := ts.http.Client().Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	// A token issued now is signed with the key the ledger holds as
	// current (one retired by a rotation committed later would be refused
	// once dated after it).
	token := ts.login("admin", testAdminPassword)
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if kid := currentTokenKey(t, ts).Kid; !strings.Contains(string(header), `"`+kid+`"`) {
		t.Fatalf("a token issued after concurrent rotations is signed by %s, the ledger's current key is %s", header, kid)
	}
}

// TestEndedKeyCachedLate: a token whose verification raced an end_sessions
// rotation (verified before it, cached after the cache was emptied) is
// still refused: a cache hit is judged against the key as it stands.
func TestEndedKeyCachedLate(t *testing.T) {
	ts := newTestServer(t)
	token := ts.admin
	claims, err := ts.api.parseToken(token, audAccess, false)
	if err != nil {
		t.Fatal(err)
	}
	ts.must(200, "POST", "/v1/admin/keys/token/rotate", token, map[string]any{"end_sessions": true})
	ts.api.tokenCache.put(token, audAccess, claims) // the racing request's late put
	if r := ts.do("GET", "/v1/accounts/admin:HOUR", token, nil); r.Status != 401 {
		t.Fatalf("a token of an ended key cached after the rotation: %d %s, want 401", r.Status, r.Raw)
	}
}

// TestPasswordResetRetryDiesWithErasure: a password reset names the
// username (often a phone number) and carries a password; its
// idempotency record is keyed with the member's data key, so after the
// member's erasure nothing is left to test a guess at the username
// against (a probe recovered a phone-number username from such a record
// with master.key), and a retry is 409 idempotency_conflict.
func TestPasswordResetRetryDiesWithErasure(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.must(201, "POST", "/v1/members", ts.admin, map[string]any{"id": "m-0042", "community": "c1", "display_name": "居民",
		"roles": []string{"resident"}, "username": "13912345678", "password": "password-first-1"})
	reset := map[string]any{"username": "13912345678", "new_password": "Welcome-2026"}
	first := ts.must(200, "PUT", "/v1/members/m-0042/password", ts.admin, reset, "Idempotency-Key", "reset-m-0042")
	again := ts.must(200, "PUT", "/v1/members/m-0042/password", ts.admin, reset, "Idempotency-Key", "reset-m-0042")
	if string(again.Raw) != string(first.Raw) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("a retry before the erasure: %s", again.Raw)
	}
	ts.must(200, "POST", "/v1/members/m-0042/erase", ts.admin, nil)
	if r := ts.do("PUT", "/v1/members/m-0042/password", ts.admin, reset, "Idempotency-Key", "reset-m-0042"); r.Status != 409 || r.Code() != "idempotency_conflict" {
		t.Fatalf("a retry after the erasure: %d %s, want 409 idempotency_conflict", r.Status, r.Raw)
	}
}

// TestTokenWithLineBreakRefused: a token is its compact form exactly. Go's
// base64 skips line breaks, so a refresh token with "\n" appended once
// verified as itself; now it is refused and the token stays unspent.
func TestTokenWithLineBreakRefused(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.member("li", "c1", "resident")
	login := ts.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": "li", "password": "password-li"})
	refresh := login.Str("refresh_token")
	for _, bad := range []string{refresh + "\n", refresh + "\r\n", "\n" + refresh, refresh + " "} {
		if r := ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": bad}); r.Status != 401 || r.Code() != "invalid_token" {
			t.Fatalf("refresh token %q: %d %s, want 401 invalid_token", bad, r.Status, r.Raw)
		}
	}
	ts.must(200, "POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": refresh})
}

// TestTokenOneShape: a token signed with the server's own key is still
// refused unless it has the one shape the server issues — its signature
// spelt one way (the unused low bits of the last base64 character zero),
// no member named twice, no "crit" header, numeric dates as numbers, one
// audience — and a refresh token naming nobody is a bad token, not 404.
func TestTokenOneShape(t *testing.T) {
	ts := newTestServer(t)
	ts.community("c1", "", nil)
	ts.member("li", "c1", "resident")
	kid, priv := ts.api.keys.signer()
	enc := base64.RawURLEncoding.EncodeToString
	sign := func(header, payload string) string {
		in := enc([]byte(header)) + "." + enc([]byte(payload))
		return in + "." + enc(ed25519.Sign(priv, []byte(in)))
	}
	now := time.Now().Unix()
	head := `{"alg":"EdDSA","kid":"` + kid + `","typ":"JWT"}`
	claims := func(aud, extra string) string {
		return fmt.Sprintf(`{"iss":"tally","sub":"li","aud":%s,"exp":%d,"iat":%d,"jti":"%s","roles":["resident"],"scope":"c1"%s}`,
			aud, now+300, now, newJTI(), extra)
	}
	// The control: the hand-made token is good, so each refusal below is
	// the one thing changed.
	ts.must(200, "GET", "/v1/accounts/li:HOUR", sign(head, claims(`["tally-api"]`, "")), nil)
	ts.must(200, "GET", "/v1/accounts/li:HOUR", sign(head, claims(`"tally-api"`, "")), nil)

	real := ts.login("li", "password-li")
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", real[len(real)-1])
	respelt := real[:len(real)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last^1])
	cases := map[string]string{
		"signature respelt": respelt,
		"crit header":       sign(`{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT","crit":["exp"]}`, claims(`["tally-api"]`, "")),
		"kid twice":         sign(`{"alg":"EdDSA","kid":"zzz","kid":"`+kid+`","typ":"JWT"}`, claims(`["tally-api"]`, "")),
		"sub twice":         sign(head, claims(`["tally-api"]`, `,"sub":"admin"`)),
		"two audiences":     sign(head, claims(`["tally-refresh","tally-api"]`, "")),
		"exp a string":      sign(head, strings.Replace(claims(`["tally-api"]`, ""), fmt.Sprintf(`"exp":%d`, now+300), fmt.Sprintf(`"exp":"%d"`, now+300), 1)),
		"trailing data":     sign(head, claims(`["tally-api"]`, "")+"{}"),
		"SUB beside sub":    sign(head, claims(`["tally-api"]`, `,"SUB":"admin","ROLES":["admin"]`)),
		"ſub beside sub":    sign(head, claims(`["tally-api"]`, `,"ſub":"admin"`)),
		"Exp a string":      sign(head, claims(`["tally-api"]`, fmt.Sprintf(`,"Exp":"%d"`, now+300))),
		"Aud two audiences": sign(head, claims(`["tally-api"]`, `,"Aud":["tally-refresh","tally-api"]`)),
		"CRIT header":       sign(`{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT","CRIT":["exp"]}`, claims(`["tally-api"]`, "")),
	}
	for name, tok := range cases {
		if r := ts.do("GET", "/v1/accounts/li:HOUR", tok, nil); r.Status != 401 || r.Code() != "invalid_token" {
			t.Errorf("%s: %d %s, want 401 invalid_token", name, r.Status, r.Raw)
		}
	}
	nobody := sign(head, strings.Replace(strings.Replace(claims(`["tally-refresh"]`, ""), `"sub":"li"`, `"sub":"ghost"`, 1), `"exp":`+strconv.FormatInt(now+300, 10), `"exp":`+strconv.FormatInt(now+3600, 10), 1))
	if r := ts.do("POST", "/v1/auth/refresh", "", map[string]any{"refresh_token": nobody}); r.Status != 401 || r.Code() != "invalid_token" {
		t.Errorf("refresh naming nobody: %d %s, want 401 invalid_token", r.Status, r.Raw)
	}
}
