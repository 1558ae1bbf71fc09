package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/ristretto/v2/z"
	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/protobuf/proto"

	"tally/ledger"
)

// The backup stream (format 2):
//
//	"TALLY-BACKUP-2\n"
//	u32 length (32) and the master key of personal data
//	frames: u32 length n (1..maxBackupFrame) and n bytes of Badger's
//	        backup stream (one snapshot of every key), then the data
//	        keys of keys/ as entries q/<member> in the same framing
//	u32 0, the end
//	32 bytes: SHA-256 of every byte before them
//
// Integers are big-endian. The checksum makes a flipped bit anywhere — in
// a balance, a member document, the master key — refuse the restore
// instead of restoring damage the chain does not cover.
const backupMagic = "TALLY-BACKUP-2\n"

// backupMagicV1 is the format before the checksum, which restore refuses.
const backupMagicV1 = "TALLY-BACKUP-1\n"

// maxBackupFrame bounds one frame of the stream.
const maxBackupFrame = 1 << 20

// restoringFile marks a data directory a restore is writing; it goes when
// the restore is whole (Restore), or when the restorer has checked the copy
// and finished it (RestoreHeld, then FinishRestore): a restore killed at
// any point before leaves a directory no server starts on.
const restoringFile = "RESTORING"

// RestoringFile is the name of the mark (restoringFile), for a restorer
// that discards a copy: it removes the mark last.
const RestoringFile = restoringFile

// maxRestoreGoroutines bounds Badger's Load concurrency when restoring.
const maxRestoreGoroutines = 16

// ErrBadBackup is what Restore returns for a stream that is not a whole,
// intact Tally backup.
var ErrBadBackup = errors.New("store: restore: not an intact Tally backup")

// Backup writes a consistent backup of the whole store to w: every key at
// one snapshot, and the master key of personal data, so that a restore
// has the same balances, chain and keys.
func (s *Store) Backup(ctx context.Context, w io.Writer) error {
	if err := verifyTables(s.db); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	bw := bufio.NewWriter(w)
	sum := sha256.New()
	hw := io.MultiWriter(bw, sum)
	key, err := s.masterKey()
	if err != nil {
		return err
	}
	io.WriteString(hw, backupMagic)
	hw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(key))))
	hw.Write(key)
	// db.Backup streams key ranges from several goroutines, each with its
	// own read transaction: under writes, ranges come from different
	// moments (a head ahead of its records, a balance behind its chain).
	// One producer reads every range in one transaction: one snapshot.
	stream := s.db.NewStream()
	stream.NumGo = 1
	stream.LogPrefix = "tally.Backup"
	// Badger's readers can end a stream early without an error (a block
	// whose table index is damaged): the snapshot's own head says how many
	// records and tree hashes a whole backup holds, and they are counted.
	var whole streamCount
	stream.ChooseKey = whole.choose
	fw := &frameWriter{w: hw}
	// Badger's own Stream.Backup would write every version of a key (old
	// password hashes, old balances); a backup holds the newest only.
	stream.KeyToList = newestOnly
	// Badger answers a failed Send with the stream's own cancellation
	// ("context canceled"): the write's error (no space left on device)
	// is kept to be said instead.
	var sendErr error
	stream.Send = func(buf *z.Buffer) error {
		list, err := badger.BufferToKVList(buf)
		if err != nil {
			return err
		}
		out := list.Kv[:0]
		for _, kv := range list.Kv {
			if !kv.StreamDone {
				out = append(out, kv)
			}
		}
		list.Kv = out
		if err := writeKVList(fw, list); err != nil {
			sendErr = err
			return err
		}
		return nil
	}
	if err := stream.Orchestrate(ctx); err != nil {
		if sendErr != nil {
			err = sendErr
		}
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := whole.check(); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := s.backupKeys(fw); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := fw.flush(); err != nil {
		return err
	}
	hw.Write(binary.BigEndian.AppendUint32(nil, 0))
	bw.Write(sum.Sum(nil))
	return bw.Flush()
}

// backupKeys appends the data keys, which live outside Badger, to the
// stream as keys q/<member> like any other. They are read after the
// snapshot: a member created since has a key and no personal data in the
// backup (the restored store's open removes it); one erased since has
// personal data and no key — unreadable, as the erasure wants.
func (s *Store) backupKeys(w io.Writer) error {
	members, err := s.keys.members()
	if err != nil {
		return err
	}
	// One version: the stream holds no other of these keys. (Badger's
	// MaxVersion would be read unlocked beside its writer.)
	const version = 1
	list := &pb.KVList{}
	for _, m := range members {
		wrapped, err := s.keys.get(m)
		if errors.Is(err, errNotFound) {
			continue // erased meanwhile
		}
		if err != nil {
			return err
		}
		list.Kv = append(list.Kv, &pb.KV{Key: []byte(pDataKey + m), Value: wrapped, Version: version})
		if len(list.Kv) == backupKeysPerList {
			if err := writeKVList(w, list); err != nil {
				return err
			}
			list.Kv = list.Kv[:0]
		}
	}
	if len(list.Kv) == 0 {
		return nil
	}
	return writeKVList(w, list)
}

