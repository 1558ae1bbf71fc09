package store

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
)

// backupMagic opens every backup stream: the format version, then the
// master key (length-prefixed), then Badger's backup stream.
const backupMagic = "TALLY-BACKUP-1\n"

// maxRestoreGoroutines bounds Badger's Load concurrency when restoring.
const maxRestoreGoroutines = 16

// Backup writes a consistent backup of the whole store to w: every key at
// one snapshot, and the master key of personal data, so that a restore
// has the same balances, chain and keys.
func (s *Store) Backup(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(backupMagic)
	key, err := s.masterKey()
	if err != nil {
		return err
	}
	bw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(key))))
	bw.Write(key)
	// db.Backup streams key ranges from several goroutines, each with its
	// own read transaction: under writes, ranges come from different
	// moments (a head ahead of its records, a balance behind its chain).
	// One producer reads every range in one transaction: one snapshot.
	stream := s.db.NewStream()
	stream.NumGo = 1
	stream.LogPrefix = "tally.Backup"
	if _, err := stream.Backup(bw, 0); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return bw.Flush()
}

func (s *Store) masterKey() ([]byte, error) {
	if s.master == nil {
		return nil, errors.New("store: no master key")
	}
	return s.master, nil
}

// Restore loads a backup into dir, which must be empty or absent.
func Restore(r io.Reader, dir string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("store: restore: %s is not empty", dir)
	}
	br := bufio.NewReader(r)
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != backupMagic {
		return fmt.Errorf("store: restore: not a Tally backup")
	}
	var n uint32
	if err := binary.Read(br, binary.BigEndian, &n); err != nil || n != 32 {
		return fmt.Errorf("store: restore: bad master key header")
	}
	key := make([]byte, n)
	if _, err := io.ReadFull(br, key); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "master.key"), key, 0o600); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "db"), false))
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := db.Load(br, maxRestoreGoroutines); err != nil {
		db.Close()
		return fmt.Errorf("store: restore: %w", err)
	}
	return db.Close()
}
