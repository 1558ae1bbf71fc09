package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"tally/ledger"
	"tally/ledger/community"
)

// Token lifetimes and login throttling.
const (
	AccessTTL  = 15 * time.Minute
	RefreshTTL = 7 * 24 * time.Hour
	// ClockLeeway tolerates small clock differences on exp/iat.
	ClockLeeway = 5 * time.Second
	// MaxFailedLogins per user from one client address,
	// MaxFailedLoginsPerUser per user from all addresses together and
	// MaxFailedLoginsPerAddr per client address within LoginWindow; then
	// logins answer 429. Counting a user's failures per address first
	// means one client's bad guesses do not lock the user out everywhere;
	// the per-user limit still bounds guesses spread over many addresses.
	MaxFailedLogins        = 5
	MaxFailedLoginsPerUser = 50
	MaxFailedLoginsPerAddr = 20
	LoginWindow            = 15 * time.Minute
	// maxThrottleEntries bounds the throttle's memory.
	maxThrottleEntries = 100_000
	// MaxTokenLen bounds a bearer token before it is parsed.
	MaxTokenLen = 4096
	// MaxPasswordLen is bcrypt's limit.
	MaxPasswordLen = 72
	MinPasswordLen = 8
)

// PasswordCost is the bcrypt cost of stored passwords. It is a variable
// only so that tests, which create hundreds of logins under the race
// detector, can lower it; the server never changes it.
var PasswordCost = bcrypt.DefaultCost

const (
	audAccess  = "tally-api"
	audRefresh = "tally-refresh"
)

type tokenClaims struct {
	jwt.RegisteredClaims
	Roles []community.Role `json:"roles"`
	Scope string           `json:"scope"`
	// Session names the login the token descends from: set at login and
	// carried by every pair a refresh issues. Revoking it (logout, a spent
	// refresh token presented again) ends every token of that login.
	// Tokens issued before sessions existed have none.
	Session string `json:"sid,omitempty"`
	// kid is the key that signed it, kept with a verified token in the
	// cache: a cache hit is judged against the key's retirement as it
	// stands now (a rotation racing the verification).
	kid string
}

// passwordChanges serialises each member's password changes (striped:
// bounded memory, and a member flooding their own changes holds up at
// most 1/len of the others').
var passwordChanges [64]sync.Mutex

func stripe(member string) int {
	h := fnv.New32a()
	h.Write([]byte(member))
	return int(h.Sum32() % uint32(len(passwordChanges)))
}

// passwordSlots bounds the password checks running at once to half the
// cores (at least one).
var passwordSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// HashPassword hashes a password for storage. Errors: invalid_request.
func HashPassword(pw string) ([]byte, error) {
	if err := checkPasswordLen(pw); err != nil {
		return nil, err
	}
	return bcrypt.GenerateFromPassword([]byte(pw), PasswordCost)
}

// checkPasswordLen refuses a password shorter than MinPasswordLen or
// longer than MaxPasswordLen bytes, or one holding control characters
// (NUL, tab, newline...) that no keyboard login types (invalid_request).
func checkPasswordLen(pw string) error {
	if len(pw) < MinPasswordLen || len(pw) > MaxPasswordLen {
		return ledger.Errorf(ledger.CodeInvalidRequest, "a password has %d to %d bytes", MinPasswordLen, MaxPasswordLen)
	}
	if strings.IndexFunc(pw, unicode.IsControl) >= 0 || !utf8.ValidString(pw) {
		return ledger.Errorf(ledger.CodeInvalidRequest, "a password holds no control characters")
	}
	return nil
}

// dummyHash keeps a login for an unknown user as slow as a wrong password.
// It is made when a server is made (New), not when the program starts: a
// bcrypt hash costs about 60 ms of CPU, which every start of every
// subcommand (tally health in a container's health check) would pay, and
// a stop signal in those first milliseconds found no handler yet.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("tally-not-a-password"), PasswordCost)
	return h
})

func newJTI() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("api: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func (s *Server) issue(m *community.Member, sid, aud string, ttl time.Duration) (string, string, error) {
	kid, priv := s.keys.signer()
	now := s.now()
	jti := newJTI()
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: s.cfg.Issuer, Subject: m.ID, Audience: jwt.ClaimStrings{aud},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)), IssuedAt: jwt.NewNumericDate(now), ID: jti},
		Roles: m.Roles, Scope: m.Community, Session: sid,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = kid
	signed, err := t.SignedString(priv)
	return signed, jti, err
}

// parse verifies a token for the audience: EdDSA only, a known kid, and
// exp, iat, iss, aud, sub and jti present and valid; revoked ids refused.
// Tokens carry their times to the millisecond (RFC 7519 numeric dates
// may have fractions): a password change refuses the tokens issued
// before it, and logging in again in the same second must work.
func init() { jwt.TimePrecision = time.Millisecond }

// tokenTTL is the lifetime of the tokens of an audience.
func tokenTTL(aud string) time.Duration {
	if aud == audRefresh {
		return RefreshTTL
	}
	return AccessTTL
}

func (s *Server) parse(raw, aud string) (*tokenClaims, error) {
	return s.parseToken(raw, aud, false)
}

