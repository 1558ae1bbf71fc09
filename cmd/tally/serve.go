package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"tally/api"
	"tally/audit"
	"tally/ledger"
	"tally/ledger/community"
	"tally/ledger/fund"
	"tally/ledger/store"
)

// Server limits.
const (
	// ShutdownTimeout bounds a graceful stop: in-flight requests finish
	// and queued commits are written before the store closes.
	ShutdownTimeout   = 30 * time.Second
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 5 * time.Minute // exports and backups stream
	IdleTimeout       = 2 * time.Minute
	MaxHeaderBytes    = 16 << 10
	// MaxConnections caps the connections served at once; further ones
	// wait in the listen queue. Below it, maxConnections keeps half of
	// the open-file limit, less FileReserve for the store (Badger's tables
	// and logs, key files), from connections: a server whose descriptors
	// ran out could not open a table or a new log and broke its store.
	MaxConnections = 10000
	MinConnections = 16
	FileReserve    = 256
	// FileWatchInterval: how often the open descriptors are compared
	// with the limit (watchOpenFiles).
	FileWatchInterval = time.Minute
	// FileWarnPercent of the open-file limit in use is warned about once
	// (again after it fell below FileRearmPercent).
	FileWarnPercent  = 80
	FileRearmPercent = 70
	// FewConnections: a connection cap below it is warned about at start.
	FewConnections = 64
)

// maxConnections is the cap on connections for an open-file limit
// (0: unknown) when the store already holds held files open: Badger keeps
// every table open, one descriptor per 512 KiB table (about 2 per MB of
// db/), so the reserve is FileReserve plus room for the store to double
// before the next start.
func maxConnections(fileLimit, held uint64) int {
	if fileLimit == 0 {
		return MaxConnections
	}
	reserve := FileReserve + 2*held
	if fileLimit <= reserve+2*MinConnections {
		return MinConnections
	}
	return int(min((fileLimit-reserve)/2, MaxConnections))
}

// Main is the server program, testable end to end: ParseFlags, Run (which
// returns once it listens), Close.
type Main struct {
	Data string
	Addr string
	Demo bool
	// maxConns caps the connections served at once (maxConnections).
	maxConns int
	// TrustedProxies are the reverse proxies (IPs or CIDRs) whose
	// X-Forwarded-For names the client; none by default, so a client
	// cannot pick the address that login throttling and the security log
	// see.
	TrustedProxies string
	Stdout         io.Writer
	Stderr         io.Writer

	store    *store.Store
	api      *api.Server
	http     *http.Server
	listener net.Listener
	serveErr chan error
	starting api.Starting // the listener's handler: "starting" until Run is done, then the API
	closers  []func()
	// adminPassword is the password a new directory's admin was created
	// with, kept only for loading the demo district on that first start.
	adminPassword string
	// shutdownTimeout is ShutdownTimeout (tests shorten it).
	shutdownTimeout time.Duration
	given           map[string]bool // flags given on the command line
}

// NewMain returns a Main writing to stdout and stderr.
func NewMain(stdout, stderr io.Writer) *Main {
	return &Main{Stdout: stdout, Stderr: stderr, shutdownTimeout: ShutdownTimeout}
}

// ParseFlags reads the serve flags, each defaulting to its environment
// variable and then to the embedded default.
func (m *Main) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(m.Stderr, "usage: tally serve [flags]")
		fs.PrintDefaults()
		fmt.Fprint(m.Stderr, `environment, read at the first start on an empty directory only:
  TALLY_ADMIN_PASSWORD  the admin's password (8 to 72 bytes; else one is generated and printed once)
  TALLY_ORIGIN          the log's name in signed checkpoints (default tally.local/<random>)
`)
	}
	fs.StringVar(&m.Data, "data", envOr("TALLY_DATA", "./tally-data"), "data directory (TALLY_DATA)")
	fs.StringVar(&m.Addr, "addr", envOr("TALLY_ADDR", "127.0.0.1:8080"), "listen address (TALLY_ADDR)")
	demo, err := envBool("TALLY_DEMO")
	if err != nil {
		fmt.Fprintf(m.Stderr, "tally serve: %v\n", err)
		return err
	}
	fs.BoolVar(&m.Demo, "demo", demo, "load the demo district on an empty data directory (TALLY_DEMO)")
	fs.StringVar(&m.TrustedProxies, "trusted-proxies", envOr("TALLY_TRUSTED_PROXIES", ""),
		"comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed (TALLY_TRUSTED_PROXIES)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		fmt.Fprintf(m.Stderr, "tally serve: %v\n", err)
		return err
	}
	m.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m.given[f.Name] = true })
	return nil
}

