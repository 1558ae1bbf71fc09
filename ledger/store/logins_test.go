package store

import (
	"context"
	"testing"

	"tally/audit"
	"tally/ledger"
)

// TestFoldLogins: at open, a login kept under a username with capitals
// (made before usernames were case-insensitive) moves to its lower-case
// key, unless another login has that key (then both stay, each under its
// own spelling); the chain still verifies, logins not being chained.
func TestFoldLogins(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	auditSubmit(t, s, func(tx ledger.Tx) (any, error) {
		for name, member := range map[string]string{"Zed": "x1", "zed": "x2", "Qq": "x3", "plain": "x4"} {
			if err := tx.PutDoc("user", name, map[string]string{"username": name, "member": member}); err != nil {
				return nil, err
			}
		}
		tx.Audit("logins.test", map[string]any{})
		return nil, nil
	})
	s.Close()
	s, err = Open(dir, Options{Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string]string{"Zed": "x1", "zed": "x2", "qq": "x3", "plain": "x4", "Qq": ""}
	s.View(context.Background(), func(r ledger.Reader) error {
		for name, member := range want {
			var u map[string]string
			err := r.Doc("user", name, &u)
			if member == "" && !ledger.IsCode(err, ledger.CodeNotFound) || member != "" && (err != nil || u["member"] != member) {
				t.Errorf("login %q: %v %v, want member %q", name, u, err, member)
			}
		}
		return nil
	})
	if _, err := s.Audit().Verify(context.Background(), audit.VerifyOptions{}); err != nil {
		t.Fatalf("verify after the move: %v", err)
	}
}