// parseToken is parse; with spent set, a token whose own id is revoked
// passes (its session's revocation still refuses it): refresh looks for
// a spent refresh token presented again.
func (s *Server) parseToken(raw, aud string, spent bool) (*tokenClaims, error) {
	bad := ledger.Errorf(CodeInvalidToken, "the token is invalid or expired")
	if raw == "" || len(raw) > MaxTokenLen || !compactJWS(raw) {
		return nil, bad
	}
	if c, ok := s.tokenCache.get(raw, aud); ok {
		_, retired, known := s.keys.verifier(c.kid)
		if !known || !s.now().Before(c.ExpiresAt.Add(ClockLeeway)) || s.revokedToken(c, spent) || !s.inForce(c, aud, retired) {
			return nil, bad
		}
		return c, nil
	}
	if !strictJOSE(raw, aud) {
		return nil, bad
	}
	claims := &tokenClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		pub, _, ok := s.keys.verifier(kid)
		if !ok {
			return nil, errors.New("unknown kid")
		}
		claims.kid = kid
		return ed25519.PublicKey(pub), nil
	}, jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithIssuer(s.cfg.Issuer),
		jwt.WithAudience(aud), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(ClockLeeway),
		jwt.WithTimeFunc(s.now), jwt.WithStrictDecoding())
	if err != nil || claims.IssuedAt == nil || claims.ID == "" || claims.Subject == "" {
		return nil, bad
	}
	if s.revokedToken(claims, spent) {
		return nil, bad
	}
	s.tokenCache.put(raw, aud, claims)
	// Judged after it is cached, against the key as it stands then: a
	// rotation between the signature check and the cache is seen here,
	// and by every later hit.
	_, retired, known := s.keys.verifier(claims.kid)
	if !known || !s.inForce(claims, aud, retired) {
		return nil, bad
	}
	return claims, nil
}

// inForce: a token lives no longer than its kind's TTL, and a retired key
// signs nothing after its retirement (ClockLeeway: a login racing the
// rotation): whoever holds an old key cannot mint tokens dated after it.
// What it signed before is honoured until it expires (SPEC §7); a
// rotation with end_sessions refuses that too (verifier: not known).
func (s *Server) inForce(c *tokenClaims, aud string, retired time.Time) bool {
	return c.ExpiresAt.Sub(c.IssuedAt.Time) <= tokenTTL(aud) &&
		(retired.IsZero() || !c.IssuedAt.After(retired.Add(ClockLeeway)))
}

// revokedToken reports whether the token (unless spent is allowed), or
// the session it belongs to, was revoked.
func (s *Server) revokedToken(c *tokenClaims, spent bool) bool {
	return (!spent && s.revoked.has(c.ID)) || (c.Session != "" && s.revoked.has(c.Session))
}

// strictJOSE holds a token to the one shape this server issues, before
// its signature is checked: a header and a payload that are JSON objects
// with no member named twice (which one a parser keeps is its own
// choice; names differing only in case are the same member to the
// claims' decoder), a header with no "crit" (RFC 7515 §4.1.11: an extension this
// server does not know must be refused), numeric dates that are numbers,
// and exactly one audience, the one expected (a token for both audiences
// would pass as an access and a refresh token alike). The signature's
// base64 is decoded strictly (jwt.WithStrictDecoding): its unused low
// bits must be zero, so a token has one spelling, not sixteen.
func strictJOSE(raw, aud string) bool {
	parts := strings.SplitN(raw, ".", 3)
	header, err := base64.RawURLEncoding.Strict().DecodeString(parts[0])
	if err != nil {
		return false
	}
	h, ok := uniqueObject(header)
	if !ok || h["crit"] != nil {
		return false
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return false
	}
	c, ok := uniqueObject(payload)
	if !ok {
		return false
	}
	for _, k := range []string{"exp", "iat", "nbf"} {
		if v, set := c[k]; set && !isJSONNumber(v) {
			return false
		}
	}
	var auds []string
	if err := json.Unmarshal(c["aud"], &auds); err != nil {
		var one string
		if err := json.Unmarshal(c["aud"], &one); err != nil {
			return false
		}
		auds = []string{one}
	}
	return len(auds) == 1 && auds[0] == aud
}

// uniqueObject decodes a JSON object whose members each appear once, and
// nothing after it. Names are compared, and returned, in lower case: Go's
// encoding/json (which fills the claims) matches names ignoring case, so
// "sub" and "SUB" name the same claim, the last one winning.
func uniqueObject(b []byte) (map[string]json.RawMessage, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	m := map[string]json.RawMessage{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, false
		}
		k, _ := t.(string)
		k = strings.ToLower(strings.ToUpper(k)) // "ſ" and "K" (Kelvin) fold as the decoder folds them
		if _, dup := m[k]; dup {
			return nil, false
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, false
		}
		m[k] = v
	}
	if t, err := d.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, false
	}
	return m, true
}

// isJSONNumber reports whether a JSON value is a number (not a string
// holding one).
func isJSONNumber(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}