// setting names where a setting's value came from, for an error about
// it: the flag when given on the command line, else its environment
// variable when set there.
func (m *Main) setting(flagName, env string) string {
	if !m.given[flagName] && os.Getenv(env) != "" {
		return env
	}
	return "--" + flagName
}

// SameSignalWindow: a stop signal this soon after the first is taken as
// the same request (sent to the process and to its group), not as the
// second signal that stops at once.
const SameSignalWindow = time.Second

// StartupVerifyWait is how long a start waits for the verification of
// the stored log before serving; a larger log is verified on while reads
// are served, and writes wait for it (503).
const StartupVerifyWait = 3 * time.Second

// verifyAtStart verifies the stored log and state against the chain, as
// tally verify --data does: a data directory edited while the server was
// down (a balance, a history line, a record) must not be served and
// written on as if whole. A failure marks the store damaged — writes
// answer 503 and /readyz is not ready — and is logged with the first bad
// sequence number.
func (m *Main) verifyAtStart() {
	m.store.HoldWrites()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// Stopped before the store closes (closers run in order).
	m.closers = append([]func(){func() { cancel(); <-done }}, m.closers...)
	go func() {
		defer close(done)
		start := time.Now()
		rep, err := m.store.VerifyLog(ctx)
		switch {
		case err == nil:
			slog.Info("stored log verified", "records", rep.Records, "accounts", rep.Accounts, "took", time.Since(start).Round(time.Millisecond).String())
			if rep.Unstated > 0 {
				slog.Warn("history lines state no balance though earlier lines of their accounts do: written by an earlier version run after this one, or their balance was removed (no figure depends on it; tally verify --data notes them)",
					"lines", rep.Unstated, "first_seq", rep.UnstatedFirst)
			}
			// What fell due meanwhile, and the records since the last
			// checkpoint, are settled and signed now.
			m.store.FireTimers(ctx)
			// (On a first start the checkpoint key is made after this, and
			// signs the first checkpoint then.)
			if _, err := m.store.Checkpoint(ctx); err != nil && !errors.Is(err, store.ErrNoCheckpointKey) {
				slog.Error("checkpoint", "err", err)
			}
		case ctx.Err() != nil:
		default:
			args := []any{"err", err}
			if ve, ok := audit.IsVerifyError(err); ok {
				args = append([]any{"first_bad_seq", ve.Seq}, args...)
			}
			if store.OlderFormatHintApplies(m.Data) {
				args = append(args, "hint", store.OlderFormatHint)
			}
			slog.Error("the stored log does not verify: writes are refused until an operator checks the data directory (tally verify --data)", args...)
		}
	}()
	select {
	case <-done:
	case <-time.After(StartupVerifyWait):
		slog.Info("verifying the stored log: logins and the audit log are served; ledger figures and writes answer 503 until it is done")
	}
}

// MaxStartupTimerRounds bounds the rounds of overdue timers fired before
// serving (each round fires up to the store's per-tick bound); what is
// left is fired by the running timer loop.
const MaxStartupTimerRounds = 100

