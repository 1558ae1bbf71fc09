// Package api is Tally's HTTP JSON API: routes, request and response types,
// authentication (JWT, EdDSA) and authorization by role and scope,
// RFC 9457 problems, idempotency, and the OpenAPI document generated from
// the same route table that registers the handlers. It is the only
// importer of gin and jwt.
package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tally/ledger"
	"tally/ledger/community"
)

// Config configures a Server. Zero values take defaults.
type Config struct {
	Issuer string // JWT iss; default "tally"
	Clock  func() time.Time
	// Audit serves the audit endpoints; nil leaves them answering 503.
	Audit AuditLog
	// Backup streams a consistent backup; nil answers 503.
	Backup func(ctx context.Context, w io.Writer) error
	// RotateCheckpointKey is the op that rotates the checkpoint signing
	// key (its value the new verifier key); nil answers 503.
	RotateCheckpointKey ledger.Op
	// CheckpointNow signs a checkpoint of the log as it is (nil: none is
	// signed outside the checkpointer's ticks).
	CheckpointNow func(context.Context) (uint64, error)
	// Ready reports whether the server should take traffic.
	Ready func() error
	// Live reports whether the process can still serve at all: an error
	// (a store failure only a restart mends) fails /healthz, so that a
	// supervisor restarts the server.
	Live func() error
	// Damaged reports what verification found wrong with the stored log
	// (nil while none): then every route that shows ledger figures
	// answers ledger_damaged, and only the audit routes, logins, health
	// and the backup stay open, for the operator and auditors to look.
	Damaged func() error
	// Verifying reports whether the stored log is still being verified
	// after a start: the routes closed on a damaged ledger answer 503
	// unavailable meanwhile, so that figures an edit of the data directory
	// changed are never shown before the verification has compared them
	// with the chain.
	Verifying func() bool
	// Registry receives the metrics; default a new registry.
	Registry *prometheus.Registry
	// DiskFree, if set, reports the bytes free for the ledger's data,
	// exported as tally_disk_free_bytes.
	DiskFree func() (uint64, error)
	// DiskFreeInodes, if set, reports the files the data's filesystem can
	// still create, exported as tally_disk_free_inodes.
	DiskFreeInodes func() (uint64, error)
	// TrustedProxies are the reverse proxies (IPs or CIDRs) whose
	// X-Forwarded-For and X-Real-IP are believed; by default none, and the
	// client address is the connection's.
	TrustedProxies []string
	// ReportWait is how long a report waits for one of the report slots
	// (reportSlot) before it is answered 503; 0 is ReportWait.
	ReportWait time.Duration
}

// ReportWait is how long a report request waits for a slot: reports
// read what their period holds, and at most half the cores compute them
// at once (probe s24h: eight full-range reports a second beside other
// traffic took both cores, and every route's p99 rose to seconds).
const ReportWait = 10 * time.Second

// MaxBackups and MaxExports bound the whole-ledger streams served at
// once: backups (an admin's) and audit exports (an auditor's or an
// admin's), each kind its own slots, so that an auditor's exports never
// hold the slot a backup needs (review s25R). Each reads every record and
// table and takes minutes under load; more of them at once only slow
// every route and each other (probe s24h: four backups and a verify
// beside ~300 requests/s). One past its kind's bound is refused at once,
// 503 with Retry-After StreamRetryAfter.
const (
	MaxBackups = 1
	MaxExports = 2
)

// StreamRetryAfter is the Retry-After of a stream refused by MaxBackups
// or MaxExports: a stream lasts seconds to minutes, so a retry sooner
// would be refused again.
const StreamRetryAfter = 60 * time.Second