// compactJWS reports whether raw is three base64url parts joined by dots
// and nothing else: Go's base64 decoder skips '\r' and '\n', so a token
// with a line break in it would verify as the token without it.
func compactJWS(raw string) bool {
	dots := 0
	for i := 0; i < len(raw); i++ {
		switch b := raw[i]; {
		case b == '.':
			dots++
		case b >= 'A' && b <= 'Z', b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == '-', b == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// MaxTokenCache bounds the verified-token cache.
const MaxTokenCache = 10_000

// tokenCache remembers tokens whose signature and claims were verified, so
// a client's next requests skip the Ed25519 check. Expiry and revocation
// are still checked on every use; a rotation empties it, so that what a
// retired key signed is judged again.
type tokenCache struct {
	mu sync.RWMutex
	m  map[string]*tokenClaims
}

func (t *tokenCache) get(raw, aud string) (*tokenClaims, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	c, ok := t.m[aud+" "+raw]
	return c, ok
}

func (t *tokenCache) clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m = map[string]*tokenClaims{}
}

func (t *tokenCache) put(raw, aud string, c *tokenClaims) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= MaxTokenCache {
		t.m = map[string]*tokenClaims{} // crude but bounded; entries refill on use
	}
	t.m[aud+" "+raw] = c
}

// authenticate is the middleware of every route that needs a token.
func (s *Server) authenticate(c *gin.Context) {
	// What a token reads (balances, histories, personal data) is the
	// caller's alone: no shared or browser cache keeps it.
	c.Header("Cache-Control", "no-store")
	for _, name := range []string{"Authorization", HeaderOnBehalf} {
		if len(c.Request.Header.Values(name)) > 1 {
			failCode(c, ledger.CodeInvalidRequest, "send one %s header, not several", name)
			return
		}
	}
	h := c.GetHeader("Authorization")
	// The scheme is case-insensitive (RFC 9110 §11.1).
	raw, ok := "", len(h) > len("Bearer ") && strings.EqualFold(h[:len("Bearer ")], "Bearer ")
	if ok {
		raw = h[len("Bearer "):]
	}
	if !ok {
		c.Header("WWW-Authenticate", `Bearer realm="tally"`)
		failCode(c, ledger.CodeUnauthorized, "send Authorization: Bearer <access token>")
		return
	}
	claims, err := s.parse(strings.TrimSpace(raw), audAccess)
	if err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="tally", error="invalid_token"`)
		fail(c, err)
		return
	}
	p := &Principal{Member: claims.Subject, Community: claims.Scope, Roles: claims.Roles,
		TokenID: claims.ID, Session: claims.Session, Expires: claims.ExpiresAt.Time, IssuedAt: claims.IssuedAt.UnixMilli()}
	if err := s.current(c, p); err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="tally", error="invalid_token"`)
		fail(c, err)
		return
	}
	if vs := c.Request.Header.Values(HeaderOnBehalf); len(vs) == 1 && strings.TrimSpace(vs[0]) == "" {
		// Sent empty (a client's template with no member filled in): not
		// the header left out, which would act as the caller. A late rule
		// (see bind): a keyed write goes on to replay or be refused.
		err := ledger.Errorf(ledger.CodeInvalidRequest, "%s is empty: leave it out, or name the member acted for", HeaderOnBehalf)
		if c.GetHeader("Idempotency-Key") == "" || c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
			fail(c, err)
			return
		}
		c.Set(ctxLateRule, error(err))
	}
	if ob := c.GetHeader(HeaderOnBehalf); ob != "" {
		if err := s.onBehalf(c, p, ob); err != nil {
			fail(c, err)
			return
		}
	}
	c.Request = c.Request.WithContext(WithPrincipal(c.Request.Context(), p))
	c.Next()
}

// current replaces the token's roles and scope by the member's current
// ones, so that a role withdrawn or a member erased takes effect at once
// rather than when the token expires; a token of an erased or unknown
// member is refused.
func (s *Server) current(c *gin.Context, p *Principal) error {
	m, ok := s.members.get(p.Member)
	if !ok {
		gen := s.members.generation()
		err := s.ledger.View(c.Request.Context(), func(r ledger.Reader) error {
			var err error
			m, err = community.GetMember(r, p.Member)
			return err
		})
		if err != nil && !ledger.IsCode(err, ledger.CodeNotFound) {
			return err
		}
		s.members.put(gen, p.Member, m)
	}
	if m == nil || m.Erased || p.IssuedAt < m.TokensAfter && p.TokenID != m.TokenKept {
		return ledger.Errorf(CodeInvalidToken, "the token is invalid or expired")
	}
	p.Roles, p.Community = m.Roles, m.Community
	return nil
}

// MaxMemberCache bounds the cache of members read by authentication.
const MaxMemberCache = 10_000

// memberCache keeps the members that authentication reads. Roles and
// erasure change only through the API's member routes, which invalidate
// the whole cache after their commit; an entry read before an
// invalidation carries the old generation and is never served.
type memberCache struct {
	mu  sync.RWMutex
	gen uint64
	m   map[string]cachedMember
}

type cachedMember struct {
	gen    uint64
	member *community.Member // nil: no such member
}

func (mc *memberCache) generation() uint64 {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	return mc.gen
}

func (mc *memberCache) get(id string) (*community.Member, bool) {
	mc.mu.RLock()
	defer mc.mu.RUnlock()
	e, ok := mc.m[id]
	return e.member, ok && e.gen == mc.gen
}

func (mc *memberCache) put(gen uint64, id string, m *community.Member) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if gen != mc.gen {
		return
	}
	if len(mc.m) >= MaxMemberCache {
		clear(mc.m)
	}
	mc.m[id] = cachedMember{gen: gen, member: m}
}

func (mc *memberCache) invalidate() {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.gen++
	clear(mc.m)
}

// onBehalf lets a coordinator act for a member of their scope (代办).
func (s *Server) onBehalf(c *gin.Context, p *Principal, member string) error {
	if !p.Has(community.RoleCoordinator) {
		return ledger.Errorf(ledger.CodeForbidden, "only a coordinator acts on behalf of a member")
	}
	if err := ledger.CheckID("member", member); err != nil {
		return err
	}
	return s.ledger.View(c.Request.Context(), func(r ledger.Reader) error {
		if err := actableFor(r, p, member); err != nil && !replayable(c, err) {
			return err
		}
		p.OnBehalf, p.Delegated = member, true
		return nil
	})
}