// Run opens the store, initialises a new data directory, builds the API
// and starts listening. It returns once the listener is bound.
func (m *Main) Run(ctx context.Context) error {
	// Settings are checked and the port bound before the directory is
	// opened: a bad setting or a busy port must fail before a new
	// directory is created and initialised, or the next start would find
	// an admin (whose password was printed once) and no demo.
	if err := m.validate(); err != nil {
		return &usageError{err}
	}
	ln, err := net.Listen("tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.listener = ln
	m.closers = append(m.closers, func() { ln.Close() })
	limit, held := openFileLimit(), storeFiles(m.Data)
	m.maxConns = maxConnections(limit, held)
	if limit != 0 && m.maxConns < FewConnections {
		slog.Warn("the open-file limit leaves few connections: the store keeps each of its files in db/ open and takes more as the ledger grows (about 2 per MB); raise the limit (ulimit -n, LimitNOFILE=, docker run --ulimit nofile=…)",
			"max_connections", m.maxConns, "limit", limit, "store_files", held)
	}
	// Served at once: while the directory opens (seconds for a large
	// one), /healthz says starting and every other request 503 with
	// Retry-After, instead of connections hanging in the listen queue.
	m.http = &http.Server{Handler: &m.starting, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes}
	// Trusted proxies speak for many clients: not limited per client.
	proxies, err := api.ParsePrefixes(splitList(m.TrustedProxies))
	if err != nil {
		return &usageError{err} // validate checked them
	}
	m.serveErr = make(chan error, 1)
	go func() {
		m.serveErr <- m.http.Serve(api.ProblemListener(api.ConnLimitListener(
			ln, m.maxConns, api.ConnectionsPerClient(m.maxConns), proxies)))
	}()
	// Held from the open (before the timer loop's first tick) until the
	// stored log is verified: nothing is fired, signed or written over it.
	st, err := store.Open(m.Data, store.Options{HoldUntilVerified: true})
	if err != nil {
		return err
	}
	m.store = st
	m.closers = append([]func(){func() {
		if err := st.Close(); err != nil {
			slog.Error("close the store", "err", err)
		}
	}}, m.closers...)
	registerTimers(st)
	fresh, err := m.initialise(ctx)
	if err != nil {
		return err
	}
	if m.Demo && !fresh {
		if err := m.checkDemo(ctx); err != nil {
			return err
		}
	}
	// The stored log is verified before anything is fired, signed or
	// written (the records since the last checkpoint included: a forged
	// one must not be signed at start); on a large log writes wait for it
	// while reads are served.
	m.verifyAtStart()
	audit, err := startAudit(ctx, st)
	if err != nil {
		return err
	}
	if audit.stop != nil {
		m.closers = append([]func(){audit.stop}, m.closers...)
	}
	m.api, err = api.New(ctx, st, api.Config{Audit: audit.log, Backup: st.Backup, RotateCheckpointKey: store.RotateCheckpointKeyOp, CheckpointNow: st.Checkpoint,
		DiskFree: st.FreeSpace, DiskFreeInodes: st.FreeInodes, TrustedProxies: splitList(m.TrustedProxies), Ready: st.Ready, Damaged: st.Damaged, Verifying: st.Verifying, Live: st.Broken,
		Registry: serverMetrics(st)})
	if err != nil {
		return err
	}
	if m.Demo && fresh {
		// Before serving: requests answer 503 (starting) until the
		// district is whole.
		if err := loadDemo(ctx, m.api.Handler(), m.adminPassword); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("stopped while loading the demo district: remove %s and start again", m.Data)
			}
			return err
		}
		fmt.Fprintf(m.Stdout, "Loaded the demo district (logins in README.md)\n")
	}
	// Holds, settlements and deadlines that fell due while the server was
	// down are settled before the first request, so no client reads a
	// hold as pending that the ledger is about to expire.
	for range MaxStartupTimerRounds {
		if st.FireTimers(ctx) == 0 {
			break
		}
	}
	m.starting.Set(m.api.Handler())
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() { defer close(watched); watchOpenFiles(watchCtx, openFileLimit(), FileWatchInterval) }()
	m.closers = append([]func(){func() { stopWatch(); <-watched }}, m.closers...)
	// The build is named, so an operator rolling back (OPERATIONS.md) can
	// tell from the log which one served (probe s27f).
	slog.Info("tally serving", "addr", ln.Addr().String(), "data", m.Data, "max_connections", m.maxConns,
		"max_connections_per_client", api.ConnectionsPerClient(m.maxConns), "version", version())
	return nil
}

// usageError is a setting found wrong at start: `tally serve` exits 2
// for it, as for a bad flag, and 1 when the server could not start.
type usageError struct{ error }

