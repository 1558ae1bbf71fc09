package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tally/audit"
	"tally/ledger"
)

// CheckpointInterval is how often RunCheckpointer signs a checkpoint when
// the log has grown: a receipt is at most about this far behind a commit.
const CheckpointInterval = time.Second

// Where the checkpoint signing key lives: one store document, written by
// the key.create and key.rotate records' ops. It holds the private key,
// so it is never exported; only its verifier keys are.
const (
	checkpointKeyKind = "checkpoint_key"
	checkpointKeyID   = "current"
	// originSuffixBytes is the randomness of a default origin.
	originSuffixBytes = 6
	// DefaultOriginPrefix starts a generated origin.
	DefaultOriginPrefix = "tally.local/"
)

// ErrNoCheckpointKey is returned by Checkpoint before EnsureCheckpointKey.
var ErrNoCheckpointKey = errors.New("store: no checkpoint key")

// signingKey is the stored signing key and the verifier keys before it.
type signingKey struct {
	Origin   string   `json:"origin"`
	Signer   string   `json:"skey"`
	Verifier string   `json:"vkey"`
	Previous []string `json:"previous,omitempty"` // older verifier keys, oldest first
}

func loadCheckpointKey(k kv) (*signingKey, error) {
	ck := &signingKey{}
	if err := (reader{kv: k}).Doc(checkpointKeyKind, checkpointKeyID, ck); err != nil {
		return nil, err
	}
	return ck, nil
}

// EnsureCheckpointKey creates the checkpoint signing key on first start,
// as a key.create record, and returns the current verifier key. origin
// names the log in every checkpoint; "" makes DefaultOriginPrefix and a
// random suffix. An existing key is kept, whatever origin is given.
// Errors: invalid_request (an origin a note key cannot be named),
// unavailable.
func (s *Store) EnsureCheckpointKey(ctx context.Context, origin string) (string, error) {
	if origin == "" {
		suffix := make([]byte, originSuffixBytes)
		if _, err := rand.Read(suffix); err != nil {
			return "", fmt.Errorf("store: origin: %w", err)
		}
		origin = DefaultOriginPrefix + hex.EncodeToString(suffix)
	}
	// Read first: a store held until its log is verified takes no write,
	// and one that has its key needs none.
	var have signingKey
	err := s.View(ctx, func(r ledger.Reader) error { return r.Doc(checkpointKeyKind, checkpointKeyID, &have) })
	if err == nil {
		return have.Verifier, nil
	} else if !ledger.IsCode(err, ledger.CodeNotFound) {
		return "", err
	}
	res, err := s.Submit(ctx, ledger.Request{Actor: ledger.SystemActor, Op: func(tx ledger.Tx) (any, error) {
		var ck signingKey
		if err := tx.Doc(checkpointKeyKind, checkpointKeyID, &ck); err == nil {
			return ck.Verifier, nil
		} else if !ledger.IsCode(err, ledger.CodeNotFound) {
			return nil, err
		}
		return putCheckpointKey(tx, ledger.Actor{}, &signingKey{Origin: origin}, audit.ActionKeyCreate)
	}})
	if err != nil {
		return "", err
	}
	return res.Value.(string), nil
}

// CheckOrigin reports whether origin can name a checkpoint key ("" is
// the default origin), so that a server refuses a bad TALLY_ORIGIN before
// it initialises anything.
func CheckOrigin(origin string) error {
	if origin == "" {
		return nil
	}
	if _, _, err := audit.GenerateCheckpointKey(origin); err != nil {
		return fmt.Errorf("origin %q cannot name a checkpoint key", origin)
	}
	return nil
}