// Server is the HTTP API over a ledger.Committer.
type Server struct {
	ledger     ledger.Committer
	cfg        Config
	keys       *keyring
	rotating   sync.Mutex // token key rotations, one at a time: the key in use is the one committed last
	revoked    *revocations
	throttle   *throttle
	logKey     []byte     // keys how the security log names usernames (logName); random per run
	throttled  logLimiter // bounds the security log's lines for throttled attempts
	tokenCache tokenCache
	members    memberCache
	engine     *gin.Engine
	routes     []route
	reports    chan struct{} // one per report being computed (reportSlot)
	backups    chan struct{} // one per backup being sent (streamSlot)
	exports    chan struct{} // one per audit export being sent (streamSlot)
	metrics    *metrics
	prom       http.Handler // the registry's Prometheus exposition
}

// New builds the server: it loads (or on a new ledger creates) the token
// keys and the revoked token ids, and registers every route.
func New(ctx context.Context, l ledger.Committer, cfg Config) (*Server, error) {
	if cfg.Issuer == "" {
		cfg.Issuer = "tally"
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	// The decoy hash is made now, beside the start, so that the first
	// login for an unknown user takes no longer than the others.
	go dummyHash()
	s := &Server{ledger: l, cfg: cfg,
		revoked:    &revocations{ids: map[string]time.Time{}, now: cfg.Clock},
		throttle:   &throttle{fails: map[string]*attempts{}, now: cfg.Clock},
		logKey:     newLogKey(),
		tokenCache: tokenCache{m: map[string]*tokenClaims{}},
		members:    memberCache{m: map[string]cachedMember{}},
		reports:    make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2)),
		backups:    make(chan struct{}, MaxBackups),
		exports:    make(chan struct{}, MaxExports),
		metrics:    newMetrics(cfg.Registry),
		prom:       promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})}
	if cfg.DiskFree != nil {
		cfg.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_disk_free_bytes",
			Help: "Bytes free on the data directory's filesystem; writes are refused below the store's reserve."},
			func() float64 {
				free, err := cfg.DiskFree()
				if err != nil {
					return -1
				}
				return float64(free)
			}))
	}
	if cfg.DiskFreeInodes != nil {
		cfg.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tally_disk_free_inodes",
			Help: "Files (inodes) the data directory's filesystem can still create; writes are refused below the store's reserve. -1 where not counted."},
			func() float64 {
				free, err := cfg.DiskFreeInodes()
				if err != nil || free == math.MaxUint64 {
					return -1
				}
				return float64(free)
			}))
	}
	if err := s.loadKeys(ctx); err != nil {
		return nil, err
	}
	if err := l.View(ctx, s.loadRevocations); err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	// Route on the path as sent: an escaped "/" (%2F) stays inside its
	// segment and reaches the handler as part of an id (then refused as
	// invalid_id) instead of splitting the path into another route.
	e.UseRawPath = true
	// A path that is not a route is a 404 problem, not a redirect to a
	// route that happens to be near it.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.UnescapePathValues = true
	if err := e.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("api: trusted proxies: %w", err)
	}
	e.Use(s.recover, s.observe, framing)
	e.NoRoute(func(c *gin.Context) { failCode(c, ledger.CodeNotFound, "no such route") })
	e.NoMethod(func(c *gin.Context) {
		// gin lists the methods registered; HEAD is answered on every GET
		// route (serveHTTP) without being registered.
		if allow := c.Writer.Header().Get("Allow"); slices.Contains(strings.Split(allow, ", "), http.MethodGet) {
			c.Header("Allow", allow+", "+http.MethodHead)
		}
		failCode(c, CodeMethodNotAllow, "method not allowed on this route")
	})
	s.engine = e
	s.routes = s.allRoutes()
	for _, r := range s.routes {
		handlers := []gin.HandlerFunc{}
		if r.auth != public {
			handlers = append(handlers, s.authenticate, s.gate(r.roles))
		}
		if !openWhenDamaged(r) {
			handlers = append(handlers, s.refuseDamaged)
		}
		if strings.Contains(r.path, "/:id") {
			handlers = append(handlers, checkPathIDs)
		}
		handlers = append(handlers, queryCheck(r))
		if r.method != http.MethodGet {
			handlers = append(handlers, keyCheck)
		}
		if isReport(r) {
			handlers = append(handlers, s.reportSlot)
		}
		if isStream(r) {
			handlers = append(handlers, s.streamSlot)
		}
		if r.req == nil && (r.method == http.MethodPost || r.method == http.MethodPut) {
			handlers = append(handlers, noBody)
		}
		e.Handle(r.method, r.path, append(handlers, r.handle)...)
	}
	return s, nil
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// serveHTTP answers HEAD on every GET route as that GET without its body
// (RFC 9110 §9.3.2), so that monitors probing /healthz with HEAD get its
// status. The router sees a GET; net/http still sees the HEAD it received
// and drops what the handler writes.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxBodyBytes {
		// Refused whatever the route (bind says 413, a missing token
		// 401): the body will not be read, so do not wait for it.
		dropBody(w)
	}
	if r.Method == http.MethodHead {
		r = r.Clone(context.WithValue(r.Context(), headRequest{}, true))
		r.Method = http.MethodGet
	}
	s.engine.ServeHTTP(w, r)
}

