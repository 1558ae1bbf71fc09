package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/store"
)

// Exit codes of tally verify.
const (
	exitVerified = 0
	exitBad      = 1 // the log or the balances failed verification
	exitUsage    = 2 // bad flags, unreadable source, server error
)

// exportPath is the server's export endpoint (shared/SPEC.md §7a).
const exportPath = "/v1/audit/export"

// checkpointFiles collects repeated --checkpoint flags.
type checkpointFiles []string

func (c *checkpointFiles) String() string     { return strings.Join(*c, ",") }
func (c *checkpointFiles) Set(v string) error { *c = append(*c, v); return nil }

// keyList is --key: repeatable, and like TALLY_KEY one value may hold
// several keys separated by spaces (a verifier key has none) — unless it
// names a file, whose path may hold a space.
type keyList []string

func (k *keyList) String() string { return strings.Join(*k, " ") }
func (k *keyList) Set(v string) error {
	if _, err := os.Stat(v); err == nil {
		*k = append(*k, v)
	} else {
		*k = append(*k, strings.Fields(v)...)
	}
	return nil
}

type verifyFlags struct {
	data, export, url, token string
	checkpoints              checkpointFiles
	keys                     keyList   // --key: verifier keys or files holding one
	keySrc, checkpointSrc    string    // "--key" or TALLY_KEY, "--checkpoint" or TALLY_CHECKPOINT: where they came from, for errors
	restoring                bool      // data is a restore not yet finished (tally restore's own check)
	notes                    io.Writer // where notes on what could not be checked go (nil: nowhere)
}

// runVerify implements `tally verify --data DIR | --export FILE | --url URL
// --token T [--checkpoint FILE]...`: it exits 0 with a one-line summary,
// 1 naming the first bad sequence number (or the damage found opening a
// data directory), or 2 when it cannot read.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseVerifyFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitVerified
	}
	if err != nil {
		fmt.Fprintf(stderr, "tally verify: %v\n", err)
		return exitUsage
	}
	opt, err := trustedCheckpoints(f.checkpoints, f.checkpointSrc)
	if err == nil {
		opt.Keys, err = trustedKeys(f.keys, f.keySrc)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tally verify: %v\n", err)
		return exitUsage
	}
	f.notes = stderr
	rep, err := verifySource(ctx, f, opt)
	if f.data != "" && (errors.Is(err, store.ErrDamaged) || errors.Is(err, audit.ErrVerify)) && store.OlderFormatHintApplies(f.data) {
		defer fmt.Fprintf(stderr, "note: %s\n", store.OlderFormatHint)
	}
	if ve, ok := audit.IsVerifyError(err); ok {
		fmt.Fprintf(stderr, "tally verify: FAILED: first bad seq %d: %s\n", ve.Seq, ve.Error())
		return exitBad
	}
	if errors.Is(err, store.ErrDamaged) || errors.Is(err, errServerDamaged) {
		// Found at open (a rolled-back or half-restored directory, a
		// damaged table, a wrong master.key): a failed verification too.
		fmt.Fprintf(stderr, "tally verify: FAILED: %v\n", err)
		return exitBad
	}
	if err != nil {
		fmt.Fprintf(stderr, "tally verify: %v\n", err)
		return exitUsage
	}
	history := ""
	if rep.Entries > 0 || rep.Transactions > 0 || rep.Documents > 0 {
		history = fmt.Sprintf(", %d history lines, %d transactions and %d documents and indexes", rep.Entries, rep.Transactions, rep.Documents)
	}
	keys := "keys"
	if rep.Keys == 1 {
		keys = "key"
	}
	fmt.Fprintf(stdout, "ok: %d records, %d checkpoints (latest of size %d), %d %s, %d accounts%s match; root %s\n",
		rep.Records, rep.Checkpoints, rep.Latest, rep.Keys, keys, rep.Accounts, history, base64.StdEncoding.EncodeToString(rep.Root[:]))
	if len(opt.Keys) == 0 && len(opt.Trusted) == 0 {
		fmt.Fprintf(stderr, "note: the keys were taken from the log itself; pin the one the operator publishes with --key (GET /v1/audit/key), or give checkpoints saved earlier with --checkpoint\n")
	}
	if rep.Latest < rep.Records {
		fmt.Fprintf(stderr, "note: the last %d records (from seq %d) are after the latest checkpoint: no signature covers them\n", rep.Records-rep.Latest, rep.Latest)
	}
	if rep.Unstated > 0 {
		fmt.Fprintf(stderr, "note: %d history lines (the first at seq %d) state no balance though earlier lines of their accounts do: written by an earlier version run after this one, or their balance was removed (no figure depends on it)\n", rep.Unstated, rep.UnstatedFirst)
	}
	if f.data != "" && rep.Checkpoints > 0 && !store.HasWitness(f.data) {
		fmt.Fprintf(stderr, "note: the directory has no published checkpoint file (checkpoint) though its log has checkpoints: a rollback of the directory to an earlier copy of itself cannot be told without checkpoints saved earlier (--checkpoint)\n")
	}
	if f.data == "" {
		// An export (a file, or what a server's /v1/audit/export
		// streams for --url) carries the chain and the balances only.
		what := "an export holds"
		if f.url != "" {
			what = "the server's audit export (what --url reads) holds"
		}
		fmt.Fprintf(stderr, "note: %s no history lines, transactions, documents or indexes: they were not checked (tally verify --data checks them on the server's directory)\n", what)
	}
	return exitVerified
}

