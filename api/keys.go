package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"tally/ledger"
)

// Document kinds of the token signing keys. They are separate from the
// checkpoint key: a leaked token key must not be able to sign the log.
const (
	kindJWTKey     = "jwt_key"
	kindJWTCurrent = "jwt_key_current"
)

// jwtKey is one token signing key. Old keys stay so that tokens they
// signed are honoured until they expire: a key replaced by a rotation is
// Retired then, and honours only tokens issued before (a stolen old key
// cannot sign new ones, and no token lives longer than its kind's TTL).
type jwtKey struct {
	Kid     string    `json:"kid"`
	Seed    []byte    `json:"seed"`
	Created time.Time `json:"created"`
	Retired time.Time `json:"retired,omitzero"`
	// Ended: retired by a rotation that ended every session (a suspected
	// leak): no token it signed is honoured any more.
	Ended bool `json:"ended,omitempty"`
}

type keyring struct {
	mu      sync.RWMutex
	current string
	private map[string]ed25519.PrivateKey
	public  map[string]ed25519.PublicKey
	retired map[string]time.Time
	ended   map[string]bool
}

func (k *keyring) signer() (string, ed25519.PrivateKey) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current, k.private[k.current]
}

// retireUnmarked retires the keys replaced before keys recorded their
// retirement (rotations made by an older version): each as of the
// creation of the key created after it, the current one excepted.
func (k *keyring) retireUnmarked(keys []jwtKey) {
	slices.SortFunc(keys, func(a, b jwtKey) int { return a.Created.Compare(b.Created) })
	for i, key := range keys {
		if key.Kid == k.current || !key.Retired.IsZero() {
			continue
		}
		at := time.Now()
		if i+1 < len(keys) {
			at = keys[i+1].Created
		}
		k.retired[key.Kid] = at
	}
}

// verifier returns the public key of kid and when it was retired (zero
// for the current key); a key whose sessions were ended is unknown.
func (k *keyring) verifier(kid string) (ed25519.PublicKey, time.Time, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	pub, ok := k.public[kid]
	return pub, k.retired[kid], ok && !k.ended[kid]
}

func (k *keyring) add(key jwtKey) {
	priv := ed25519.NewKeyFromSeed(key.Seed)
	k.private[key.Kid] = priv
	k.public[key.Kid] = priv.Public().(ed25519.PublicKey)
	if !key.Retired.IsZero() {
		k.retired[key.Kid] = key.Retired
	}
	if key.Ended {
		k.ended[key.Kid] = true
	}
}

