package api

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"tally/ledger"
)

// keyDocs is a ledger whose stored token keys are the given bytes: every
// jwt_key document holds val, the current key's id doc holds cur.
type keyDocs struct{ val, cur []byte }

func (k keyDocs) Submit(context.Context, ledger.Request) (ledger.Result, error) {
	return ledger.Result{}, ledger.Errorf(ledger.CodeUnavailable, "read-only in this test")
}

func (k keyDocs) View(_ context.Context, fn func(ledger.Reader) error) error { return fn(k) }

func (k keyDocs) Account(string) (*ledger.Account, error) {
	return nil, ledger.Errorf(ledger.CodeNotFound, "none")
}
func (k keyDocs) Transaction(string) (*ledger.Transaction, error) {
	return nil, ledger.Errorf(ledger.CodeNotFound, "none")
}
func (k keyDocs) Entries(string, ledger.Page) ([]ledger.Entry, string, error) { return nil, "", nil }
func (k keyDocs) Doc(kind, id string, v any) error {
	if kind == kindJWTCurrent && k.cur != nil {
		return json.Unmarshal(k.cur, v)
	}
	return ledger.Errorf(ledger.CodeNotFound, "none")
}
func (k keyDocs) Docs(kind string, p ledger.Page, each func(string, []byte) error) (string, error) {
	if kind != kindJWTKey || p.After != "" {
		return "", nil
	}
	return "", each("k", k.val)
}
func (k keyDocs) Index(string, ledger.Page, func(string, []byte) error) (string, error) {
	return "", nil
}
func (k keyDocs) Personal(string) (map[string]string, error) {
	return nil, ledger.Errorf(ledger.CodeNotFound, "none")
}
func (k keyDocs) Head() (uint64, time.Time) { return 0, time.Time{} }

// FuzzStoredTokenKeys: the token keys a server loads at start (stored
// jwt_key documents and the current key's id) are read without a panic,
// whatever the stored bytes: a damaged key is an error at start, as a
// missing current key is, and a key the server goes on with can sign.
func FuzzStoredTokenKeys(f *testing.F) {
	good, _ := json.Marshal(jwtKey{Kid: "0123456789abcdef", Seed: make([]byte, ed25519.SeedSize), Created: time.Unix(1, 0).UTC()})
	f.Add(good, []byte(`"0123456789abcdef"`))
	f.Add(good, []byte(`"other"`))
	f.Add([]byte(`{bad`), []byte(`1`))
	f.Fuzz(func(t *testing.T, val, cur []byte) {
		s := &Server{ledger: keyDocs{val: val, cur: cur}}
		if err := s.loadKeys(context.Background()); err != nil {
			return
		}
		kid, priv := s.keys.signer()
		if len(priv) != ed25519.PrivateKeySize {
			t.Fatalf("keys %q (current %q) loaded: current %q has a %d-byte key", val, cur, kid, len(priv))
		}
		pub, _, ok := s.keys.verifier(kid)
		if msg := []byte("x"); ok && !ed25519.Verify(pub, msg, ed25519.Sign(priv, msg)) {
			t.Fatalf("keys %q: current key %q does not verify its own signature", val, kid)
		}
	})
}
