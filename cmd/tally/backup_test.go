package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestBackupRefusesWhatIsNotABackup: a server that answers 200 with
// something other than an intact backup gives a failed backup and no
// file, rather than "backup written".
func TestBackupRefusesWhatIsNotABackup(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "TALLY-BACKUP-2\ngarbage")
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "b.bak")
	if code := runBackup(context.Background(), []string{"--url", srv.URL, "--token", "x", "--out", out}, io.Discard, io.Discard); code != 1 {
		t.Fatalf("backup of garbage: exit %d, want 1", code)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused backup left %s (%v)", out, err)
	}
}