// errActForErased marks actableFor's refusal of an erased member (a
// conflict whose message says so).
var errActForErased = errors.New("")

// replayable reports whether a write refused because the member it acts
// for was erased should still reach the ledger: with an Idempotency-Key
// it may be the retry of a write made before the erasure, which is
// answered from its record (SPEC §2); a new write is refused inside its
// commit all the same (authorized), saying why.
func replayable(c *gin.Context, err error) bool {
	m := c.Request.Method
	return errors.Is(err, errActForErased) && c.GetHeader("Idempotency-Key") != "" && m != http.MethodGet && m != http.MethodHead
}

// actableFor checks that p, a coordinator, may act for member: a resident
// or volunteer of p's scope, not erased. It runs when the request is
// authenticated and again inside its commit (authorized).
func actableFor(r ledger.Reader, p *Principal, member string) error {
	m, err := community.GetMember(r, member)
	if err != nil {
		return err
	}
	if m.Community == "" {
		// Staff of the whole deployment are nobody's to act for; the
		// answer is the one an unknown member gets.
		return ledger.Errorf(ledger.CodeNotFound, "member %s not found", member)
	}
	if err := inScope(r, p, m.Community); err != nil {
		return hideOutOfScope(err, "member %s not found", member)
	}
	if m.Erased {
		return fmt.Errorf("%w%w", ledger.Errorf(ledger.CodeConflict, "member %s was erased; nobody acts for them", member), errActForErased)
	}
	if slices.ContainsFunc(m.Roles, func(r community.Role) bool {
		return r == community.RoleCoordinator || r == community.RoleAdmin || r == community.RoleAuditor
	}) {
		// 代办 serves residents; staff act in their own name.
		return ledger.Errorf(ledger.CodeForbidden, "member %s is staff; staff act for themselves, not through a coordinator", member)
	}
	if !slices.ContainsFunc(m.Roles, func(r community.Role) bool {
		return r == community.RoleResident || r == community.RoleVolunteer
	}) {
		// A committee member who is no resident acts in person.
		return ledger.Errorf(ledger.CodeForbidden, "member %s is no resident or volunteer; 代办 serves residents", member)
	}
	return nil
}

// noStore keeps tokens out of caches (RFC 6749 §5.1).
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
}

// TokenRequest logs in.
type TokenRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// TokenResponse carries the tokens.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type" enum:"Bearer"`
	ExpiresIn    int    `json:"expires_in"`
}

func (s *Server) login(c *gin.Context) {
	var req TokenRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	a, ok := s.beginAttempt(c, "login", req.Username)
	if !ok {
		return
	}
	defer a.finish()
	if !a.check(c, req.Password, "") {
		if a.abandoned {
			a.takeBack()
			return
		}
		a.failed(c)
		return
	}
	a.succeeded()
	s.tokens(c, a.member, newJTI())
}

// passwordAttempt is one check of a username and password (a login, a
// password change): throttled per user and address — the attempt counts
// before the password is checked, so guesses sent in parallel cannot all
// slip under the limit, and a success takes it back — with failures in
// the security log and one answer for every failure.
type passwordAttempt struct {
	s                    *Server
	what, username, addr string
	member               *community.Member // the login's member, when the password matched
	login                string            // the member id of the login the username names, if any (for the log)
	caller               string            // the member whose token made the attempt (a password change), for the log
	hash                 []byte            // the stored hash it matched
	refused              error             // errThrottled or errBusy when not counted
	counted, finished    bool
	abandoned            bool // the caller left before the password was checked
}

// beginAttempt counts an attempt, or answers 429 when too many failed or
// are in flight. The caller defers finish.
func (s *Server) beginAttempt(c *gin.Context, what, username string) (*passwordAttempt, bool) {
	a, ok := s.tryAttempt(c, what, username, "")
	if !ok {
		fail(c, a.refused)
	}
	return a, ok
}

// tryAttempt counts an attempt, or reports (and logs) that too many
// failed or are in flight (a.refused says which); it answers nothing.
// caller is the member whose token made it (a password change), or "".
func (s *Server) tryAttempt(c *gin.Context, what, username, caller string) (*passwordAttempt, bool) {
	a := &passwordAttempt{s: s, what: what, username: username, addr: c.ClientIP(), caller: caller}
	ok, busy := s.throttle.begin(a.limits()...)
	if !ok {
		a.refused = errThrottled
		if busy {
			a.refused = errBusy
		}
		s.logThrottled(a, busy)
		return a, false
	}
	a.counted = true
	return a, true
}

// finish ends a counted attempt: it is no longer in flight (a failure
// stays counted; succeeded took a success back).
func (a *passwordAttempt) finish() {
	if a.counted && !a.finished {
		a.finished = true
		for _, l := range a.limits() {
			a.s.throttle.landed(l.key)
		}
	}
}

var (
	errThrottled = ledger.Errorf(CodeTooManyAttempts, "too many failed attempts; wait and try again")
	// errBusy: the limit is reached by attempts still being checked (many
	// logins at once from one address, say a station's shared network),
	// not by failures: one of them may yet succeed and free its place.
	errBusy = ledger.Errorf(CodeTooManyAttempts, "too many login attempts at once; try again in a moment")
)

