package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tally/ledger"
	"tally/ledger/store"
)

// TestEnvironmentDefaults: an empty variable means its default (an empty
// TALLY_ADDR once listened on every interface); yes/no variables take the
// usual spellings and refuse others rather than read them as no.
func TestEnvironmentDefaults(t *testing.T) {
	t.Setenv("TALLY_ADDR", "")
	if got := envOr("TALLY_ADDR", "127.0.0.1:8080"); got != "127.0.0.1:8080" {
		t.Fatalf("empty TALLY_ADDR: %q", got)
	}
	for v, want := range map[string]bool{"": false, "1": true, "TRUE": true, "on": true, "Yes": true, "0": false, "off": false, "No": false} {
		t.Setenv("TALLY_DEMO", v)
		if got, err := envBool("TALLY_DEMO"); err != nil || got != want {
			t.Errorf("TALLY_DEMO=%q: %v, %v; want %v", v, got, err, want)
		}
	}
	t.Setenv("TALLY_DEMO", "maybe")
	if _, err := envBool("TALLY_DEMO"); err == nil {
		t.Error("TALLY_DEMO=maybe was read as a yes or a no")
	}
}

// TestServeRefusesBeforeCreating: a stray argument (which stopped the flag
// parser and dropped every flag after it) and a bad setting are refused
// before the data directory is created, so nothing is initialised and no
// admin password is printed.
func TestServeRefusesBeforeCreating(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	var out bytes.Buffer
	if code := run([]string{"serve", "start", "--data", dir, "--addr", "127.0.0.1:0"}, &out, &out); code != 2 {
		t.Fatalf("a stray argument: exit %d, want 2: %s", code, out.String())
	}
	out.Reset()
	// Settings found wrong at start are usage errors too: exit 2.
	if code := run([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0", "--trusted-proxies", "10.0.0.0/33"}, &out, &out); code != 2 {
		t.Fatalf("a bad proxy list: exit %d, want 2: %s", code, out.String())
	}
	for _, addr := range []string{"8080", "127.0.0.1:99999", "[::1"} {
		if code := run([]string{"serve", "--data", dir, "--addr", addr}, &out, &out); code != 2 {
			t.Fatalf("--addr %s: exit %d, want 2: %s", addr, code, out.String())
		}
	}
	// A bad value from the environment is named by its variable, one
	// from the command line by its flag.
	t.Setenv("TALLY_TRUSTED_PROXIES", "10.0.0.300")
	for _, c := range []struct{ args, want string }{
		{"", "TALLY_TRUSTED_PROXIES: "},
		{"--trusted-proxies 10.0.0.301", "--trusted-proxies: "},
	} {
		out.Reset()
		args := append([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, strings.Fields(c.args)...)
		if code := run(args, &out, &out); code != 2 || !strings.Contains(out.String(), c.want) {
			t.Fatalf("a bad proxy list %q: exit %d, want 2 naming %s: %s", c.args, code, c.want, out.String())
		}
	}
	t.Setenv("TALLY_TRUSTED_PROXIES", "")
	t.Setenv("TALLY_ORIGIN", "bad origin with spaces")
	if code := run([]string{"serve", "--data", dir, "--addr", "127.0.0.1:0"}, &out, &out); code != 2 {
		t.Fatalf("a bad TALLY_ORIGIN: exit %d, want 2: %s", code, out.String())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the data directory was created: %v (%s)", err, out.String())
	}
	if strings.Contains(out.String(), "Admin login") {
		t.Fatalf("an admin password was printed: %s", out.String())
	}
	for _, cmd := range []string{"backup", "restore"} {
		if code := run([]string{cmd, "extra", "--data", dir}, io.Discard, io.Discard); code != 2 {
			t.Errorf("%s with a stray argument: exit %d, want 2", cmd, code)
		}
	}
}

// TestBackupURLFlagWinsOverEnvironment: --url works while TALLY_DATA is set
// (the container image sets it), and a base URL may end in a slash.
func TestBackupURLFlagWinsOverEnvironment(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer srv.Close()
	t.Setenv("TALLY_DATA", t.TempDir())
	var errOut bytes.Buffer
	code := runBackup(context.Background(), []string{"--url", srv.URL + "/", "--token", "x", "--out", filepath.Join(t.TempDir(), "b")}, io.Discard, &errOut)
	if code != 1 || len(paths) != 1 || paths[0] != "/v1/admin/backup" {
		t.Fatalf("backup --url with TALLY_DATA set: exit %d, requests %v: %s", code, paths, errOut.String())
	}
}

// TestVerifyURLDroppedConnection: a connection cut in the middle of the
// export is an error reading the source (exit 2), not a failed
// verification (exit 1) that an auditor would take for tampering.
func TestVerifyURLDroppedConnection(t *testing.T) {
	_, _, export := verifyFixture(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(export[:len(export)/2])
	}))
	defer srv.Close()
	var errOut bytes.Buffer
	if code := runVerify(context.Background(), []string{"--url", srv.URL, "--token", "x"}, io.Discard, &errOut); code != exitUsage {
		t.Fatalf("a dropped connection: exit %d, want %d: %s", code, exitUsage, errOut.String())
	}
	if !strings.Contains(errOut.String(), "connection") {
		t.Fatalf("the message does not name the connection: %s", errOut.String())
	}
}