// loadKeys reads every token key, creating the first one on a new ledger.
func (s *Server) loadKeys(ctx context.Context) error {
	k := &keyring{private: map[string]ed25519.PrivateKey{}, public: map[string]ed25519.PublicKey{}, retired: map[string]time.Time{}, ended: map[string]bool{}}
	err := s.ledger.View(ctx, func(r ledger.Reader) error {
		keys, err := allTokenKeys(r)
		if err != nil {
			return err
		}
		for _, key := range keys {
			k.add(key)
		}
		var cur string
		if err := r.Doc(kindJWTCurrent, "current", &cur); err != nil && !ledger.IsCode(err, ledger.CodeNotFound) {
			return err
		}
		k.current = cur
		k.retireUnmarked(keys)
		if _, ok := k.private[cur]; cur != "" && !ok {
			return fmt.Errorf("api: the current token key %s is not stored (a damaged data directory)", cur)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.keys = k
	if k.current == "" {
		_, err = s.RotateTokenKey(ctx)
	}
	return err
}

// RotateTokenKey makes a new token signing key current and records
// "jwt.key.rotate" with its public key. Tokens signed by older keys stay
// valid until they expire. The record names who rotated: the admin calling
// the route, or the system at first start.
func (s *Server) RotateTokenKey(ctx context.Context) (string, error) {
	key, err := newJWTKey()
	if err != nil {
		return "", err
	}
	actor, p := ledger.SystemActor, PrincipalFrom(ctx)
	if p != nil {
		actor = p.actor()
	}
	s.rotating.Lock()
	defer s.rotating.Unlock()
	if _, err := s.ledger.Submit(ctx, ledger.Request{Actor: actor, Op: s.authorized(p, tokenKeyOp(key, "", false))}); err != nil {
		return "", fmt.Errorf("api: rotate token key: %w", err)
	}
	s.useTokenKey(*key, false)
	return key.Kid, nil
}

// newJWTKey draws a token signing key and its id.
func newJWTKey() (*jwtKey, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	idb := make([]byte, 8)
	if _, err := rand.Read(idb); err != nil {
		return nil, err
	}
	return &jwtKey{Kid: hex.EncodeToString(idb), Seed: seed}, nil
}

// tokenKeyOp stores key as the current token signing key and retires the
// one it replaces ("jwt.key.rotate", with reason when one is given); with
// endSessions every older key is ended (end_sessions in the record). Its
// value is the rotation's answer.
func tokenKeyOp(key *jwtKey, reason string, endSessions bool) ledger.Op {
	return func(tx ledger.Tx) (any, error) {
		key.Created = tx.Now()
		fields := map[string]any{}
		var old string
		if err := tx.Doc(kindJWTCurrent, "current", &old); err != nil && !ledger.IsCode(err, ledger.CodeNotFound) {
			return nil, err
		}
		if endSessions {
			if err := endKeys(tx, key.Created); err != nil {
				return nil, err
			}
			fields["end_sessions"] = true
		}
		if old != "" {
			var prev jwtKey
			if err := tx.Doc(kindJWTKey, old, &prev); err != nil {
				return nil, err
			}
			if prev.Retired.IsZero() {
				prev.Retired = key.Created
			}
			if err := tx.PutDoc(kindJWTKey, old, &prev); err != nil {
				return nil, err
			}
			fields["retired"] = old
		}
		if err := tx.PutDoc(kindJWTKey, key.Kid, key); err != nil {
			return nil, err
		}
		if err := tx.PutDoc(kindJWTCurrent, "current", key.Kid); err != nil {
			return nil, err
		}
		pub := ed25519.NewKeyFromSeed(key.Seed).Public().(ed25519.PublicKey)
		fields["kid"], fields["public_key"] = key.Kid, base64.StdEncoding.EncodeToString(pub)
		if reason != "" {
			fields["reason"] = reason
		}
		tx.Audit("jwt.key.rotate", fields)
		return KeyRotation{Kid: key.Kid}, nil
	}
}

// allTokenKeys reads every token key, page by page: a ledger rotated
// more than a page's worth of times once lost its current key at restart.
func allTokenKeys(r ledger.Reader) ([]jwtKey, error) {
	var keys []jwtKey
	for pg := (ledger.Page{Limit: ledger.MaxPageSize}); ; {
		next, err := r.Docs(kindJWTKey, pg, func(_ string, raw []byte) error {
			var key jwtKey
			if err := jsonUnmarshal(raw, &key); err != nil {
				return err
			}
			if len(key.Seed) != ed25519.SeedSize {
				// ed25519.NewKeyFromSeed panics on any other length.
				return fmt.Errorf("api: token key %q has a %d-byte seed, not %d (a damaged data directory)", key.Kid, len(key.Seed), ed25519.SeedSize)
			}
			keys = append(keys, key)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if next == "" {
			return keys, nil
		}
		pg.After = next
	}
}

// endKeys marks every stored token key ended (and retired at, if it was
// not yet): a rotation that ends every session.
func endKeys(tx ledger.Tx, at time.Time) error {
	keys, err := allTokenKeys(tx)
	if err != nil {
		return err
	}
	for _, key := range keys {
		if key.Ended {
			continue
		}
		key.Ended = true
		if key.Retired.IsZero() {
			key.Retired = at
		}
		if err := tx.PutDoc(kindJWTKey, key.Kid, &key); err != nil {
			return err
		}
	}
	return nil
}

// RotateTokenKeyOp is tokenKeyOp with a new key, for a rotation made on a
// stopped server's directory (tally restore); reason enters the record.
func RotateTokenKeyOp(reason string) (ledger.Op, error) {
	key, err := newJWTKey()
	if err != nil {
		return nil, err
	}
	return tokenKeyOp(key, reason, false), nil
}

// useTokenKey makes a committed key current in memory and retires the
// one it replaced as of the key's creation; with endSessions every older
// key is ended.
func (s *Server) useTokenKey(key jwtKey, endSessions bool) {
	s.keys.mu.Lock()
	if old := s.keys.current; old != "" && old != key.Kid {
		if _, ok := s.keys.retired[old]; !ok {
			s.keys.retired[old] = key.Created
		}
	}
	if endSessions {
		for kid := range s.keys.public {
			s.keys.ended[kid] = true
			if _, ok := s.keys.retired[kid]; !ok {
				s.keys.retired[kid] = key.Created
			}
		}
	}
	s.keys.add(key)
	s.keys.current = key.Kid
	s.keys.mu.Unlock()
	// Tokens verified before are checked again against the retirement.
	s.tokenCache.clear()
}