func (e *usageError) Unwrap() error { return e.error }

// validate checks the settings read only later in Run: the trusted
// proxies, the checkpoint origin (TALLY_ORIGIN) and the admin password.
func (m *Main) validate() error {
	if strings.TrimSpace(m.Data) == "" {
		return fmt.Errorf("%s: give a data directory (default ./tally-data)", m.setting("data", "TALLY_DATA"))
	}
	if _, port, err := net.SplitHostPort(m.Addr); err != nil {
		return fmt.Errorf("%s %q: give HOST:PORT, e.g. 127.0.0.1:8080 (%v)", m.setting("addr", "TALLY_ADDR"), m.Addr, err)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%s %q: %v", m.setting("addr", "TALLY_ADDR"), m.Addr, err)
	}
	for _, p := range splitList(m.TrustedProxies) {
		// Read as gin reads them (net) and as the connection limiter
		// reads them (api.ParsePrefixes, netip: no "/08"): both must take it.
		_, perr := api.ParsePrefixes([]string{p})
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				perr = err
			}
		}
		if perr != nil {
			return fmt.Errorf("%s: %q is neither an IP address nor a CIDR", m.setting("trusted-proxies", "TALLY_TRUSTED_PROXIES"), p)
		}
	}
	if err := store.CheckOrigin(envOr("TALLY_ORIGIN", "")); err != nil {
		return fmt.Errorf("TALLY_ORIGIN: %w", err)
	}
	// The admin password is read only when a directory is first
	// initialised: on one that has its keys already it is ignored (a
	// warning says so), so a left-over one does not stop a restart.
	_, statErr := os.Stat(filepath.Join(m.Data, "master.key"))
	if pw := envOr("TALLY_ADMIN_PASSWORD", ""); pw != "" && errors.Is(statErr, fs.ErrNotExist) {
		if _, err := api.HashPassword(pw); err != nil {
			return fmt.Errorf("TALLY_ADMIN_PASSWORD: %w", err)
		}
	}
	return nil
}

// checkDemo, on a --demo start of a directory that is not new, refuses a
// demo district whose loading was interrupted (its last step, the open
// proposal, is missing), and says so when the directory holds no demo.
func (m *Main) checkDemo(ctx context.Context) error {
	var started, done bool
	err := m.store.View(ctx, func(r ledger.Reader) error {
		if _, err := community.Get(r, "hongxing"); err == nil {
			started = true
			props, _, err := fund.Proposals(r, "hongxing-fund", ledger.Page{Limit: 1})
			done = err == nil && len(props) > 0
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case started && !done:
		return fmt.Errorf("the demo district in %s was only partly loaded (its first start was interrupted); remove the directory and start again", m.Data)
	case !started:
		slog.Warn("--demo: the data directory already holds a ledger without the demo district; the demo is loaded only into a new directory", "data", m.Data)
	}
	return nil
}

// URL is the base URL the server listens on.
func (m *Main) URL() string { return "http://" + m.listener.Addr().String() }

// Close stops taking connections, lets in-flight requests finish, then
// commits what is queued and closes the store. Requests still running
// after ShutdownTimeout — a download read slowly, a backup or an export —
// have their connections closed: the stop is still clean (the writes they
// could hold are answered from the queue or never acknowledged), said in
// a warning.
func (m *Main) Close() error {
	var err error
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.shutdownTimeout)
		defer cancel()
		err = m.http.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			slog.Warn("tally stopping: requests still running after the shutdown timeout were cut off (slow downloads of a backup, an export or a report); acknowledged writes are on disk", "timeout", m.shutdownTimeout.String())
			err = m.http.Close()
		}
	}
	for _, c := range m.closers {
		c()
	}
	return err
}

