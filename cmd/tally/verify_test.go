package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/store"
)

// verifyFixture makes a stopped server's data directory with a key,
// accounts, transfers and a checkpoint, and returns it with the
// checkpoint note and an export of it.
func verifyFixture(t *testing.T) (dir string, note, export []byte) {
	t.Helper()
	dir = t.TempDir()
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.EnsureCheckpointKey(ctx, ""); err != nil {
		t.Fatal(err)
	}
	ops := []ledger.Op{func(tx ledger.Tx) (any, error) {
		for _, id := range []string{"issuance", "alice"} {
			g := ledger.GuardNoOverdraft
			if id == "issuance" {
				g = ledger.GuardNone
			}
			if _, err := ledger.OpenAccount(tx, ledger.AccountSpec{ID: id, Unit: ledger.HOUR, Guard: g}); err != nil {
				return nil, err
			}
		}
		tx.Audit("account.open", map[string]any{"count": 2})
		return nil, nil
	}}
	for i := 0; i < 8; i++ {
		ops = append(ops, func(tx ledger.Tx) (any, error) {
			tr, err := ledger.Transfer(tx, ledger.TransferSpec{Postings: []ledger.Posting{{From: "issuance", To: "alice", Amount: 100, Unit: ledger.HOUR}}})
			if err == nil {
				tx.Audit("tx.transfer", ledger.TxFields(tr))
			}
			return tr, err
		})
	}
	for _, op := range ops {
		if _, err := s.Submit(ctx, ledger.Request{Actor: ledger.Actor{ID: "admin"}, Op: op}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := s.Audit().LatestCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Audit().Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	return dir, c.Note, buf.Bytes()
}

func runV(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runVerify(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyCommandSources(t *testing.T) {
	dir, note, export := verifyFixture(t)
	cp := writeFile(t, "checkpoint.txt", note)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != exportPath || r.Header.Get("Authorization") != "Bearer secret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write(export)
	}))
	defer srv.Close()
	for _, args := range [][]string{
		{"--data", dir, "--checkpoint", cp},
		{"--export", writeFile(t, "export.bin", export), "--checkpoint", cp},
		{"--url", srv.URL, "--token", "secret", "--checkpoint", cp},
	} {
		code, out, errs := runV(t, args...)
		if code != exitVerified || !strings.HasPrefix(out, "ok: 10 records") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args[0], code, out, errs)
		}
	}
	if code, _, _ := runV(t, "--url", srv.URL, "--token", "wrong"); code != exitUsage {
		t.Errorf("refused token: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := runV(t, "--data", dir, "--export", "x"); code != exitUsage {
		t.Errorf("two sources: exit %d, want %d", code, exitUsage)
	}
	t.Setenv("TALLY_DATA", dir)
	if code, _, errs := runV(t); code != exitVerified {
		t.Errorf("TALLY_DATA: exit %d: %s", code, errs)
	}
	t.Setenv("TALLY_DATA", "")
	t.Setenv("TALLY_EXPORT", writeFile(t, "env-export.bin", export))
	t.Setenv("TALLY_CHECKPOINT", cp)
	if code, _, errs := runV(t); code != exitVerified {
		t.Errorf("TALLY_EXPORT, TALLY_CHECKPOINT: exit %d: %s", code, errs)
	}
	// The checkpoint list is read: a file that is not there is an error.
	t.Setenv("TALLY_CHECKPOINT", cp+string(filepath.ListSeparator)+filepath.Join(t.TempDir(), "missing.txt"))
	if code, _, errs := runV(t); code == exitVerified || !strings.Contains(errs, "missing.txt") {
		t.Errorf("TALLY_CHECKPOINT naming a missing file: exit %d: %s", code, errs)
	}
}

func TestVerifyCommandNamesFirstBadSeq(t *testing.T) {
	dir, _, _ := verifyFixture(t)
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "db")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	key := binary.BigEndian.AppendUint64([]byte("r/"), 4)
	err = db.Update(func(txn *badger.Txn) error { return txn.Delete(key) })
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs := runV(t, "--data", dir)
	if code != exitBad || !strings.Contains(errs, "first bad seq 4:") {
		t.Fatalf("deleted record 4: exit %d, stderr %q", code, errs)
	}
}