// headRequest marks, in a request's context, a HEAD served as its GET.
type headRequest struct{}

func isHead(c *gin.Context) bool { return c.Request.Context().Value(headRequest{}) != nil }

func (s *Server) now() time.Time { return s.cfg.Clock() }

// isReport reports whether r computes a report over a community
// subtree or period (whose cost grows with what it reads).
func isReport(r route) bool {
	return strings.HasPrefix(r.path, "/v1/reports/") || r.path == "/v1/settlements" || r.path == "/v1/signals"
}

// reportSlot runs a report in one of the server's report slots, waiting
// up to ReportWait for one; past it the answer is 503 with Retry-After.
func (s *Server) reportSlot(c *gin.Context) {
	wait := s.cfg.ReportWait
	if wait <= 0 {
		wait = ReportWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case s.reports <- struct{}{}:
	case <-t.C:
		failCode(c, ledger.CodeUnavailable, "the server is computing as many reports as it computes at once; retry shortly")
		return
	case <-c.Request.Context().Done():
		c.Abort() // the caller went away
		return
	}
	defer func() { <-s.reports }()
	c.Next()
}

// backupPath and exportPath stream the whole ledger (MaxBackups,
// MaxExports). A HEAD of one answers the GET's status and headers and
// stops at the stream's first byte (streamWriter).
const (
	backupPath = "/v1/admin/backup"
	exportPath = "/v1/audit/export"
)

func isStream(r route) bool { return r.path == backupPath || r.path == exportPath }

// streamSlot sends a backup or an audit export in one of its kind's
// slots, or answers 503 at once when they are all taken. A backup is
// judged the deployment admin's first: one refused 403 takes no slot.
func (s *Server) streamSlot(c *gin.Context) {
	slots, what := s.exports, "audit exports"
	if c.FullPath() == backupPath {
		if !globalAdmin(c) {
			return
		}
		slots, what = s.backups, "backups"
	}
	select {
	case slots <- struct{}{}:
	default:
		fail(c, &ledger.Error{Code: ledger.CodeUnavailable, RetryAfter: StreamRetryAfter,
			Message: "the server is already sending as many " + what + " as it sends at once; retry in a minute"})
		return
	}
	defer func() { <-slots }()
	c.Next()
}

// framing closes the connection after answering a request whose body a
// proxy in front may have framed otherwise (RFC 9112 §6.1): a chunked
// one (net/http drops a Content-Length sent beside Transfer-Encoding, so
// the two cannot be told apart from a plain chunked body) and an HTTP/1.0
// one (whose Transfer-Encoding net/http ignores, reading no body). Bytes
// the two sides framed differently are then never read as a request of
// their own. The HTTP/2 preface (PRI *), which net/http hands on for a
// handler that speaks HTTP/2, is answered 505 as other versions are.
func framing(c *gin.Context) {
	if closesAfter(c.Request) {
		c.Header("Connection", "close")
	}
	if c.Request.ProtoMajor != 1 {
		failCode(c, CodeHTTPVersion, "this server speaks HTTP/1.1")
		return
	}
	c.Next()
}