// check reports whether password is the login's (and, with member set,
// the login is that member's, not erased).
func (a *passwordAttempt) check(c *gin.Context, password, member string) bool {
	var user *community.User
	var m *community.Member
	a.s.ledger.View(c.Request.Context(), func(r ledger.Reader) error {
		if ledger.ValidID(a.username) {
			user, _ = community.GetUser(r, a.username)
		}
		if user != nil {
			a.login = user.Member
		}
		if user != nil && (member == "" || user.Member == member) {
			m, _ = community.GetMember(r, user.Member)
		}
		return nil
	})
	hash := dummyHash()
	if m != nil {
		hash = user.PasswordHash
	}
	// bcrypt is the costliest work a request without a token can cause:
	// at most passwordSlots at once, so that a flood of logins (each
	// address under its own limit) queues instead of taking every core
	// from the requests being served.
	select {
	case passwordSlots <- struct{}{}:
	case <-c.Request.Context().Done():
		// The caller went away before their password was checked: no
		// guess was tried, so none is counted (takeBack); nothing is
		// answered.
		a.abandoned = true
		return false
	}
	ok := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && len(password) <= MaxPasswordLen
	<-passwordSlots
	if !ok || m == nil || m.Erased {
		return false
	}
	a.member, a.hash = m, user.PasswordHash
	return true
}

func (a *passwordAttempt) logFailure() {
	attrs := append(append([]any{"log", "security"}, a.s.loginNamed(a.username, a.login)...), "addr", a.addr)
	if a.caller != "" {
		attrs = append(attrs, "by", a.caller)
	}
	slog.Warn(a.what+" failed", attrs...)
}

// logThrottled logs a throttled attempt, at most MaxThrottledLogsPerSecond
// a second: a refusal costs the server nothing, so one client could
// otherwise write hundreds of lines a second into the log (about 800 were
// seen). The attempts not logged are counted in the next line logged.
func (s *Server) logThrottled(a *passwordAttempt, busy bool) {
	ok, skipped := s.throttled.allow(s.cfg.Clock())
	if !ok {
		return
	}
	attrs := append([]any{"log", "security"}, s.loginNamed(a.username, s.loginOf(a.username))...)
	attrs = append(attrs, "addr", a.addr, "in_flight", busy)
	if a.caller != "" {
		attrs = append(attrs, "by", a.caller)
	}
	if skipped > 0 {
		attrs = append(attrs, "throttled_not_logged", skipped)
	}
	slog.Warn(a.what+" throttled", attrs...)
}

// MaxThrottledLogsPerSecond bounds the lines the security log writes for
// throttled attempts in one second (logThrottled).
const MaxThrottledLogsPerSecond = 10

// logLimiter lets MaxThrottledLogsPerSecond lines through per second of
// the clock and counts the rest.
type logLimiter struct {
	mu      sync.Mutex
	second  int64
	logged  int
	skipped int // attempts not logged since the last line logged
}

// allow reports whether a line may be logged at now and, when it may,
// how many were not logged before it.
func (l *logLimiter) allow(now time.Time) (ok bool, skipped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec := now.Unix(); sec != l.second {
		l.second, l.logged = sec, 0
	}
	if l.logged >= MaxThrottledLogsPerSecond {
		l.skipped++
		return false, 0
	}
	l.logged++
	skipped, l.skipped = l.skipped, 0
	return true, skipped
}

// loginOf is the member id of the login username names, or "".
func (s *Server) loginOf(username string) string {
	var id string
	s.ledger.View(context.Background(), func(r ledger.Reader) error {
		if ledger.ValidID(username) {
			if u, err := community.GetUser(r, username); err == nil {
				id = u.Member
			}
		}
		return nil
	})
	return id
}

// loginNamed is how the security log names an attempt: the member whose
// login it was (an opaque id, as the chain names members), when the
// username is one, and username_mac always.
func (s *Server) loginNamed(username, member string) []any {
	out := []any{"username_mac", s.logName(username)}
	if member != "" {
		out = append(out, "member", member)
	}
	return out
}

// failed logs the failure and answers it (401).
func (a *passwordAttempt) failed(c *gin.Context) {
	a.logFailure()
	fail(c, errWrongPassword)
}

// logName is how the security log names a username: the first 16 hex
// digits of an HMAC-SHA256 of its lower-case form (UserKey) under a key
// random to this run of the server. Usernames are often phone numbers,
// and what is typed as one is sometimes a password: an unkeyed hash of
// an 11-digit number is undone by trying them all. Within a run, the same
// name gives the same value, so attempts on one name can be told apart;
// a login that exists is also named by its member id (loginNamed).
func (s *Server) logName(username string) string {
	m := hmac.New(sha256.New, s.logKey)
	m.Write([]byte(community.UserKey(username)))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// newLogKey is a random key for logName, new at each start.
func newLogKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return k
}

var errWrongPassword = ledger.Errorf(ledger.CodeUnauthorized, "wrong username or password")

// limits are the throttle's counters an attempt counts against.
func (a *passwordAttempt) limits() []limit {
	// Counted under the key the login is kept under: "Zhang" and "zhang"
	// are one login, so they share one throttle; and under its hash, so
	// that a counter costs the same whatever was typed as a username (a
	// body may carry tens of kilobytes of it).
	h := sha256.Sum256([]byte(community.UserKey(a.username)))
	user := hex.EncodeToString(h[:16])
	addr := throttleAddr(a.addr)
	return []limit{{"ua:" + user + "\x00" + addr, MaxFailedLogins},
		{"u:" + user, MaxFailedLoginsPerUser}, {"a:" + addr, MaxFailedLoginsPerAddr}}
}

