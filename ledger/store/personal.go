package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"tally/ledger"
)

// personalKeys encrypts personal data (names, phones, ID numbers, notes)
// with one random data key per member; the data key is stored wrapped by
// the master key of the data directory, in a file of its own outside the
// database (keystore.go). Erasure deletes the ciphertext and destroys the
// wrapped data key, so the chain, which only names opaque ids, still
// verifies while the person can no longer be read.
type personalKeys struct {
	master cipher.AEAD
}

func newPersonalKeys(master []byte) (*personalKeys, error) {
	a, err := newAEAD(master)
	if err != nil {
		return nil, err
	}
	return &personalKeys{master: a}, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("store: key must be 32 bytes")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return cipher.NewGCM(b)
}

func seal(a cipher.AEAD, plain, ad []byte) []byte {
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("store: no randomness: " + err.Error())
	}
	return a.Seal(nonce, nonce, plain, ad)
}

func open(a cipher.AEAD, box, ad []byte) ([]byte, error) {
	if len(box) < a.NonceSize() {
		return nil, fmt.Errorf("store: sealed box too short")
	}
	return a.Open(nil, box[:a.NonceSize()], box[a.NonceSize():], ad)
}

// opens checks that the master key opens every stored data key: another
// directory's master.key, or a damaged one, would serve every member as if
// erased, and a damaged key file its member.
func (pk *personalKeys) opens(ks keyStore) error {
	members, err := ks.members()
	if err != nil || len(members) == 0 {
		return err
	}
	opens := func(m string) (bool, error) {
		wrapped, err := ks.get(m)
		if err != nil {
			return false, err
		}
		_, err = open(pk.master, wrapped, []byte(m))
		return err == nil, nil
	}
	damagedFile := func(m string) error {
		return fmt.Errorf("%w: the data key file of member %q (keys/%s) is damaged; restore the keys/ folder from a copy of this directory or restore a backup", ErrDamaged, m, hex.EncodeToString([]byte(m)))
	}
	ok, err := opens(members[0])
	if err != nil {
		return err
	}
	if !ok {
		// The first key does not open: a wrong master.key opens none, a
		// damaged key file only itself. A few more tell which.
		for _, m := range members[1:min(len(members), maxKeyProbe)] {
			if ok, err := opens(m); err != nil || ok {
				if err == nil {
					err = damagedFile(members[0])
				}
				return err
			}
		}
		return fmt.Errorf("%w: master.key does not open the members' data keys (keys/): it is not this ledger's key, or it is damaged; restore it from a backup of this directory", ErrDamaged)
	}
	// The master key is this ledger's: every other key file must open too,
	// or its member would be served as if erased. One file read and one
	// AES-GCM open a member or person donor, read by keyReaders at once
	// (a file read waits on the disk more than on the CPU); the failure
	// named is the first in member order, as one reader would find it.
	rest := members[1:]
	var (
		next  atomic.Int64
		mu    sync.Mutex
		first = len(rest)
		ferr  error
		wg    sync.WaitGroup
	)
	for range min(keyReaders, len(rest)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				mu.Lock()
				stop := i >= first
				mu.Unlock()
				if stop || i >= len(rest) {
					return
				}
				ok, err := opens(rest[i])
				if err != nil || !ok {
					if err == nil {
						err = damagedFile(rest[i])
					}
					mu.Lock()
					if i < first {
						first, ferr = i, err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return ferr
}

// keyReaders bounds the data key files read at once when a store opens.
const keyReaders = 8

// maxKeyProbe is how many data keys are tried before master.key is named
// as the one that does not open them.
const maxKeyProbe = 8

// checkMasterKey checks, without changing anything, that dir's master.key
// is a key that opens dir's data keys.
func checkMasterKey(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil || len(b) != 32 {
		return fmt.Errorf("%w: master.key is unreadable or not a 32-byte key", ErrDamaged)
	}
	pk, err := newPersonalKeys(b)
	if err != nil {
		return err
	}
	keys := filepath.Join(dir, keysDir)
	if _, err := os.Stat(keys); errors.Is(err, fs.ErrNotExist) {
		return nil // the layout before key files: keys in Badger, moved at the next start
	}
	return pk.opens(&fileKeys{dir: keys})
}

func (pk *personalKeys) read(k kv, member string) (map[string]string, error) {
	dk, err := pk.dataKey(k, member)
	if ledger.IsCode(err, ledger.CodeNotFound) {
		return nil, ledger.Errorf(ledger.CodeNotFound, "no personal data for %s", member)
	}
	if err != nil {
		return nil, err
	}
	box, err := k.get([]byte(pPersonal + member))
	if err != nil {
		return nil, ledger.Errorf(ledger.CodeNotFound, "no personal data for %s", member)
	}
	a, err := newAEAD(dk)
	if err != nil {
		return nil, err
	}
	plain, err := open(a, box, []byte(member))
	if err != nil {
		return nil, fmt.Errorf("store: decrypt personal data: %w", err)
	}
	m := map[string]string{}
	return m, json.Unmarshal(plain, &m)
}

// dataKey is member's data key, unwrapped (not_found once erased).
func (pk *personalKeys) dataKey(k kv, member string) ([]byte, error) {
	wrapped, err := k.get([]byte(pDataKey + member))
	if errors.Is(err, errNotFound) {
		return nil, ledger.Errorf(ledger.CodeNotFound, "no data key for %s", member)
	}
	if err != nil {
		return nil, err
	}
	dk, err := open(pk.master, wrapped, []byte(member))
	if err != nil {
		return nil, fmt.Errorf("store: unwrap data key: %w", err)
	}
	return dk, nil
}

// write returns the ciphertext to store and, when the member has no data
// key yet, a new one wrapped (nil: the existing key is kept).
func (pk *personalKeys) write(k kv, member string, data map[string]string) (wrapped, box []byte, err error) {
	var dk []byte
	if w, err := k.get([]byte(pDataKey + member)); err == nil {
		if dk, err = open(pk.master, w, []byte(member)); err != nil {
			return nil, nil, fmt.Errorf("store: unwrap data key: %w", err)
		}
	} else if !errors.Is(err, errNotFound) {
		return nil, nil, err
	} else {
		dk = make([]byte, 32)
		if _, err := rand.Read(dk); err != nil {
			return nil, nil, err
		}
		wrapped = seal(pk.master, dk, []byte(member))
	}
	plain, err := json.Marshal(data)
	if err != nil {
		return nil, nil, err
	}
	a, err := newAEAD(dk)
	if err != nil {
		return nil, nil, err
	}
	return wrapped, seal(a, plain, []byte(member)), nil
}
