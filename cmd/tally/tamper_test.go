package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// TestServeRefusesTamperedDirectory: a balance edited in Badger while the
// server was down (the stored account no longer what the chain replays
// to) is found when the server starts: it answers not ready, takes no
// writes (which would sign new records over the forged balance), and
// logs the first bad sequence number.
func TestServeRefusesTamperedDirectory(t *testing.T) {
	dir := stoppedDemo(t)
	key := []byte("a/li:HOUR")
	editDB(t, dir, func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		var acct map[string]any
		if err := json.Unmarshal(v, &acct); err != nil {
			return err
		}
		acct["credits_posted"] = acct["credits_posted"].(float64) + 10000
		b, err := json.Marshal(acct)
		if err != nil {
			return err
		}
		return txn.Set(key, b)
	})

	p := startServer(t, dir)
	if r, err := p.call("GET", "/readyz", "", nil); err != nil || r.status != 503 || r.str("code") != "ledger_damaged" {
		t.Fatalf("readyz on a tampered directory: %d %s %v", r.status, r.raw, err)
	}
	r, err := p.call("POST", "/v1/auth/token", "", map[string]any{"username": "li", "password": "demo-resident-2026"})
	if err != nil {
		t.Fatal(err)
	}
	if r.status == 200 {
		tok := r.str("access_token")
		r, err = p.call("POST", "/v1/gifts", tok, map[string]any{"from": "li", "to": "pool", "hours": "100.00"})
		if err != nil {
			t.Fatal(err)
		}
	}
	if r.status != 503 || r.str("code") != "ledger_damaged" {
		t.Fatalf("a write on a tampered directory: %d %s", r.status, r.raw)
	}
	// The changed balance is not shown; the audit log stays readable.
	r, err = p.call("POST", "/v1/auth/token", "", map[string]any{"username": "li", "password": "demo-resident-2026"})
	if err != nil || r.status != 200 {
		t.Fatalf("a login on a tampered directory: %d %s %v", r.status, r.raw, err)
	}
	tok := r.str("access_token")
	for _, path := range []string{"/v1/accounts/li:HOUR", "/v1/accounts/li:HOUR/entries", "/v1/public/funds"} {
		if r, err := p.call("GET", path, tok, nil); err != nil || r.status != 503 || r.str("code") != "ledger_damaged" {
			t.Fatalf("GET %s on a tampered directory: %d %s %v", path, r.status, r.raw, err)
		}
	}
	if r, err := p.call("GET", "/v1/audit/checkpoint", "", nil); err != nil || r.status != 200 {
		t.Fatalf("the checkpoint on a tampered directory: %d %s %v", r.status, r.raw, err)
	}
	// A backup is served, as evidence, and tally backup says it will not
	// restore (exit 1) rather than "backup written".
	out := filepath.Join(t.TempDir(), "evidence.tally")
	code, said := runTally(t, "backup", "--url", p.url, "--token", p.login("admin", e2eAdminPassword), "--out", out)
	if code != 1 || !strings.Contains(said, "damaged") || !strings.Contains(said, "will not restore") {
		t.Fatalf("backup --url of a damaged server: exit %d %s", code, said)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("the evidence was not kept: %v", err)
	}
	p.stop()
	// The server names the record tally verify names.
	code, _, errs := runV(t, "--data", dir)
	_, rest, _ := strings.Cut(errs, "first bad seq ")
	seq, _, _ := strings.Cut(rest, ":")
	if code != exitBad || seq == "" {
		t.Fatalf("tally verify: exit %d %s", code, errs)
	}
	if log := p.out.String(); !strings.Contains(log, "does not verify") || !strings.Contains(log, `"first_bad_seq":`+seq+",") {
		t.Fatalf("log does not name the damage at seq %s: %s", seq, log)
	}
}

// TestDamagedLogStreams: with a record deleted from Badger, the audit
// export, the backup and the record pages cannot be served whole; they
// answer ledger_damaged instead of an empty 200 (which read like an
// export) or a bare 500, and the cause is logged (found by an outside
// probe).
func TestDamagedLogStreams(t *testing.T) {
	dir := stoppedDemo(t)
	key := binary.BigEndian.AppendUint64([]byte("r/"), 20)
	editDB(t, dir, func(txn *badger.Txn) error {
		if _, err := txn.Get(key); err != nil {
			return err
		}
		return txn.Delete(key)
	})
	p := startServer(t, dir)
	admin := p.login("admin", e2eAdminPassword)
	auditor := p.login("auditor", "demo-staff-2026")
	for _, c := range []struct{ path, token string }{
		{"/v1/audit/export", auditor},
		{"/v1/audit/records?from=0&limit=1000", auditor},
		{"/v1/admin/backup", admin},
	} {
		r, err := p.call("GET", c.path, c.token, nil)
		if err != nil || r.status != 503 || r.str("code") != "ledger_damaged" {
			t.Fatalf("GET %s on a log missing record 20: %d %q %v", c.path, r.status, r.raw, err)
		}
	}
	if r := p.must(200, "GET", "/v1/audit/records?from=0&limit=20", auditor, nil); len(r.body["items"].([]any)) != 20 {
		t.Fatalf("the records before the missing one: %s", r.raw)
	}
	p.stop()
	if log := p.out.String(); !strings.Contains(log, "audit export failed") {
		t.Fatalf("the failed export is not logged: %s", log)
	}
}

// stoppedDemo is the data directory of a demo server, stopped.
func stoppedDemo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	startServer(t, dir, "--demo").stop()
	return dir
}

// editDB changes a stopped server's Badger database behind its back.
func editDB(t *testing.T, dir string, edit func(txn *badger.Txn) error) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(dir, "db")).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(edit)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
}

// TestVerifyNotesMissingWitness: a data directory whose published
// checkpoint file was removed verifies (nothing in it is wrong), but the
// verification says that a rollback could not be told without it.
func TestVerifyNotesMissingWitness(t *testing.T) {
	dir := stoppedDemo(t)
	if code, _, errs := runV(t, "--data", dir); code != 0 || strings.Contains(errs, "no published checkpoint file") {
		t.Fatalf("verify of a whole directory: exit %d %s", code, errs)
	}
	if err := os.Remove(filepath.Join(dir, "checkpoint")); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runV(t, "--data", dir); code != 0 || !strings.Contains(errs, "no published checkpoint file") {
		t.Fatalf("verify without the published checkpoint file: exit %d %s", code, errs)
	}
}