// RotateCheckpointKey replaces the signing key with a new one of the same
// origin, as a key.rotate record made by the actor in ctx (the system
// when none). Checkpoints of trees that contain the record are signed
// with the new key; older ones still verify with the old verifier key,
// which VerifierKeys keeps. Errors: not_found (no key yet), unavailable.
func (s *Store) RotateCheckpointKey(ctx context.Context) (string, error) {
	actor, ok := ledger.ActorFrom(ctx)
	if !ok {
		actor = ledger.SystemActor
	}
	res, err := s.Submit(ctx, ledger.Request{Actor: actor, Op: RotateCheckpointKeyOp})
	if err != nil {
		return "", err
	}
	return res.Value.(string), nil
}

// RotateCheckpointKeyOp is the rotation as an op, for callers that submit
// it themselves (the API, with the request's Idempotency-Key); its value
// is the new verifier key.
func RotateCheckpointKeyOp(tx ledger.Tx) (any, error) {
	var ck signingKey
	if err := tx.Doc(checkpointKeyKind, checkpointKeyID, &ck); err != nil {
		return nil, err
	}
	// The old key's last act: a checkpoint of the tree just before the
	// key.rotate record, in the same commit. Every record before the
	// rotation is then signed by the key it was written under, and a log
	// that leaves the old key's checkpoints out fails verification (key).
	o, ok := tx.(*opTx)
	if !ok {
		return nil, fmt.Errorf("store: a checkpoint key rotates in the store's own commit")
	}
	size, _ := o.Head()
	root, err := audit.TreeHash(int64(size), hashReader{o})
	if err != nil {
		return nil, fmt.Errorf("store: root before the rotation: %w", err)
	}
	note, err := audit.SignCheckpoint(audit.Checkpoint{Origin: ck.Origin, Size: int64(size), Hash: root}, ck.Signer)
	if err != nil {
		return nil, err
	}
	o.set(checkpointKey(size), note)
	next := &signingKey{Origin: ck.Origin, Previous: append(ck.Previous, ck.Verifier)}
	vkey, err := putCheckpointKey(tx, tx.Actor(), next, audit.ActionKeyRotate)
	if err != nil {
		return nil, err
	}
	// ... and its handover: it endorses its successor, so that only the
	// holder of this key can put another in force (audit/rotation.go).
	endorsement, err := audit.EndorseRotation(ck.Signer, ck.Origin, int64(size), root, vkey.(string))
	if err != nil {
		return nil, err
	}
	tx.AuditField("endorsement", string(endorsement))
	return vkey, nil
}

// putCheckpointKey generates ck's key pair, stores it and records the
// action with the verifier key (never the signer key) as content.
func putCheckpointKey(tx ledger.Tx, _ ledger.Actor, ck *signingKey, action string) (any, error) {
	skey, vkey, err := audit.GenerateCheckpointKey(ck.Origin)
	if err != nil {
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "origin %q cannot name a checkpoint key", ck.Origin)
	}
	ck.Signer, ck.Verifier = skey, vkey
	if err := tx.PutDoc(checkpointKeyKind, checkpointKeyID, ck); err != nil {
		return nil, err
	}
	content := map[string]any{"vkey": vkey, "origin": ck.Origin}
	if n := len(ck.Previous); n > 0 {
		content["previous"] = ck.Previous[n-1]
	}
	tx.Audit(action, content)
	return vkey, nil
}

// Checkpoint signs and stores a checkpoint of the current tree if it has
// grown since the latest one, and returns the tree size checkpointed (0
// and nil when the log is empty or has not grown). Before signing, the new
// tree is proven consistent with the latest checkpoint; if it is not, it
// returns an error wrapping audit.ErrInconsistent and signs nothing.
// Concurrent calls are safe: a note for a size is the same whoever signs
// it (Ed25519 is deterministic). Errors: ErrNoCheckpointKey, Badger's.
func (s *Store) Checkpoint(ctx context.Context) (_ uint64, err error) {
	// Badger broken under it (a file it could not open) panics in a read:
	// an error, the store marked broken, not a crash of the server.
	defer s.contain(&err)
	if s.verifying.Load() || s.damaged.Load() != nil || s.broken.Load() {
		// Nothing is signed before the log is verified, nor over a log
		// found damaged (a new checkpoint would endorse the forgery; the
		// damage is said where it was found, not at every tick), nor on a
		// broken store, whose memory may hold a batch the disk lost (a
		// commit that failed): the restart signs what the disk kept.
		return 0, nil
	}
	var size uint64
	var note []byte
	err = s.db.View(func(txn *badger.Txn) error {
		var err error
		size, note, err = s.nextCheckpoint(badgerKV{txn})
		return err
	})
	if errors.Is(err, ErrDamaged) {
		// Evidence of tampering or disk damage: appending to the log
		// would bury it under new records, so writes stop (Damaged).
		s.damaged.CompareAndSwap(nil, &err)
	}
	if err != nil || note == nil {
		return 0, err
	}
	if err := s.keepCheckpoint(size, note); err != nil {
		return 0, err
	}
	return size, nil
}