// TestStreamStall: a server that stops sending in the middle of an answer
// (without closing) fails the read once the stall bound passes, naming
// it, instead of hanging verify --url or backup --url for ever.
func TestStreamStall(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("first bytes"))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	resp, done, err := getStream(context.Background(), srv.URL, "/x", "t", 200*time.Millisecond, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	b, err := io.ReadAll(resp.Body)
	if string(b) != "first bytes" || err == nil || !strings.Contains(err.Error(), "no data from the server") {
		t.Fatalf("read %q, %v; want the first bytes, then a stall error", b, err)
	}
}

// TestStartOnAFullDiskAfterACrash: records a crash left without a
// checkpoint cannot be checkpointed at start on a nearly full disk; the
// server still starts (the checkpointer signs once there is room) instead
// of refusing with storage_full.
func TestStartOnAFullDiskAfterACrash(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureCheckpointKey(ctx, "tally.test/full"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Submit(ctx, ledger.Request{Actor: ledger.SystemActor, Op: func(tx ledger.Tx) (any, error) {
		tx.Audit("test.record", map[string]any{})
		return nil, nil
	}}); err != nil {
		t.Fatal(err)
	}
	st.Close() // no checkpoint covers the record
	full := func() (uint64, error) { return 0, nil }
	st, err = store.Open(dir, store.Options{FreeSpace: full})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Checkpoint(ctx); !ledger.IsCode(err, ledger.CodeStorageFull) {
		t.Fatalf("checkpoint on a full disk: %v, want storage_full (else the test shows nothing)", err)
	}
	w, err := startAudit(ctx, st)
	if err != nil {
		t.Fatalf("start on a full disk: %v", err)
	}
	w.stop()
}

// TestVerifyDamagedAtOpenFails: damage found opening a data directory (an
// unfinished restore here) is a failed verification, exit 1, not "cannot
// read" (exit 2) with a hint that the server may be running.
func TestVerifyDamagedAtOpenFails(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.WriteFile(filepath.Join(dir, "RESTORING"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A restore killed early has not written the format mark yet: the
	// hint about older builds' formats is no cause of that (probe s24b).
	if err := os.Remove(filepath.Join(dir, "format")); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	if code := runVerify(context.Background(), []string{"--data", dir}, io.Discard, &errOut); code != exitBad || !strings.Contains(errOut.String(), "FAILED") ||
		strings.Contains(errOut.String(), "still running") || strings.Contains(errOut.String(), "format mark") {
		t.Fatalf("verify of a damaged directory: exit %d: %s", code, errOut.String())
	}
}

// TestHangupStopsGracefully: SIGHUP (a closing terminal) stops the server
// as SIGTERM does, and a signal sent with the first (to the process and
// its group) is not taken for a second one that stops at once.
func TestHangupStopsGracefully(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "data"))
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.cmd.Process.Signal(syscall.SIGHUP)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGHUP: %v\n%s", err, p.out)
	}
	if !strings.Contains(p.out.String(), "tally stopped") {
		t.Fatalf("no clean stop logged:\n%s", p.out)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--version"}, &out, &out); code != 0 || !strings.HasPrefix(out.String(), "tally ") || !strings.Contains(out.String(), "go1") {
		t.Fatalf("--version: %d %q", code, out.String())
	}
}

// TestHealthCommand: `tally health` (the image's HEALTHCHECK) exits 0
// against a serving server and 1 when nothing answers.
func TestHealthCommand(t *testing.T) {
	p := startServer(t, filepath.Join(t.TempDir(), "data"))
	if code, out := runTally(t, "health", "--url", p.url); code != 0 || !strings.HasPrefix(out, "ok") {
		t.Fatalf("health of a serving server: %d %s", code, out)
	}
	p.stop()
	if code, out := runTally(t, "health", "--url", p.url); code != 1 {
		t.Fatalf("health of a stopped server: %d %s", code, out)
	}
	if got := localURL("0.0.0.0:8080"); got != "http://127.0.0.1:8080" {
		t.Fatalf("localURL: %s", got)
	}
}