// ThrottleIPv6PrefixBits is how much of an IPv6 address the login
// throttle counts as one client: an IPv6 client is given a whole /64 (a
// phone, a home), and counted per address it could make every guess from
// a new one, never reach the per-address limits, and lock the owner out
// everywhere at the per-user limit.
const ThrottleIPv6PrefixBits = 64

// throttleAddr is the client a throttle counts an address as: an IPv4
// address (also when written as IPv4-mapped IPv6, in any of its forms)
// as itself, an IPv6 address as its /64.
func throttleAddr(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, err := ip.Prefix(ThrottleIPv6PrefixBits)
	if err != nil {
		return ip.String()
	}
	return p.String()
}

// takeBack uncounts an attempt whose password was never checked.
func (a *passwordAttempt) takeBack() {
	for _, l := range a.limits() {
		a.s.throttle.undo(l.key)
	}
}

// succeeded takes the attempt back: the user's counters start again, the
// address's loses this one.
func (a *passwordAttempt) succeeded() {
	l := a.limits()
	a.s.throttle.reset(l[0].key)
	a.s.throttle.reset(l[1].key)
	a.s.throttle.undo(l[2].key)
}

// PasswordChange changes the caller's own password.
type PasswordChange struct {
	Username        string `json:"username"`
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// PasswordChanged answers a password change or reset.
type PasswordChanged struct {
	Member  string `json:"member"`
	Changed bool   `json:"changed"`
}

// changePassword lets a member change their own password. The current
// password is checked and throttled like a login (a stolen access token
// alone cannot take the account over); the member's other tokens stop
// working (community.SetPassword), the one used for the change does not.
func (s *Server) changePassword(c *gin.Context) {
	var req PasswordChange
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	if err := checkPasswordLen(req.NewPassword); err != nil {
		fail(c, err)
		return
	}
	// One change of a member's password at a time: copies of one change
	// sent at once under one Idempotency-Key wait for the first and get
	// its answer (they were refused as logins in flight), and two changes
	// racing are judged in turn anyway.
	mu := &passwordChanges[stripe(p.Member)]
	mu.Lock()
	defer mu.Unlock()
	// Counted against the login the username names, whoever's it is, as
	// a login is: counting it elsewhere (against the caller) made the
	// answers differ by whether the name was the caller's own — a stolen
	// token could find its member's username (review s24R). Naming
	// someone else's login locks it out from the caller's address no more
	// than the same guesses at /v1/auth/token would; the log names the
	// caller ("by").
	a, allowed := s.tryAttempt(c, "password change", req.Username, p.Member)
	defer a.finish()
	if !allowed && c.GetHeader("Idempotency-Key") == "" {
		fail(c, a.refused)
		return
	}
	// Throttled with an Idempotency-Key, the request still goes to the
	// ledger: a retry of a change that succeeded gets its original answer
	// (bad logins by others must not hide it), anything else the 429.
	// Otherwise the verdict is applied inside the commit: a retry is
	// answered its original result before it (the current password has
	// changed by then), and of two changes racing with the same current
	// password only the first finds the hash it was checked against.
	matched := allowed && a.check(c, req.CurrentPassword, p.Member)
	if a.abandoned {
		a.takeBack()
		return
	}
	var hash []byte
	if matched {
		var err error
		if hash, err = HashPassword(req.NewPassword); err != nil {
			fail(c, err)
			return
		}
	}
	// The member's tokens issued before the change stop working: the
	// cached member must go too.
	succeeded := func() { a.succeeded(); s.members.invalidate() }
	if !allowed {
		succeeded = s.members.invalidate // a replay while throttled clears no throttle
	}
	s.commitThen(c, http.StatusOK, succeeded, func(tx ledger.Tx) (any, error) {
		if !allowed {
			return nil, a.refused
		}
		u, err := community.GetUser(tx, req.Username)
		if !matched || err != nil || u.Member != p.Member {
			a.logFailure()
			return nil, errWrongPassword
		}
		if !bytes.Equal(u.PasswordHash, a.hash) {
			// The right password, changed meanwhile by a request before
			// this one: no guess, so it counts against no throttle.
			a.succeeded()
			return nil, ledger.Errorf(ledger.CodeConflict, "the password was changed meanwhile; log in with the new one")
		}
		if err := community.SetPassword(tx, req.Username, p.Member, hash, p.TokenID); err != nil {
			return nil, err
		}
		return PasswordChanged{Member: p.Member, Changed: true}, nil
	})
}

func (s *Server) tokens(c *gin.Context, m *community.Member, sid string) {
	access, _, err := s.issue(m, sid, audAccess, AccessTTL)
	if err != nil {
		fail(c, err)
		return
	}
	refresh, _, err := s.issue(m, sid, audRefresh, RefreshTTL)
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, TokenResponse{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int(AccessTTL / time.Second)})
}