// parseVerifyFlags reads the flags; a source given by flag wins over the
// environment (TALLY_DATA, TALLY_EXPORT, TALLY_URL, TALLY_TOKEN), and
// exactly one source must remain. Checkpoint files given by flag win over
// TALLY_CHECKPOINT (a list separated like PATH).
func parseVerifyFlags(args []string, stderr io.Writer) (verifyFlags, error) {
	var f verifyFlags
	fs := newFlagSet("verify", "(--data DIR | --export FILE | --url URL --token T) [--key VKEY]... [--checkpoint FILE]...", stderr)
	fs.StringVar(&f.data, "data", "", "data directory of a stopped server (TALLY_DATA)")
	fs.StringVar(&f.export, "export", "", "export file from GET "+exportPath+" (TALLY_EXPORT)")
	fs.StringVar(&f.url, "url", "", "base URL of a running server (TALLY_URL)")
	fs.StringVar(&f.token, "token", "", "bearer token of an auditor (TALLY_TOKEN)")
	fs.Var(&f.keys, "key", "the checkpoint verifier key you trust (GET /v1/audit/key, as the operator publishes it), or a file holding it; repeatable, or several separated by spaces (TALLY_KEY likewise)")
	fs.Var(&f.checkpoints, "checkpoint", "a signed checkpoint saved earlier; repeatable (TALLY_CHECKPOINT, separated by "+string(filepath.ListSeparator)+")")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if err := noArgs(fs); err != nil {
		return f, err
	}
	if f.data == "" && f.export == "" && f.url == "" {
		f.data, f.export, f.url = os.Getenv("TALLY_DATA"), os.Getenv("TALLY_EXPORT"), os.Getenv("TALLY_URL")
	}
	f.keySrc, f.checkpointSrc = "--key", "--checkpoint"
	if len(f.checkpoints) == 0 {
		for _, name := range filepath.SplitList(os.Getenv("TALLY_CHECKPOINT")) {
			if name != "" {
				f.checkpoints = append(f.checkpoints, name)
				f.checkpointSrc = "TALLY_CHECKPOINT"
			}
		}
	}
	if len(f.keys) == 0 {
		if f.keys = strings.Fields(os.Getenv("TALLY_KEY")); len(f.keys) > 0 {
			f.keySrc = "TALLY_KEY"
		}
	}
	n := 0
	for _, s := range []string{f.data, f.export, f.url} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return f, errors.New("give exactly one of --data DIR, --export FILE, --url URL")
	}
	if f.token == "" {
		// Not the flag's default: -help would print the token.
		f.token = os.Getenv("TALLY_TOKEN")
	}
	if f.url != "" && f.token == "" {
		return f, errors.New("--url needs --token (or TALLY_TOKEN)")
	}
	return f, nil
}

// trustedKeys reads --key values: a verifier key, or a file holding one
// (GET /v1/audit/key saved).
func trustedKeys(values []string, src string) ([]string, error) {
	var out []string
	for _, v := range values {
		if _, err := audit.VerifierName(v); err != nil {
			b, ferr := os.ReadFile(v)
			if ferr != nil {
				return nil, fmt.Errorf("%s %q is neither a verifier key (%v) nor a readable file", src, v, err)
			}
			key := strings.TrimSpace(string(b))
			if _, err := audit.VerifierName(key); err != nil {
				return nil, fmt.Errorf("%s file %s: %v", src, v, err)
			}
			v = key
		}
		out = append(out, v)
	}
	return out, nil
}

