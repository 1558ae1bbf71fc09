package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEndToEnd builds the binary, starts it on a random port over a
// temporary directory, and walks a resident, a volunteer, a coordinator, a
// committee member and an auditor through their main calls; then stops it,
// verifies offline, backs up, restores and verifies the restored copy.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	data := t.TempDir()
	p := startServer(t, data)
	admin := p.login("admin", e2eAdminPassword)
	p.must(200, "GET", "/healthz", "", nil)
	p.must(200, "GET", "/readyz", "", nil)
	if m := p.must(200, "GET", "/metrics", "", nil); !strings.Contains(string(m.raw), "\ntally_disk_free_bytes ") ||
		strings.Contains(string(m.raw), "\ntally_disk_free_bytes -1") {
		t.Errorf("/metrics has no measured tally_disk_free_bytes")
	}

	// The operator sets up a district and its people.
	p.must(201, "POST", "/v1/communities", admin, map[string]any{"id": "d1", "name": "锦江区"})
	p.must(201, "POST", "/v1/communities", admin, map[string]any{"id": "c1", "name": "红星社区", "parent": "d1"})
	add := func(id, c string, login bool, roles ...string) string {
		body := map[string]any{"id": id, "community": c, "display_name": "成员 " + id, "roles": roles,
			"personal": map[string]string{"birth_date": "1950-01-01"}}
		if login {
			body["username"], body["password"] = id, "password-"+id
		}
		r := p.must(201, "POST", "/v1/members", admin, body)
		if acct, _ := r.body["accounts"].(map[string]any); acct["HOUR"] != id+":HOUR" {
			t.Fatalf("member %s accounts: %s", id, r.raw)
		}
		if !login {
			return ""
		}
		return p.login(id, "password-"+id)
	}
	coord := add("wang", "c1", true, "coordinator")
	vol := add("li", "c1", true, "resident", "volunteer")
	res := add("chen", "c1", true, "resident")
	add("zhang", "c1", false, "resident") // offline
	c1 := add("liu", "c1", true, "committee")
	c2 := add("zhao", "c1", true, "committee")
	aud := add("aud", "d1", true, "auditor")

	// A volunteer logs service; the recipient confirms; credits arrive.
	at := time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)
	svc := p.must(201, "POST", "/v1/services", vol, map[string]any{"volunteer": "li", "recipient": "chen",
		"community": "c1", "category": "elder_care", "hours": "2.50", "occurred_at": at})
	if svc.str("status") != "pending" {
		t.Fatalf("service status %q, want pending", svc.str("status"))
	}
	if r, _ := p.call("POST", "/v1/services/"+svc.str("id")+"/confirm", vol, map[string]any{}); r.status != 403 {
		t.Fatalf("volunteer confirming own service: status %d, want 403", r.status)
	}
	p.must(200, "POST", "/v1/services/"+svc.str("id")+"/confirm", res, map[string]any{"reason": "服务很好"})
	if b := p.must(200, "GET", "/v1/accounts/li:HOUR", vol, nil).str("balance"); b != "2.50" {
		t.Fatalf("volunteer balance %s, want 2.50", b)
	}
	// The volunteer gives an hour to the community pool and redeems one.
	p.must(201, "POST", "/v1/gifts", vol, map[string]any{"from": "li", "to": "c1:pool", "hours": "0.50"})
	p.must(201, "POST", "/v1/redemptions", vol, map[string]any{"member": "li", "community": "c1", "hours": "1.00", "item": "上门理发"})
	if b := p.must(200, "GET", "/v1/accounts/li:HOUR", vol, nil).str("balance"); b != "1.00" {
		t.Fatalf("volunteer balance after gift and redemption %s, want 1.00", b)
	}
	// The coordinator acts for the offline resident (代办): a pool grant to her.
	p.must(201, "POST", "/v1/grants", coord, map[string]any{"community": "c1", "member": "zhang", "hours": "0.50", "reason": "困难帮扶"})
	entries := p.must(200, "GET", "/v1/accounts/li:HOUR/entries?limit=2", vol, nil)
	if items, _ := entries.body["items"].([]any); len(items) != 2 {
		t.Fatalf("history page: %s", entries.raw)
	}

	// The fund: donation, proposal, committee votes, public disclosure.
	p.must(201, "POST", "/v1/funds", admin, map[string]any{"id": "f1", "community": "c1", "name": "红星社区基金",
		"committee": []string{"liu", "zhao"}, "quorum": 2})
	p.must(201, "POST", "/v1/funds/f1/donations", coord, map[string]any{"donor": "company-1", "amount": "15000.00"})
	prop := p.must(201, "POST", "/v1/funds/f1/proposals", coord, map[string]any{"amount": "2000.00",
		"beneficiary": "B-001", "purpose": "购买学习用品"})
	if prop.str("status") != "voting" {
		t.Fatalf("proposal status %q, want voting", prop.str("status"))
	}
	if f := p.must(200, "GET", "/v1/funds/f1", coord, nil); f.str("held") != "2000.00" || f.str("available") != "13000.00" {
		t.Fatalf("fund after proposal: %s", f.raw)
	}
	p.must(200, "POST", "/v1/proposals/"+prop.str("id")+"/votes", c1, map[string]any{"decision": "approve", "reason": "同意"})
	p.must(200, "POST", "/v1/proposals/"+prop.str("id")+"/votes", c2, map[string]any{"decision": "approve", "reason": "同意"})
	if s := p.must(200, "GET", "/v1/proposals/"+prop.str("id"), c1, nil).str("status"); s != "paid" && s != "approved" {
		t.Fatalf("proposal status %q after quorum, want approved or paid", s)
	}
	pub := p.must(200, "GET", "/v1/public/funds/f1", "", nil)
	if strings.Contains(string(pub.raw), "成员") {
		t.Fatalf("public disclosure leaks a display name: %s", pub.raw)
	}

	// The auditor: checkpoint, records, proofs, report, verification.
	ck := p.must(200, "GET", "/v1/audit/checkpoint", "", nil)
	// The operator's monitoring sees the log, its latest checkpoint and
	// the commits that wrote it.
	size, _ := strconv.Atoi(strings.Split(string(ck.raw), "\n")[1])
	m := string(p.must(200, "GET", "/metrics", "", nil).raw)
	metric := func(name string) int {
		_, v, _ := strings.Cut(m, "\n"+name+" ")
		n, _ := strconv.Atoi(strings.Fields(v + " x")[0])
		return n
	}
	if signed, records := metric("tally_checkpoint_records"), metric("tally_audit_records"); signed < size || signed > records || records == 0 {
		t.Errorf("/metrics: checkpoint %d, records %d; the checkpoint read before had %d", signed, records, size)
	}
	for _, want := range []string{"\ntally_ready 1\n", "\ntally_ledger_damaged 0\n", "\ngo_goroutines "} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(m, "\ntally_commits_total ") || strings.Contains(m, "\ntally_commits_total 0\n") {
		t.Errorf("/metrics counts no commits")
	}
	key := p.must(200, "GET", "/v1/audit/key", "", nil)
	recs := p.must(200, "GET", "/v1/audit/records?from=0&limit=5", aud, nil)
	if items, _ := recs.body["items"].([]any); len(items) != 5 {
		t.Fatalf("records page: %s", recs.raw)
	}
	// The lists' cursor convention works here too: after=<next>.
	next := fmt.Sprint(recs.body["next"])
	page2 := p.must(200, "GET", "/v1/audit/records?after="+next+"&limit=5", aud, nil)
	if items, _ := page2.body["items"].([]any); len(items) == 0 || fmt.Sprint(items[0].(map[string]any)["seq"]) != next {
		t.Fatalf("records after %s: %s", next, page2.raw)
	}
	p.must(400, "GET", "/v1/audit/records?from=1&after="+next, aud, nil)
	p.must(200, "GET", "/v1/audit/consistency?from=1&to=5", aud, nil)
	p.must(200, "GET", "/v1/audit/records/3/inclusion?size=5", aud, nil)
	p.must(400, "GET", "/v1/audit/records/3/inclusion?size=0", aud, nil)
	p.must(400, "GET", "/v1/audit/records/3/inclusion?size=3", aud, nil)
	rep := p.must(200, "GET", "/v1/reports/services?community=d1&from=2020-01-01&to=2100-01-01", aud, nil)
	if rep.str("hours_credited") != "2.50" {
		t.Fatalf("report hours_credited %q, want 2.50: %s", rep.str("hours_credited"), rep.raw)
	}
	if r, _ := p.call("POST", "/v1/transfers", aud, map[string]any{"postings": []any{}}); r.status != 403 {
		t.Fatalf("auditor writing: status %d, want 403", r.status)
	}
	// The operator rotates both keys; old tokens keep working, the chain
	// keeps verifying, and the verifier key served is the new one.
	p.must(200, "POST", "/v1/admin/keys/token/rotate", admin, nil)
	rot := p.must(200, "POST", "/v1/admin/keys/checkpoint/rotate", admin, nil)
	if r, _ := p.call("POST", "/v1/admin/keys/token/rotate", coord, nil); r.status != 403 {
		t.Fatalf("coordinator rotating keys: status %d, want 403", r.status)
	}
	key = p.must(200, "GET", "/v1/audit/key", "", nil)
	if strings.TrimSpace(string(key.raw)) != rot.str("verifier_key") {
		t.Fatalf("served key %q, want the rotated %q", key.raw, rot.str("verifier_key"))
	}
	cp := filepath.Join(t.TempDir(), "checkpoint.txt")
	if err := os.WriteFile(cp, p.must(200, "GET", "/v1/audit/checkpoint", "", nil).raw, 0o600); err != nil {
		t.Fatal(err)
	}
	// The checkpoint served right after the rotation is the new key's:
	// an auditor pinning the key the answer gave can verify at once.
	if code, out := runTally(t, "verify", "--url", p.url, "--token", aud, "--key", rot.str("verifier_key"), "--checkpoint", cp); code != 0 {
		t.Fatalf("verify --url with the rotated key: exit %d\n%s", code, out)
	} else if !strings.Contains(out, "the server's audit export") || strings.Contains(out, "note: an export holds") {
		// The user gave a URL, not an export file: the note says what was read.
		t.Fatalf("verify --url speaks of an export file:\n%s", out)
	}
	backupFile := filepath.Join(t.TempDir(), "tally.backup")
	if code, out := runTally(t, "backup", "--url", p.url, "--out", backupFile); code != 2 {
		t.Fatalf("backup --url without --token: exit %d, want 2 (bad usage)\n%s", code, out)
	}
	if code, out := runTally(t, "backup", "--url", p.url, "--token", admin, "--out", backupFile); code != 0 {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	// A second backup to the same name is refused and leaves the first.
	first, err := os.ReadFile(backupFile)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := runTally(t, "backup", "--url", p.url, "--token", admin, "--out", backupFile); code != 1 {
		t.Fatalf("backup over an existing file: exit %d, want 1\n%s", code, out)
	}
	if again, err := os.ReadFile(backupFile); err != nil || !bytes.Equal(again, first) {
		t.Fatalf("the existing backup was changed or removed: %v", err)
	}
	p.stop()
	if code, out := runTally(t, "verify", "--data", data, "--checkpoint", cp); code != 0 {
		t.Fatalf("verify --data: exit %d\n%s", code, out)
	}

	// Restore into an empty directory: same chain, balances and keys.
	restored := filepath.Join(t.TempDir(), "restored")
	if code, out := runTally(t, "restore", "--in", backupFile, "--data", restored); code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	if code, out := runTally(t, "verify", "--data", restored, "--checkpoint", cp); code != 0 {
		t.Fatalf("verify restored: exit %d\n%s", code, out)
	}
	p2 := startServer(t, restored)
	if k := p2.must(200, "GET", "/v1/audit/key", "", nil); string(k.raw) != string(key.raw) {
		t.Fatalf("restored verifier key %q, want %q", k.raw, key.raw)
	}
	copyToken := p2.login("li", "password-li")
	if b := p2.must(200, "GET", "/v1/accounts/li:HOUR", copyToken, nil).str("balance"); b != "1.00" {
		t.Fatalf("restored balance %s, want 1.00", b)
	}
	// The copy honours the tokens issued before the backup, but signs its
	// own with a key of its own: they are not valid on the original.
	p2.must(200, "GET", "/v1/accounts/li:HOUR", admin, nil)
	p2.stop()
	p3 := startServer(t, data)
	p3.must(401, "GET", "/v1/accounts/li:HOUR", copyToken, nil)
	p3.stop()
}