// backupKeysPerList bounds the data keys in one list of the stream.
const backupKeysPerList = 4096

// maxBackupList bounds one list of Badger's stream read at restore
// (Badger's stream sends lists of a few MB).
const maxBackupList = 256 << 20

// keySplitter passes a backup's Badger stream on to Badger's Load without
// the data keys (q/<member>), which it collects for the key store: a data
// key written into Badger would outlive its member's erasure there.
type keySplitter struct {
	r    io.Reader
	keys map[string][]byte
	out  bytes.Buffer
	err  error
}

func (k *keySplitter) Read(p []byte) (int, error) {
	for k.out.Len() == 0 && k.err == nil {
		k.err = k.next()
	}
	if k.out.Len() > 0 {
		return k.out.Read(p)
	}
	return 0, k.err
}

// next reads one list: 8 bytes of length (little-endian), then the list.
func (k *keySplitter) next() error {
	var hdr [8]byte
	if _, err := io.ReadFull(k.r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: truncated", ErrBadBackup)
		}
		return err // io.EOF at a verified end, or the frames' own error
	}
	n := binary.LittleEndian.Uint64(hdr[:])
	if n > maxBackupList {
		return fmt.Errorf("%w: a list of %d bytes", ErrBadBackup, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(k.r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: truncated", ErrBadBackup)
		}
		return err
	}
	list := &pb.KVList{}
	if err := proto.Unmarshal(buf, list); err != nil {
		return fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	rest := list.Kv[:0]
	for _, kv := range list.Kv {
		if m, ok := bytes.CutPrefix(kv.Key, []byte(pDataKey)); ok {
			k.keys[string(m)] = kv.Value
			continue
		}
		rest = append(rest, kv)
	}
	list.Kv = rest
	return writeKVList(&k.out, list)
}

// newestOnly is a backup's KeyToList: the newest version of each key
// that is not deleted (ChooseKey has left deleted keys out already), in
// the framing Badger's Load reads.
func newestOnly(key []byte, itr *badger.Iterator) (*pb.KVList, error) {
	list := &pb.KVList{}
	if !itr.Valid() {
		return list, nil
	}
	item := itr.Item()
	if !bytes.Equal(item.Key(), key) || item.IsDeletedOrExpired() {
		return list, nil
	}
	val, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	list.Kv = append(list.Kv, &pb.KV{Key: item.KeyCopy(nil), Value: val, UserMeta: []byte{item.UserMeta()},
		Version: item.Version(), ExpiresAt: item.ExpiresAt()})
	return list, nil
}

// writeKVList writes one list as Badger's backup format does: its
// length (8 bytes, little-endian), then the list as protobuf.
func writeKVList(w io.Writer, list *pb.KVList) error {
	buf, err := proto.Marshal(list)
	if err != nil {
		return err
	}
	if err := binary.Write(w, binary.LittleEndian, uint64(len(buf))); err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// streamCount counts what a backup stream saw (ChooseKey is called once
// per key; NumGo is 1, and the counts are atomic all the same).
type streamCount struct {
	records, hashes atomic.Int64
	head            atomic.Pointer[head]
	err             atomic.Pointer[error]
}

func (c *streamCount) choose(item *badger.Item) bool {
	if item.IsDeletedOrExpired() {
		// A deleted key is left out whole: a backup restores into an
		// empty directory, so it needs no deletion marker, and the key
		// itself may be what an erasure removed (a login's username).
		return false
	}
	switch k := item.Key(); {
	case bytes.HasPrefix(k, []byte(pRecord)):
		c.records.Add(1)
	case bytes.HasPrefix(k, []byte(pHash)):
		c.hashes.Add(1)
	case string(k) == pHead:
		var h head
		err := item.Value(func(v []byte) error { return json.Unmarshal(v, &h) })
		if err != nil {
			c.err.Store(&err)
		} else {
			c.head.Store(&h)
		}
	}
	return true
}

func (c *streamCount) check() error {
	if e := c.err.Load(); e != nil {
		return fmt.Errorf("%w: m/head: %v", ErrDamaged, *e)
	}
	h := c.head.Load()
	switch {
	case h == nil:
		return fmt.Errorf("%w: the store's read ended before m/head", ErrDamaged)
	case uint64(c.records.Load()) != h.Size:
		return fmt.Errorf("%w: read %d records of the head's %d (a damaged table?)", ErrDamaged, c.records.Load(), h.Size)
	case c.hashes.Load() != tlog.StoredHashCount(int64(h.Size)):
		return fmt.Errorf("%w: read %d tree hashes of %d (a damaged table?)", ErrDamaged, c.hashes.Load(), tlog.StoredHashCount(int64(h.Size)))
	}
	return nil
}

// frameWriter cuts what it is given into frames of at most
// maxBackupFrame bytes.
type frameWriter struct {
	w   io.Writer
	buf []byte
}

func (f *frameWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		take := min(len(p), maxBackupFrame-len(f.buf))
		f.buf = append(f.buf, p[:take]...)
		p = p[take:]
		if len(f.buf) == maxBackupFrame {
			if err := f.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (f *frameWriter) flush() error {
	if len(f.buf) == 0 {
		return nil
	}
	if _, err := f.w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f.buf)))); err != nil {
		return err
	}
	_, err := f.w.Write(f.buf)
	f.buf = f.buf[:0]
	return err
}

