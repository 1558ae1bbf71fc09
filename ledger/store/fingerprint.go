package store

import (
	"crypto/hmac"
	"crypto/sha256"
)

// fingerprintKey derives the key of request fingerprints from the master
// key of personal data: a backup carries the master key, so a restored
// store answers a retried request as the original did.
func fingerprintKey(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("tally/idempotency-fingerprint/v1"))
	return m.Sum(nil)
}

// keyedFingerprint is HMAC-SHA256(fpKey, fp): what an idempotency record
// keeps of its request. Without the key, the chained hash of the record
// cannot be used to test a guess at the request's body.
func (s *Store) keyedFingerprint(fp [32]byte) [32]byte {
	m := hmac.New(sha256.New, s.fpKey)
	m.Write(fp[:])
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}