// TestVerifyCommandKey: --key pins the checkpoint key the operator
// publishes (also from a file, or TALLY_KEY); a log whose latest
// checkpoint another key signed fails, and without a pinned key or
// checkpoint the summary says the log's own keys were trusted.
func TestVerifyCommandKey(t *testing.T) {
	dir, _, export := verifyFixture(t)
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := s.EnsureCheckpointKey(context.Background(), "")
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := audit.GenerateCheckpointKey("tally.local")
	if err != nil {
		t.Fatal(err)
	}
	exp := writeFile(t, "export.bin", export)
	if code, out, errs := runV(t, "--export", exp); code != exitVerified || !strings.Contains(errs, "taken from the log itself") {
		t.Errorf("nothing pinned: exit %d %q %q", code, out, errs)
	}
	if code, _, errs := runV(t, "--export", exp, "--key", vkey); code != exitVerified || strings.Contains(errs, "taken from the log itself") {
		t.Errorf("--key: exit %d %q", code, errs)
	}
	if code, _, errs := runV(t, "--export", exp, "--key", writeFile(t, "tally.key", []byte(vkey+"\n"))); code != exitVerified {
		t.Errorf("--key FILE: exit %d %q", code, errs)
	}
	spaced := filepath.Join(t.TempDir(), "keys dir", "tally key")
	if err := os.MkdirAll(filepath.Dir(spaced), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spaced, []byte(vkey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runV(t, "--export", exp, "--key", spaced); code != exitVerified {
		t.Errorf("--key FILE with a space in its path: exit %d %q", code, errs)
	}
	if code, _, errs := runV(t, "--export", exp, "--key", other); code != exitBad || !strings.Contains(errs, "trusted_key") {
		t.Errorf("another key: exit %d %q, want %d trusted_key", code, errs, exitBad)
	}
	// One --key may hold several, separated by spaces, as TALLY_KEY does:
	// both are read (the second, not the log's, then fails as such).
	if code, _, errs := runV(t, "--export", exp, "--key", vkey+" "+other); code != exitBad || !strings.Contains(errs, "trusted_key") {
		t.Errorf("--key \"VKEY OTHER\": exit %d %q, want %d trusted_key", code, errs, exitBad)
	}
	if code, _, errs := runV(t, "--export", exp, "--key", " "+vkey+" "); code != exitVerified {
		t.Errorf("--key with spaces around it: exit %d %q", code, errs)
	}
	if code, _, _ := runV(t, "--export", exp, "--key", "no-such-key-or-file"); code != exitUsage {
		t.Errorf("a bad --key: exit %d, want %d", code, exitUsage)
	}
	t.Setenv("TALLY_KEY", other)
	if code, _, _ := runV(t, "--export", exp); code != exitBad {
		t.Errorf("TALLY_KEY: exit %d, want %d", code, exitBad)
	}
}

// TestVerifySettingNamedBySource: a bad key or checkpoint file given in
// the environment is named by its variable, one given by flag by the
// flag (the message once said --key for a TALLY_KEY nobody typed).
func TestVerifySettingNamedBySource(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		env, val string
		args     []string
		want     string
	}{
		{"TALLY_KEY", "garbage", nil, `TALLY_KEY "garbage" is neither`},
		{"TALLY_KEY", "", []string{"--key", "garbage"}, `--key "garbage" is neither`},
		{"TALLY_CHECKPOINT", "/nonexistent-checkpoint", nil, "TALLY_CHECKPOINT: open /nonexistent-checkpoint"},
		{"TALLY_CHECKPOINT", "", []string{"--checkpoint", "/nonexistent-checkpoint"}, "--checkpoint: open /nonexistent-checkpoint"},
	} {
		t.Setenv(c.env, c.val)
		var out, errOut bytes.Buffer
		args := append([]string{"verify", "--data", dir}, c.args...)
		if code := run(args, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%s=%q %v: exit %d, %q; want it to say %q", c.env, c.val, c.args, code, errOut.String(), c.want)
		}
	}
}