// keepCheckpoint stores a signed checkpoint of size records, and
// publishes it in the witness file when it is the largest yet.
func (s *Store) keepCheckpoint(size uint64, note []byte) error {
	if err := s.roomOnDisk(); err != nil {
		return err
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(checkpointKey(size), note) }); err != nil {
		return fmt.Errorf("store: write checkpoint: %w", err)
	}
	if s.dir != "" {
		s.witnessMu.Lock()
		defer s.witnessMu.Unlock()
		if size > s.witnessed {
			if err := writeWitness(s.dir, note); err != nil {
				return err
			}
			s.witnessed = size
		}
	}
	s.stats.signed(size, s.clock())
	return nil
}

// nextCheckpoint computes over one snapshot the signed checkpoint of the
// whole tree, or nil when the latest checkpoint already covers it.
func (s *Store) nextCheckpoint(k badgerKV) (uint64, []byte, error) {
	h, err := loadHead(k)
	if err != nil || h.Size == 0 {
		return 0, nil, err
	}
	prev, _, err := latestCheckpoint(k)
	if err != nil && !ledger.IsCode(err, ledger.CodeNotFound) {
		return 0, nil, err
	}
	if uint64(prev.Size) >= h.Size {
		return 0, nil, nil
	}
	ck, err := loadCheckpointKey(k)
	if ledger.IsCode(err, ledger.CodeNotFound) {
		return 0, nil, ErrNoCheckpointKey
	} else if err != nil {
		return 0, nil, err
	}
	root, err := audit.TreeHash(int64(h.Size), hashReader{k})
	if err != nil {
		return 0, nil, fmt.Errorf("%w: tree root: %w", ErrDamaged, err)
	}
	next := audit.Checkpoint{Origin: ck.Origin, Size: int64(h.Size), Hash: root}
	if err := audit.ProveCheckpoint(prev, next, hashReader{k}); err != nil {
		return 0, nil, fmt.Errorf("%w: the stored tree does not extend the last signed checkpoint: %w", ErrDamaged, err)
	}
	note, err := audit.SignCheckpoint(next, ck.Signer)
	return h.Size, note, err
}

// checkpointContained is Checkpoint with a panic inside Badger (its
// state broken by a disk that refused a new file) made the store's
// breakage, not the end of the process.
func (s *Store) checkpointContained(ctx context.Context) (n uint64, err error) {
	defer s.contain(&err)
	return s.Checkpoint(ctx)
}

// RunCheckpointer signs a checkpoint every interval (CheckpointInterval
// when 0) while the log grows, until ctx is done or the store closes.
// onError, if not nil, hears every failure (the caller logs; the store
// does not); the loop goes on, since a later tick may succeed. Call
// Checkpoint once more after it returns and before Close, so that the
// last commits are checkpointed.
func (s *Store) RunCheckpointer(ctx context.Context, interval time.Duration, onError func(error)) {
	if interval <= 0 {
		interval = CheckpointInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.quit:
			return
		case <-t.C:
			if _, err := s.checkpointContained(ctx); err != nil && onError != nil {
				onError(err)
			}
		}
	}
}