// closesAfter reports whether r's connection closes after its answer
// (framing): a chunked request, one of HTTP/1.0, or of another version.
func closesAfter(r *http.Request) bool {
	return len(r.TransferEncoding) > 0 || !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1
}

type access int

const (
	public access = iota
	authenticated
)

// route is one entry of the table that both registers a handler and
// documents it in /openapi.json.
type route struct {
	method, path string // gin path: /v1/accounts/:id
	summary      string
	tag          string
	auth         access
	roles        []community.Role // any of them; empty: any authenticated caller
	query        []string         // documented query parameters: name[:int][!] (! = required)
	statuses     []string         // the values of its status parameter, if it has one
	req, resp    any              // request/response body types for the document
	media        string           // a success body that is not JSON: its media type
	csv          bool             // Accept: text/csv gives the same answer as CSV
	status       int              // success status
	handle       gin.HandlerFunc
}

// gate refuses callers that hold none of the route's roles, and acting on
// behalf of a member (代办) on routes a member could never call: there the
// record would name a resident for a staff action.
func (s *Server) gate(roles []community.Role) gin.HandlerFunc {
	memberRoute := len(roles) == 0 || slices.Contains(roles, community.RoleResident) || slices.Contains(roles, community.RoleVolunteer)
	return func(c *gin.Context) {
		p := principal(c)
		if len(roles) > 0 && !p.holds(roles...) {
			failCode(c, ledger.CodeForbidden, "this needs one of the roles %v", roles)
			return
		}
		if c.Request.Method != http.MethodGet && readOnly(p) && !strings.HasPrefix(c.FullPath(), "/v1/auth/") {
			failCode(c, ledger.CodeForbidden, "an auditor's access is read-only")
			return
		}
		if p.OnBehalf != "" && !memberRoute {
			failCode(c, ledger.CodeForbidden, "acting for a member (%s) gives no staff rights", HeaderOnBehalf)
			return
		}
		if p.OnBehalf != "" && strings.HasPrefix(c.FullPath(), "/v1/auth/") {
			// Sessions and passwords are the caller's own: acting for a
			// member reaches neither theirs nor, under their name, one's own.
			failCode(c, ledger.CodeForbidden, "acting for a member (%s) does not reach sessions or passwords", HeaderOnBehalf)
			return
		}
		c.Next()
	}
}

// readOnly: an auditor who holds no role that acts (SPEC §1: auditors
// are read-only over everything in scope) changes nothing, not even
// through the routes any member may call for their own account.
func readOnly(p *Principal) bool {
	return p.holds(community.RoleAuditor) && !p.holds(community.RoleResident, community.RoleVolunteer,
		community.RoleCoordinator, community.RoleCommittee, community.RoleAdmin)
}

// openWhenDamaged: the routes still served over a ledger whose stored log
// failed verification — health, the document, logins, the audit log and
// its proofs (what an auditor examines), and the backup (a copy of the
// evidence). Balances, histories, documents and reports are not: they
// may show the changed values.
func openWhenDamaged(r route) bool {
	switch r.tag {
	case "system", "auth", "audit", "admin":
		return true
	}
	return r.path == "/v1/public/funds/:id/receipts/:seq"
}

// refuseDamaged answers ledger_damaged once verification has found the
// stored log or state changed (Config.Damaged), and unavailable while
// that verification is still running after a start (Config.Verifying).
func (s *Server) refuseDamaged(c *gin.Context) {
	if s.cfg.Damaged != nil && s.cfg.Damaged() != nil {
		failCode(c, ledger.CodeLedgerDamaged,
			"the ledger found its stored data changed outside it and shows no figures until an operator has checked it (tally verify); the audit log stays readable")
		return
	}
	if s.cfg.Verifying != nil && s.cfg.Verifying() {
		failCode(c, ledger.CodeUnavailable,
			"the ledger is verifying its stored data after a start and shows figures once that is done; retry shortly (the audit log is readable meanwhile)")
		return
	}
	c.Next()
}