// TestAdminPasswordCheckedOnlyWhenUsed: TALLY_ADMIN_PASSWORD is read only
// when a directory is first initialised; a short one left in the
// environment refuses a new directory, not the restart of one that has
// its keys (the server warns that it is ignored there).
func TestAdminPasswordCheckedOnlyWhenUsed(t *testing.T) {
	t.Setenv("TALLY_ADMIN_PASSWORD", "short")
	dir := t.TempDir()
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--data", dir, "--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.validate(); err == nil || !strings.Contains(err.Error(), "TALLY_ADMIN_PASSWORD") {
		t.Fatalf("a short admin password for a new directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "master.key"), make([]byte, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.validate(); err != nil {
		t.Fatalf("a short admin password beside an initialised directory: %v", err)
	}
}

// TestStopDuringStartIsNoFailure: a stop asked for while the server is
// still starting ends it with exit 0, not a logged failed start (a
// supervisor would count a deliberate stop as a crash).
func TestStopDuringStartIsNoFailure(t *testing.T) {
	t.Setenv("TALLY_ADMIN_PASSWORD", "start-stop-password")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, when := range []string{"a new directory", "an initialised one"} {
		var errOut bytes.Buffer
		if code := runServe(ctx, []string{"--data", dir, "--addr", "127.0.0.1:0"}, io.Discard, &errOut); code != 0 || strings.Contains(errOut.String(), "could not start") {
			t.Fatalf("stopped while starting %s: exit %d: %s", when, code, errOut.String())
		}
	}
}

// TestSlowClientDoesNotFailStop: a request still running when the
// shutdown timeout ends (a client reading a download slowly, here one
// that never finishes its request) has its connection closed, and the
// stop is still clean: Close reports no error (runServe exits 0) and the
// store is closed.
func TestSlowClientDoesNotFailStop(t *testing.T) {
	t.Setenv("TALLY_ADMIN_PASSWORD", "slow-client-password")
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--data", t.TempDir(), "--addr", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.shutdownTimeout = 100 * time.Millisecond
	conn, err := net.Dial("tcp", m.listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Half a request: the connection is active until the header timeout.
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: tally\r\n")); err != nil {
		t.Fatal(err)
	}
	if r, err := http.Get(m.URL() + "/healthz"); err != nil {
		t.Fatal(err)
	} else {
		r.Body.Close()
	}
	if err := m.Close(); err != nil {
		t.Fatalf("stop with a slow client: %v", err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the slow client's connection is still open (%d bytes)", n)
	}
	if _, err := m.store.Submit(context.Background(), ledger.Request{Actor: ledger.SystemActor,
		Op: func(tx ledger.Tx) (any, error) { return nil, nil }}); err == nil {
		t.Fatal("the store still takes writes after the stop")
	}
}

// TestVersionCommand: version prints one line naming the build and the
// revision given at link time when the build has no git information (the
// Docker image's); a stray argument is a usage error, as for every
// subcommand.
func TestVersionCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "tally ") {
		t.Fatalf("version: %d %q %q", code, out.String(), errOut.String())
	}
	defer func(r string) { revision = r }(revision)
	revision = "0123abcd"
	// A test binary carries no git information (go test does not stamp it).
	if v := version(); !strings.Contains(v, " 0123abcd ") {
		t.Fatalf("version without git information ignores the link-time revision: %q", v)
	}
	out.Reset()
	if code := run([]string{"version", "extra"}, &out, &errOut); code != 2 || out.Len() != 0 {
		t.Fatalf("version with a stray argument: exit %d, %q", code, out.String())
	}
	if code := run([]string{"version", "--help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "usage: tally version") {
		t.Fatalf("version --help: exit %d, %q", code, out.String())
	}
}

// TestCommandWarningsInCommandStyle: a warning of the store a command
// other than serve opens is written as the command's other messages are
// ("tally backup: warning: …"), to the command's stderr, not in the Go
// log package's format to the process's.
func TestCommandWarningsInCommandStyle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureCheckpointKey(context.Background(), "tally.test/cli"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer func(l *slog.Logger) { slog.SetDefault(l) }(slog.Default())
	var out, errOut bytes.Buffer
	if code := run([]string{"backup", "--data", dir, "--out", filepath.Join(t.TempDir(), "b.tally")}, &out, &errOut); code != 0 {
		t.Fatalf("backup: %d %s", code, errOut.String())
	}
	if got := errOut.String(); !strings.HasPrefix(got, "tally backup: warning: the data directory can be entered by other users") || !strings.Contains(got, "mode=-rwxr-xr-x") {
		t.Fatalf("backup's warning: %q", got)
	}
}

// TestHelpShowsNoToken: a token given in TALLY_TOKEN is not a flag's
// default, which -help prints (review s24R); it is still used.
func TestHelpShowsNoToken(t *testing.T) {
	t.Setenv("TALLY_TOKEN", "a-secret-token-value")
	for name, run := range map[string]func(context.Context, []string, io.Writer, io.Writer) int{"verify": runVerify, "backup": runBackup} {
		var out bytes.Buffer
		if code := run(context.Background(), []string{"-h"}, &out, &out); code != 0 || !strings.Contains(out.String(), "usage: tally "+name) ||
			strings.Contains(out.String(), "a-secret-token-value") {
			t.Fatalf("%s -h: exit %d: %s", name, code, out.String())
		}
	}
	f, err := parseVerifyFlags([]string{"--url", "http://127.0.0.1:1"}, io.Discard)
	if err != nil || f.token != "a-secret-token-value" {
		t.Fatalf("TALLY_TOKEN not used: %q %v", f.token, err)
	}
}

// TestStreamAsksAgainWhileBusy: verify --url and backup --url ask again
// when the server answers 503 with a Retry-After (busy sending as many
// streams as it sends at once), noting each wait, up to
// StreamBusyRetries; a 503 without Retry-After (a damaged ledger) is
// final at once (probe s25a: a cron backup failed on the first 503).
func TestStreamAsksAgainWhileBusy(t *testing.T) {
	var waits []time.Duration
	orig := busyWait
	busyWait = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	t.Cleanup(func() { busyWait = orig })
	for _, tc := range []struct {
		name       string
		busy       int    // 503s before the 200
		retryAfter string // of each 503
		wantStatus int
		wantCalls  int
		wantWaited time.Duration
	}{
		{"busy twice", 2, "60", 200, 3, 2 * time.Minute},
		{"busy past the count", StreamBusyRetries + 3, "0", 503, StreamBusyRetries + 1, StreamBusyRetries * StreamBusyMinWait},
		{"busy past the time budget", 20, "120", 503, 3, 2 * StreamBusyMaxWait},
		{"damaged: no Retry-After", 3, "", 503, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			waits = nil
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if int(calls.Add(1)) <= tc.busy {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					http.Error(w, `{"code":"unavailable"}`, http.StatusServiceUnavailable)
					return
				}
				io.WriteString(w, "the stream")
			}))
			defer srv.Close()
			var notes strings.Builder
			resp, done, err := getStream(context.Background(), srv.URL, "/x", "t", time.Minute, &notes)
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			if resp.StatusCode != tc.wantStatus || int(calls.Load()) != tc.wantCalls {
				t.Fatalf("status %d after %d requests, want %d after %d", resp.StatusCode, calls.Load(), tc.wantStatus, tc.wantCalls)
			}
			var waited time.Duration
			for _, w := range waits {
				waited += w
			}
			if waited != tc.wantWaited || waited > StreamBusyBudget {
				t.Fatalf("waited %v (%v), want %v within the budget %v", waited, waits, tc.wantWaited, StreamBusyBudget)
			}
			if got := strings.Count(notes.String(), "the server is busy"); got != tc.wantCalls-1 {
				t.Fatalf("%d notes of a wait for %d retries: %q", got, tc.wantCalls-1, notes.String())
			}
			if tc.wantStatus != 200 {
				if err := statusError("/x", resp); !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "unavailable") {
					t.Fatalf("the final refusal reads %q, want its status and problem", err)
				}
			}
		})
	}
}

// TestBusyRetryAfter: the wait a 503's Retry-After asks is clamped to
// StreamBusyMinWait..StreamBusyMaxWait before it becomes a duration (a
// huge one wrapped to a negative wait: review s25R); no Retry-After, or
// one that is no count of seconds, is no invitation to ask again.
func TestBusyRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		wait       time.Duration
		busy       bool
	}{
		{503, "60", time.Minute, true},
		{503, "0", StreamBusyMinWait, true},
		{503, "9999999999", StreamBusyMaxWait, true},
		{503, "18446744073709551615", StreamBusyMaxWait, true},
		{503, "99999999999999999999999", 0, false},
		{503, "-1", 0, false},
		{503, "", 0, false},
		{503, "Wed, 21 Oct 2015 07:28:00 GMT", 0, false},
		{500, "5", 0, false},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
		if tc.retryAfter != "" {
			resp.Header.Set("Retry-After", tc.retryAfter)
		}
		if wait, busy := busyRetryAfter(resp); wait != tc.wait || busy != tc.busy {
			t.Errorf("%d Retry-After %q: wait %v busy %v, want %v %v", tc.status, tc.retryAfter, wait, busy, tc.wait, tc.busy)
		}
	}
}