// RefreshRequest trades a refresh token for a new access token.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (s *Server) refresh(c *gin.Context) {
	var req RefreshRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	claims, err := s.parseToken(req.RefreshToken, audRefresh, true)
	if err != nil {
		fail(c, err)
		return
	}
	var m *community.Member
	if !s.view(c, func(r ledger.Reader) error {
		m, err = community.GetMember(r, claims.Subject)
		if ledger.IsCode(err, ledger.CodeNotFound) {
			// A signed token naming nobody is a bad token, as for access.
			return ledger.Errorf(CodeInvalidToken, "the token is invalid or expired")
		}
		return err
	}) {
		return
	}
	if m.Erased || claims.IssuedAt.UnixMilli() < m.TokensAfter {
		failCode(c, CodeInvalidToken, "the token is invalid or expired")
		return
	}
	access, _, err := s.issue(m, claims.Session, audAccess, AccessTTL)
	if err != nil {
		fail(c, err)
		return
	}
	next, _, err := s.issue(m, claims.Session, audRefresh, RefreshTTL)
	if err != nil {
		fail(c, err)
		return
	}
	// Rotation: a refresh token is good for one refresh. It is spent in
	// the ledger, so of two uses racing (a stolen copy and its owner) one
	// fails, and the failure shows the token was copied: the whole
	// session is then revoked (RFC 9700 §4.14.2), the thief's tokens and
	// the owner's alike, and the owner logs in again.
	spent, exp := claims.ID, claims.ExpiresAt.Time
	sessionExp := s.now().Add(RefreshTTL) // no token of the session outlives this once no more are issued
	// The refresh is the token's member's write: with an Idempotency-Key
	// a retry (a phone that lost the answer) gets the same pair back
	// instead of looking like a stolen copy and ending the session. The
	// pair is then kept in the idempotency record, beside the keys that
	// sign it.
	if k := c.GetHeader("Idempotency-Key"); k != "" && len(k) < MinRefreshKeyLen {
		// Whoever presents the same token and key gets the same pair: a
		// key like "1" would hand a thief the owner's tokens.
		failCode(c, CodeInvalidKey, "a refresh's Idempotency-Key must be random, at least %d characters (a UUID)", MinRefreshKeyLen)
		return
	}
	p := &Principal{Member: m.ID, Community: m.Community, Roles: m.Roles, TokenID: claims.ID, Session: claims.Session,
		Expires: exp, IssuedAt: claims.IssuedAt.UnixMilli(), Refreshing: true}
	c.Request = c.Request.WithContext(WithPrincipal(c.Request.Context(), p))
	res, ok := s.submit(c, func(tx ledger.Tx) (any, error) {
		// Token ids are fixed-length hex (newJTI), so the one key under
		// this prefix, if any, is this token's.
		used := false
		if _, err := tx.Index(revokedPrefix+spent, ledger.Page{Limit: 1}, func(string, []byte) error { used = true; return nil }); err != nil {
			return nil, err
		}
		if used {
			if claims.Session == "" {
				return nil, ledger.Errorf(CodeInvalidToken, "the token is invalid or expired")
			}
			if err := tx.PutIndex(revokedPrefix+claims.Session, []byte(strconv.FormatInt(sessionExp.Unix(), 10))); err != nil {
				return nil, err
			}
			s.revoked.add(claims.Session, sessionExp) // writes after this one see it (authorized)
			tx.Audit("auth.reuse", map[string]any{"member": m.ID, "token_ids": []string{claims.Session}})
			return refreshReused, nil
		}
		if err := tx.PutIndex(revokedPrefix+spent, []byte(strconv.FormatInt(exp.Unix(), 10))); err != nil {
			return nil, err
		}
		tx.Audit("auth.refresh", map[string]any{"member": m.ID, "token_ids": []string{spent}})
		return TokenResponse{AccessToken: access, RefreshToken: next, TokenType: "Bearer", ExpiresIn: int(AccessTTL / time.Second)}, nil
	})
	if !ok {
		return
	}
	if res.Value == refreshReused || (res.Replayed && string(res.JSON) == `"`+refreshReused+`"`) {
		if !res.Replayed {
			s.revoked.add(claims.Session, sessionExp)
			slog.Warn("spent refresh token presented again; session revoked", "log", "security", "member", m.ID, "addr", c.ClientIP())
		}
		failCode(c, CodeInvalidToken, "the token is invalid or expired")
		return
	}
	s.revoked.add(spent, exp)
	noStore(c)
	if res.Replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	if res.JSON != nil {
		c.Data(http.StatusOK, "application/json; charset=utf-8", res.JSON)
		return
	}
	c.JSON(http.StatusOK, res.Value)
}

// LogoutRequest optionally names the refresh token to revoke too.
type LogoutRequest struct {
	RefreshToken string `json:"refresh_token,omitempty"`
}

// LogoutResponse lists the revoked token ids.
type LogoutResponse struct {
	Revoked []string `json:"revoked"`
}

func (s *Server) logout(c *gin.Context) {
	var req LogoutRequest
	if err := bindOptional(c, &req); err != nil {
		fail(c, err)
		return
	}
	p := principal(c)
	ids := map[string]int64{p.TokenID: p.Expires.Unix()}
	if p.Session != "" {
		// Logging out ends the login: the refresh tokens and the other
		// access tokens it was refreshed into, whether named or not.
		ids[p.Session] = s.now().Add(RefreshTTL).Unix()
	}
	if req.RefreshToken != "" {
		// A refresh token that does not parse (expired, forged, not a
		// refresh token) or is someone else's is bad input: refused, with
		// nothing revoked; logging out without it revokes the access token.
		// One spent meanwhile (a refresh racing this logout) is still
		// this login's: its session ends with the rest.
		rc, err := s.parseToken(req.RefreshToken, audRefresh, true)
		if err != nil || rc.Subject != p.Member {
			failCode(c, ledger.CodeInvalidRequest, "refresh_token is not a valid refresh token of yours; log out without it to revoke this access token")
			return
		}
		ids[rc.ID] = rc.ExpiresAt.Unix()
		if rc.Session != "" {
			ids[rc.Session] = s.now().Add(RefreshTTL).Unix()
		}
	}
	// The same key with another access token is another logout, not a
	// retry: it must revoke that token, durably (409 idempotency_conflict).
	c.Set(ctxFingerprintExtra, "token "+p.TokenID)
	res, ok := s.submit(c, func(tx ledger.Tx) (any, error) {
		out := LogoutResponse{}
		for id, exp := range ids {
			if err := tx.PutIndex(revokedPrefix+id, []byte(strconv.FormatInt(exp, 10))); err != nil {
				return nil, err
			}
			out.Revoked = append(out.Revoked, id)
			s.revoked.add(id, time.Unix(exp, 0)) // writes after this one see it (authorized)
		}
		tx.Audit("auth.logout", map[string]any{"member": p.Member, "token_ids": out.Revoked})
		return out, nil
	})
	if !ok {
		return
	}
	for id, exp := range ids {
		s.revoked.add(id, time.Unix(exp, 0))
	}
	if res.Replayed {
		c.Data(http.StatusOK, "application/json; charset=utf-8", res.JSON)
		return
	}
	c.JSON(http.StatusOK, res.Value)
}