func trustedCheckpoints(files []string, src string) (audit.VerifyOptions, error) {
	var opt audit.VerifyOptions
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return opt, fmt.Errorf("%s: %w", src, err)
		}
		if _, err := audit.CheckpointBody(b); err != nil {
			return opt, fmt.Errorf("%s %s: %w", src, name, err)
		}
		opt.Trusted = append(opt.Trusted, b)
	}
	return opt, nil
}

func verifySource(ctx context.Context, f verifyFlags, opt audit.VerifyOptions) (audit.Report, error) {
	switch {
	case f.data != "":
		open := store.OpenAudit
		if f.restoring {
			open = store.OpenAuditRestoring
		}
		db, err := open(f.data)
		if errors.Is(err, store.ErrDamaged) || errors.Is(err, errServerDamaged) {
			return audit.Report{}, err
		}
		if err != nil {
			return audit.Report{}, err
		}
		defer db.Close()
		return db.Verify(ctx, opt)
	case f.export != "":
		file, err := os.Open(f.export)
		if err != nil {
			return audit.Report{}, err
		}
		defer file.Close()
		return audit.Verify(ctx, audit.NewExportReader(file), opt)
	}
	return verifyURL(ctx, f.url, f.token, opt, f.notes)
}

// readyPath is the server's readiness endpoint: 503 ledger_damaged when
// it found its own stored data damaged.
const readyPath = "/readyz"

// errServerDamaged: the server says its own store is damaged (exit 1).
var errServerDamaged = errors.New("the server reports its own stored data damaged")

// verifyURL streams the server's export into the verifier, so a large
// log is never held in memory. The export is signed to its end (the
// server signs a checkpoint of the snapshot it exports), so it is checked
// as an export file is. An export carries no history lines, transactions
// or documents: what the server found wrong with those at start it
// reports on /readyz (503 ledger_damaged), which is asked after the
// export and fails the verification.
func verifyURL(ctx context.Context, base, token string, opt audit.VerifyOptions, notes io.Writer) (audit.Report, error) {
	rep, err := verifyURLExport(ctx, base, token, opt, notes)
	if _, bad := audit.IsVerifyError(err); bad {
		return rep, err // the log itself names the first bad record
	}
	read, derr := serverDamaged(ctx, base)
	if derr != nil {
		return audit.Report{}, derr
	}
	if !read && err == nil && notes != nil {
		fmt.Fprintf(notes, "note: %s could not be read: whether the server found its own stored data damaged (what an export does not carry) is unknown\n", readyPath)
	}
	return rep, err
}

func verifyURLExport(ctx context.Context, base, token string, opt audit.VerifyOptions, notes io.Writer) (audit.Report, error) {
	resp, done, err := getStream(ctx, base, exportPath, token, StreamIdleTimeout, notes)
	if err != nil {
		return audit.Report{}, err
	}
	defer done()
	if resp.StatusCode != http.StatusOK {
		return audit.Report{}, statusError(exportPath, resp)
	}
	body := &transportReader{r: resp.Body}
	rep, err := audit.Verify(ctx, audit.NewExportReader(body), opt)
	if body.err != nil {
		// A dropped connection is not a truncated log: exit 2, not 1.
		return audit.Report{}, fmt.Errorf("reading %s: %w (the connection failed; nothing after it was verified)", exportPath, body.err)
	}
	return rep, err
}

// serverDamaged asks the server's /readyz whether it found its own
// stored data damaged; a /readyz that cannot be read (not routed, a
// network fault) is no evidence either way.
func serverDamaged(ctx context.Context, base string) (read bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, StreamIdleTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+readyPath, nil)
	if err != nil {
		return false, nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, nil
	}
	defer resp.Body.Close()
	// Only Tally's own answer is evidence: a proxy's page (a catch-all
	// 200, a maintenance 503, a 404) says nothing either way.
	var p struct {
		Status any    `json:"status"` // "ready", or a problem's HTTP status
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p) != nil {
		return false, nil
	}
	switch {
	case resp.StatusCode == http.StatusOK && fmt.Sprint(p.Status) == "ready":
		return true, nil
	case resp.StatusCode != http.StatusServiceUnavailable || p.Code == "":
		return false, nil
	case p.Code != string(ledger.CodeLedgerDamaged):
		return true, nil // not ready for another reason (starting, stopping)
	}
	return true, fmt.Errorf("%w (GET %s: 503 %s: %s); the damage may lie in what an export does not carry (history lines, transactions, documents, indexes): "+
		"stop the server and run tally verify --data on its directory to name the first bad record",
		errServerDamaged, readyPath, p.Code, audit.Printable(p.Detail))
}

// transportReader remembers a read error other than the end of the body.
type transportReader struct {
	r   io.Reader
	err error
}

func (t *transportReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}