// checkPathIDs refuses a path whose :id or :item is not an id (too long,
// outside the URL-safe alphabet) before any lookup, so that no answer
// echoes it.
func checkPathIDs(c *gin.Context) {
	for _, name := range pathIDParams {
		if id, ok := c.Params.Get(name); ok && !ledger.ValidID(id) {
			failCode(c, ledger.CodeInvalidID, "the %s in the path must be 1-%d letters, digits, '-', '_', '.' or ':'", name, ledger.MaxAccountIDLen)
			return
		}
	}
	c.Next()
}

// pathIDParams are the path parameters that hold ids (:seq is a number,
// read by its handler).
var pathIDParams = []string{"id", "item"}

// queryCheck refuses a query naming a parameter twice
// (?to=2026-11-18&to=2026-11-30): which one counts would be a guess, and a
// report over the wrong period looks like a right one. For the same
// reason it refuses a query string that does not parse (a pair with a ';'
// or a bad %-escape, which Go would silently drop: "...&to=2026-03-31;"
// became a report up to today), and, on the routes that need a token, a
// parameter the route does not take (?form=2026-01-01 for from, or from
// and to on the all-time settlement). Public routes ignore parameters
// they do not take, however they are written: shared links gather
// tracking ones (a parameter they take is still refused twice). A write
// without a token (a login, a refresh) is no shared link: strict too.
func queryCheck(r route) gin.HandlerFunc {
	takes := map[string]bool{}
	for _, q := range r.query {
		name, _, _ := strings.Cut(strings.TrimSuffix(q, "!"), ":")
		takes[name] = true
	}
	strict := r.auth != public || (r.method != http.MethodGet && r.method != http.MethodHead)
	return func(c *gin.Context) {
		q, err := url.ParseQuery(c.Request.URL.RawQuery)
		if err != nil && (strict || malformedTaken(c.Request.URL.RawQuery, takes)) {
			failCode(c, ledger.CodeInvalidRequest, "the query string is malformed (separate parameters with '&' and %%-escape reserved characters)")
			return
		}
		// In name order: the same request is told of the same parameter.
		for _, k := range slices.Sorted(maps.Keys(q)) {
			vs := q[k]
			if len(vs) > 1 && (strict || takes[k]) {
				failCode(c, ledger.CodeInvalidRequest, "query parameter %q is given %d times; give it once", truncateStr(k, 64), len(vs))
				return
			}
			if strict && !takes[k] {
				failCode(c, ledger.CodeInvalidRequest, "query parameter %q is not one this route takes (see /openapi.json)", truncateStr(k, 64))
				return
			}
		}
		c.Next()
	}
}

// malformedTaken reports whether a pair of the raw query that does not
// parse (Go drops it) names a parameter the route takes.
func malformedTaken(raw string, takes map[string]bool) bool {
	for _, pair := range strings.Split(raw, "&") {
		if _, err := url.ParseQuery(pair); err == nil {
			continue
		}
		// "utm=a;limit=1" is read by some as two pairs: any name in it.
		for _, part := range strings.Split(pair, ";") {
			key, _, _ := strings.Cut(part, "=")
			name, err := url.QueryUnescape(key)
			if err != nil {
				name = key
			}
			if takes[name] {
				return true
			}
		}
	}
	return false
}

func (s *Server) allRoutes() []route {
	var rs []route
	rs = append(rs, s.systemRoutes()...)
	rs = append(rs, s.authRoutes()...)
	rs = append(rs, s.memberRoutes()...)
	rs = append(rs, s.accountRoutes()...)
	rs = append(rs, s.auditRoutes()...)
	rs = append(rs, s.adminRoutes()...)
	rs = append(rs, s.timebankRoutes()...)
	rs = append(rs, s.fundRoutes()...)
	rs = append(rs, s.postingsRoute())
	return rs
}