// initialise creates the admin on a new data directory (and the demo
// district with --demo). The admin's password is TALLY_ADMIN_PASSWORD, or
// generated and printed once.
func (m *Main) initialise(ctx context.Context) (bool, error) {
	exists := false
	if err := m.store.View(ctx, func(r ledger.Reader) error {
		_, err := community.GetMember(r, "admin")
		exists = err == nil
		return nil
	}); err != nil || exists {
		if err == nil && envOr("TALLY_ADMIN_PASSWORD", "") != "" {
			slog.Warn("TALLY_ADMIN_PASSWORD is used only when a data directory is first initialised; this one has its admin already (change a password with POST /v1/auth/password)", "data", m.Data)
		}
		return false, err
	}
	pw := envOr("TALLY_ADMIN_PASSWORD", "")
	if pw == "" && m.Demo {
		pw = demoAdminPassword
	}
	printed := false
	if pw == "" {
		pw, printed = newPassword(), true
	}
	hash, err := api.HashPassword(pw)
	if err != nil {
		return false, fmt.Errorf("TALLY_ADMIN_PASSWORD: %w", err)
	}
	// Shown before it is stored: an admin whose password nobody saw
	// (stdout closed or full) would lock the operator out. A start that
	// fails after this line prints a new one next time.
	if printed {
		if err := printPassword(m.Stdout, "Initialising %s. Admin login: username admin, password %s (shown once; set TALLY_ADMIN_PASSWORD to choose it; a lost one is reset with tally reset-admin)\n", m.Data, pw); err != nil {
			return false, err
		}
	}
	_, err = m.store.Submit(ctx, ledger.Request{Actor: ledger.SystemActor, Op: func(tx ledger.Tx) (any, error) {
		return community.CreateMember(tx, community.NewMember{ID: "admin", Global: true,
			Roles: []community.Role{community.RoleAdmin}, Username: "admin", PasswordHash: hash,
			Personal: map[string]string{"display_name": "Administrator"}})
	}})
	if err != nil {
		return false, fmt.Errorf("create admin: %w", err)
	}
	if m.Demo {
		m.adminPassword = pw
	}
	return true, nil
}

// DefaultMemoryLimit is the Go runtime's soft memory limit when GOMEMLIMIT
// is not set: the garbage collector works harder near it instead of letting
// the heap double, which keeps a district's server small (docs/BENCHMARKS.md).
const DefaultMemoryLimit = 256 << 20

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	slog.SetDefault(slog.New(slog.NewJSONHandler(stderr, nil)))
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
	m := NewMain(stdout, stderr)
	if err := m.ParseFlags(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := m.Run(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Stopped while starting, as asked: not a failed start.
			m.Close()
			slog.Info("tally stopped before serving")
			return 0
		}
		args := []any{"error", err.Error()}
		if errors.Is(err, syscall.EMFILE) || strings.Contains(err.Error(), syscall.EMFILE.Error()) { // Badger does not wrap it
			args = append(args, "hint", fmt.Sprintf("the open-file limit (%d) is too low for this store, which keeps each of its %d files in db/ open (about 2 per MB): raise it (ulimit -n, LimitNOFILE= in a systemd unit, docker run --ulimit nofile=…)", openFileLimit(), storeFiles(m.Data)))
		}
		slog.Error("tally could not start", args...)
		m.Close()
		var usage *usageError
		if errors.As(err, &usage) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stdout, "Tally is serving on %s (data %s)\n", m.URL(), m.Data)
	select {
	case <-ctx.Done():
		slog.Info("tally stopping: in-flight requests finish, queued commits are written (a second signal stops at once)", "timeout", m.shutdownTimeout.String())
		// A second signal does not wait for slow clients: every
		// acknowledged write is already on disk. One that comes with the
		// first (timeout(1) and others signal the process and its group)
		// is the same request, not a second one.
		first := time.Now()
		again := make(chan os.Signal, 4)
		signal.Notify(again, stopSignals...)
		go func() {
			for range again {
				if time.Since(first) < SameSignalWindow {
					continue
				}
				slog.Warn("tally stopping at once (second signal); acknowledged writes are on disk")
				os.Exit(1)
			}
		}()
	case err := <-m.serveErr:
		slog.Error("tally stopped serving", "error", err.Error())
	}
	if err := m.Close(); err != nil {
		slog.Error("tally shutdown", "error", err.Error())
		return 1
	}
	slog.Info("tally stopped")
	return 0
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