// frameReader yields the Badger stream of a backup, hashing every byte
// read; it answers io.EOF only at an end whose checksum matches and after
// which nothing follows.
type frameReader struct {
	r    *bufio.Reader
	sum  hash.Hash
	left uint32 // bytes left in the current frame
	done bool
}

func (f *frameReader) Read(p []byte) (int, error) {
	if f.done {
		return 0, io.EOF
	}
	for f.left == 0 {
		var hdr [4]byte
		if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
			return 0, fmt.Errorf("%w: truncated", ErrBadBackup)
		}
		f.sum.Write(hdr[:])
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxBackupFrame {
			return 0, fmt.Errorf("%w: a frame of %d bytes", ErrBadBackup, n)
		}
		if n == 0 {
			want := f.sum.Sum(nil)
			got := make([]byte, len(want))
			if _, err := io.ReadFull(f.r, got); err != nil {
				return 0, fmt.Errorf("%w: truncated checksum", ErrBadBackup)
			}
			if !bytes.Equal(got, want) {
				return 0, fmt.Errorf("%w: the checksum does not match (the file is damaged)", ErrBadBackup)
			}
			if _, err := f.r.ReadByte(); err != io.EOF {
				return 0, fmt.Errorf("%w: data after the end", ErrBadBackup)
			}
			f.done = true
			return 0, io.EOF
		}
		f.left = n
	}
	if uint32(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.sum.Write(p[:n])
	f.left -= uint32(n)
	if err == io.EOF {
		return n, fmt.Errorf("%w: truncated", ErrBadBackup)
	}
	return n, err
}

func (s *Store) masterKey() ([]byte, error) {
	if s.master == nil {
		return nil, errors.New("store: no master key")
	}
	return s.master, nil
}

// Restore loads a backup into dir, which must be empty or absent. A
// stream that is not a whole, intact backup (ErrBadBackup) or fails to
// load leaves dir as it was found: nothing is left that a server could
// start on as if it were a new deployment.
func Restore(r io.Reader, dir string) error {
	if err := RestoreHeld(r, dir); err != nil {
		return err
	}
	return FinishRestore(dir)
}

// RestoreHeld is Restore that leaves the directory marked unfinished
// (RESTORING): no server starts on it, and only OpenAuditRestoring and
// Open with Options.Restoring open it, until FinishRestore. tally restore
// verifies the copy and rotates its token key in between, so that a
// restore killed before both are done leaves nothing a server serves.
func RestoreHeld(r io.Reader, dir string) error {
	created := false
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		created = true
	case err != nil:
		return fmt.Errorf("store: restore: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("store: restore: %s is not a directory", dir)
	default:
		if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
			return fmt.Errorf("store: restore: %s is not empty or not readable", dir)
		}
	}
	// A file is checked whole before anything is loaded: a damaged size
	// field inside Badger's stream could otherwise ask Load for any
	// amount of memory before the checksum at the end is reached.
	if rs, ok := r.(io.ReadSeeker); ok {
		if err := checkBackup(rs); err != nil {
			return err
		}
		if _, err := rs.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("store: restore: %w", err)
		}
	}
	br := bufio.NewReader(r)
	sum := sha256.New()
	key, err := readBackupHeader(br, sum)
	if err != nil {
		return err
	}
	return loadBackup(br, sum, dir, key, created)
}