const revokedPrefix = "revoked/"

// MinRefreshKeyLen is the shortest Idempotency-Key a refresh takes.
const MinRefreshKeyLen = 16

// refreshReused is the refresh op's result when the token was spent
// already: the session is revoked, and the caller answered 401.
const refreshReused = "reused"

// revocations is the in-memory set of revoked token ids, loaded at start
// from the index and kept until the tokens expire.
type revocations struct {
	mu  sync.RWMutex
	ids map[string]time.Time
	now func() time.Time
	// pruneAt is the size at which add next drops expired ids: twice the
	// size left by the last pruning, so that adds (some made inside the
	// writer, by a logout's op) cost O(1) amortised.
	pruneAt int
}

// minPruneAt is the fewest revoked ids kept before expired ones are
// dropped.
const minPruneAt = 64

func (r *revocations) has(id string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.ids[id]
	return ok
}

func (r *revocations) add(id string, exp time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ids) >= r.pruneAt {
		now := r.now()
		for k, e := range r.ids { // drop what expired: the map stays small
			if e.Add(ClockLeeway).Before(now) {
				delete(r.ids, k)
			}
		}
		r.pruneAt = max(2*len(r.ids), minPruneAt)
	}
	r.ids[id] = exp
}

func (s *Server) loadRevocations(r ledger.Reader) error {
	after := ""
	for {
		next, err := r.Index(revokedPrefix, ledger.Page{After: after, Limit: ledger.MaxPageSize}, func(k string, v []byte) error {
			exp, _ := strconv.ParseInt(string(v), 10, 64)
			if time.Unix(exp, 0).Add(ClockLeeway).After(s.now()) {
				s.revoked.ids[k] = time.Unix(exp, 0)
			}
			return nil
		})
		if err != nil || next == "" {
			return err
		}
		after = next
	}
}

// throttle counts failed logins per key within LoginWindow.
type throttle struct {
	mu    sync.Mutex
	fails map[string]*attempts
	now   func() time.Time
}

type attempts struct {
	n        int // attempts counted: failed, and in flight
	inflight int // of n, those still being checked
	max      int // the limit's
	since    time.Time
}

// limit is a throttle counter and its most attempts within LoginWindow.
type limit struct {
	key string
	max int
}

// begin counts one attempt (in flight) against every key if none is at
// its limit within LoginWindow, and reports whether it did; when it did
// not, busy says that attempts still in flight, not failures alone, make
// the limit.
func (t *throttle) begin(limits ...limit) (ok, busy bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range limits {
		if a := t.current(l.key); a != nil && a.n >= l.max {
			if a.n-a.inflight >= l.max {
				return false, false
			}
			busy = true
		}
	}
	if busy {
		return false, true
	}
	if len(t.fails) >= maxThrottleEntries-len(limits) {
		for k := range t.fails { // what is past its window first
			if t.current(k) == nil {
				delete(t.fails, k)
			}
		}
	}
	if len(t.fails) >= maxThrottleEntries-len(limits) {
		// Then counters short of their limit with nothing in flight: the
		// lockouts stay (reaching one takes MaxFailedLogins checks, and
		// checks are slow), so filling the map cannot lift a lockout.
		for k, a := range t.fails {
			if a.n < a.max && a.inflight == 0 {
				delete(t.fails, k)
			}
		}
		if len(t.fails) >= maxThrottleEntries-len(limits) {
			// Only tens of thousands of checks in flight at once get here
			// (each address may have MaxFailedLoginsPerAddr): bounded
			// memory comes first.
			t.fails = map[string]*attempts{}
		}
	}
	for _, l := range limits {
		k := l.key
		a := t.current(k)
		if a == nil {
			a = &attempts{since: t.now(), max: l.max}
			t.fails[k] = a
		}
		a.n++
		a.inflight++
	}
	return true, false
}

// landed marks one attempt against key as checked.
func (t *throttle) landed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.fails[key]; a != nil && a.inflight > 0 {
		a.inflight--
	}
}

// current is key's attempts within the window, or nil.
func (t *throttle) current(key string) *attempts {
	a := t.fails[key]
	if a == nil || t.now().Sub(a.since) > LoginWindow {
		return nil
	}
	return a
}

// undo takes back one attempt counted against key.
func (t *throttle) undo(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a := t.fails[key]; a != nil && a.n > 0 {
		a.n--
	}
}

func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, key)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