// Health is the body of /healthz and /readyz; only /readyz, which reads
// the ledger, reports the audit log's size (liveness touches nothing).
type Health struct {
	Status string `json:"status"`
	Size   uint64 `json:"audit_size,omitempty"`
}

// serveMetrics answers Prometheus scrapes (public, like /healthz: it
// counts requests and commits, it names nobody).
func (s *Server) serveMetrics(c *gin.Context) { s.prom.ServeHTTP(c.Writer, c.Request) }

func (s *Server) systemRoutes() []route {
	return []route{
		{method: "GET", path: "/healthz", summary: "Liveness", tag: "system", resp: Health{}, status: 200, handle: s.healthz},
		{method: "GET", path: "/readyz", summary: "Readiness: the ledger answers reads", tag: "system", resp: Health{}, status: 200, handle: s.readyz},
		{method: "GET", path: "/openapi.json", summary: "This document", tag: "system", media: "application/json", status: 200, handle: s.openapi},
		{method: "GET", path: "/metrics", summary: "Prometheus metrics (text exposition format)", tag: "system", media: "text/plain", status: 200, handle: s.serveMetrics},
	}
}

func (s *Server) authRoutes() []route {
	return []route{
		{method: "POST", path: "/v1/auth/token", summary: "Log in with username and password", tag: "auth", req: TokenRequest{}, resp: TokenResponse{}, status: 200, handle: s.login},
		{method: "POST", path: "/v1/auth/refresh", summary: "Trade a refresh token for a new access token", tag: "auth", req: RefreshRequest{}, resp: TokenResponse{}, status: 200, handle: s.refresh},
		{method: "POST", path: "/v1/auth/logout", summary: "Revoke the access token (and a refresh token)", tag: "auth", auth: authenticated, req: LogoutRequest{}, resp: LogoutResponse{}, status: 200, handle: s.logout},
		{method: "POST", path: "/v1/auth/password", summary: "Change one's own password (the current one is checked, like a login)", tag: "auth", auth: authenticated, req: PasswordChange{}, resp: PasswordChanged{}, status: 200, handle: s.changePassword},
	}
}

func (s *Server) healthz(c *gin.Context) {
	if s.cfg.Live != nil {
		if err := s.cfg.Live(); err != nil {
			fail(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, Health{Status: "ok"})
}

func (s *Server) readyz(c *gin.Context) {
	if s.cfg.Damaged != nil && s.cfg.Damaged() != nil {
		// A monitor tells damage (an operator must look) from a start
		// still verifying (wait).
		failCode(c, ledger.CodeLedgerDamaged, "not ready: the stored data failed verification")
		return
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			failCode(c, ledger.CodeUnavailable, "not ready")
			return
		}
	}
	var size uint64
	if !s.view(c, func(r ledger.Reader) error { size, _ = r.Head(); return nil }) {
		return
	}
	c.JSON(http.StatusOK, Health{Status: "ready", Size: size})
}

// recover turns a panic into a 500 problem without detail.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			slog.Error("panic in a handler", "method", c.Request.Method, "path", c.FullPath(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			fail(c, panicError{v})
		}
	}()
	c.Next()
}

type panicError struct{ v any }

func (p panicError) Error() string { return "api: panic" }

// metrics are the Prometheus series of the API.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tally_http_requests_total",
			Help: "HTTP requests by route and status."}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tally_http_request_seconds",
			Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	if len(c.Errors) > 0 && !c.Writer.Written() && c.Request.Context().Err() == nil {
		// An answer that could not be encoded (gin records the error and
		// has written nothing yet) is a 500, not a 200 with no body.
		fail(c, fmt.Errorf("encode the answer: %w", c.Errors.Last().Err))
	}
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	method := c.Request.Method
	if !knownMethods[method] {
		method = "other" // a client must not mint series by sending made-up methods
	}
	s.metrics.requests.WithLabelValues(method, route, strconv.Itoa(c.Writer.Status())).Inc()
	s.metrics.latency.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
}

// knownMethods are the methods metrics name; the rest count as "other".
var knownMethods = map[string]bool{http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true}