// CheckBackup reads a whole backup stream and reports whether it is an
// intact Tally backup (framing and checksum), without loading it.
func CheckBackup(r io.Reader) error { return checkBackup(r) }

// checkBackup reads a whole backup, checking its framing and checksum.
func checkBackup(r io.Reader) error {
	br := bufio.NewReader(r)
	sum := sha256.New()
	if _, err := readBackupHeader(br, sum); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, &frameReader{r: br, sum: sum})
	return err
}

// readBackupHeader reads the magic and the master key, hashing them.
func readBackupHeader(br *bufio.Reader, sum hash.Hash) ([]byte, error) {
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br, magic); err != nil {
		return nil, fmt.Errorf("%w: no header", ErrBadBackup)
	}
	switch string(magic) {
	case backupMagic:
	case backupMagicV1:
		return nil, fmt.Errorf("%w: format 1 carries no checksum; restore it with the Tally that wrote it", ErrBadBackup)
	default:
		// A later format (a build that raised the storage format raises
		// this too) is named, not taken for a file that is no backup.
		if v, ok := strings.CutPrefix(string(magic), "TALLY-BACKUP-"); ok && strings.HasSuffix(v, "\n") {
			if n, err := strconv.Atoi(strings.TrimSuffix(v, "\n")); err == nil && n > 2 {
				return nil, fmt.Errorf("%w: backup format %d was written by a newer Tally (this build reads format 2): restore it with that version or a newer one", ErrBadBackup, n)
			}
		}
		return nil, fmt.Errorf("%w: no Tally backup header", ErrBadBackup)
	}
	sum.Write(magic)
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil || binary.BigEndian.Uint32(hdr[:]) != 32 {
		return nil, fmt.Errorf("%w: bad master key header", ErrBadBackup)
	}
	sum.Write(hdr[:])
	key := make([]byte, 32)
	if _, err := io.ReadFull(br, key); err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrBadBackup)
	}
	sum.Write(key)
	return key, nil
}

// loadBackup writes the master key and loads the Badger stream into dir,
// removing what it wrote if anything fails.
func loadBackup(br *bufio.Reader, sum hash.Hash, dir string, key []byte, created bool) (err error) {
	defer func() {
		if err != nil {
			os.RemoveAll(filepath.Join(dir, "db"))
			os.RemoveAll(filepath.Join(dir, keysDir))
			os.Remove(filepath.Join(dir, "master.key"))
			os.Remove(filepath.Join(dir, restoringFile))
			if created {
				os.Remove(dir)
			}
		}
	}()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	makePrivate(dir)
	// Until the restore is whole, the directory says so: a restore killed
	// halfway must not leave a directory a server takes for a ledger (or
	// for a new one, before anything was loaded).
	if err := replaceFile(dir, restoringFile, []byte("a restore into this directory has not finished; remove the directory and restore again\n")); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := replaceFile(dir, "master.key", key); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	db, err := openBadger(badgerOptions(filepath.Join(dir, "db"), false))
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	fr := &frameReader{r: br, sum: sum}
	split := &keySplitter{r: fr, keys: map[string][]byte{}}
	if err := db.Load(split, maxRestoreGoroutines); err != nil {
		db.Close()
		if errors.Is(err, ErrBadBackup) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	if !fr.done {
		db.Close()
		return fmt.Errorf("%w: truncated", ErrBadBackup)
	}
	// The restored ledger's latest published checkpoint becomes its
	// witness (docs/STORAGE.md), as the server would have left it: a db/
	// put back later from before the backup is then refused from the
	// first start, not only after the next checkpoint.
	var note []byte
	err = db.View(func(txn *badger.Txn) error {
		_, n, err := latestCheckpoint(badgerKV{txn})
		if ledger.IsCode(err, ledger.CodeNotFound) {
			return nil
		}
		note = n
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if note != nil {
		if err := writeWitness(dir, note); err != nil {
			return fmt.Errorf("store: restore: %w", err)
		}
	}
	// The stream was whole (its checksum matched): its data keys go to
	// the key store.
	ks, err := openFileKeys(filepath.Join(dir, keysDir))
	if err != nil {
		return err
	}
	if err := ks.put(split.keys); err != nil {
		return err
	}
	return syncDir(dir)
}

// FinishRestore removes the mark RestoreHeld left: the directory is a
// ledger a server may start on. Its caller has verified the copy by then
// (tally restore; Restore, which does not, is for tests), so it is
// marked with this build's storage format first.
func FinishRestore(dir string) error {
	if err := markFormat(dir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, restoringFile)); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	return syncDir(dir)
}
