package store

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/community"
)

// keysEverStored lists every version of every key of a closed data
// directory whose key holds any of needles (as an attacker with the disk
// and Badger's all-versions reader would see them).
func keysEverStored(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var found []string
	db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := string(it.Item().Key())
			for _, n := range needles {
				if strings.Contains(k, n) {
					found = append(found, k)
				}
			}
		}
		return nil
	})
	return found
}

// TestBackupRestorePurgesErased: after an erasure the data directory
// still holds the erased member's old data key, box and login in older
// versions and tombstones (Badger drops them only when a compaction
// merges them); a backup leaves deleted keys out whole and holds the
// newest version of every other key, so backup and restore give a
// directory with no trace of them and no old password hash (SECURITY.md).
func TestBackupRestorePurgesErased(t *testing.T) {
	dir := t.TempDir()
	s, submit := openSubmitter(t, dir)
	ctx := context.Background()
	for _, id := range []string{"m-x", "m-y"} {
		submit(createMemberOp(id, "login-"+id, "QSECRET "+id))
	}
	submit(func(tx ledger.Tx) (any, error) { return community.Erase(tx, "m-x", "") })
	// m-y's login gets a second version: a backup keeps the newest only
	// (an old password hash is no one's to keep).
	submit(func(tx ledger.Tx) (any, error) {
		return nil, community.SetPassword(tx, "login-m-y", "m-y", []byte("new hash"), "")
	})
	var backup bytes.Buffer
	if err := s.Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	s.Close()
	erased := []string{pDataKey + "m-x", pPersonal + "m-x", "login-m-x"}
	if got := keysEverStored(t, dir, erased...); len(got) == 0 {
		t.Fatal("the data directory holds no old version: this test no longer shows the limit it works around")
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if err := Restore(bytes.NewReader(backup.Bytes()), restored); err != nil {
		t.Fatal(err)
	}
	if got := keysEverStored(t, restored, erased...); len(got) != 0 {
		t.Fatalf("the restored directory still holds %q", got)
	}
	if got := keysEverStored(t, dir, "login-m-y"); len(got) < 2 {
		t.Fatalf("the original holds %q: want the login's two versions", got)
	}
	if got := keysEverStored(t, restored, pPersonal+"m-y", "login-m-y"); len(got) != 2 {
		t.Fatalf("the other member's box and login, one version each: %q", got)
	}
	a, err := OpenAudit(restored)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Verify(ctx, audit.VerifyOptions{}); err != nil {
		t.Fatalf("the restored directory does not verify: %v", err)
	}
}
