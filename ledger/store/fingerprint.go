package store

import (
	"crypto/hmac"
	"crypto/sha256"

	"tally/ledger"
)

// fingerprintKey derives the key of request fingerprints from the master
// key of personal data: a backup carries the master key, so a restored
// store answers a retried request as the original did.
func fingerprintKey(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("tally/idempotency-fingerprint/v1"))
	return m.Sum(nil)
}

// subjectFingerprint keys a request's fingerprint (keyedFingerprint)
// with the data key of each person whose personal data the request wrote
// (idemRecord.Subjects). A person erased since has no key: the record can
// no longer be compared with a retry (idempotency_conflict).
func (s *Store) subjectFingerprint(k kv, fp [32]byte, subjects []string) ([32]byte, error) {
	for _, who := range subjects {
		dk, err := s.pk.dataKey(k, who)
		if ledger.IsCode(err, ledger.CodeNotFound) {
			return fp, ledger.Errorf(ledger.CodeIdempotencyConflict,
				"this Idempotency-Key was used with a request that carried personal data of someone since erased; it cannot be compared or replayed")
		}
		if err != nil {
			return fp, err
		}
		m := hmac.New(sha256.New, dk)
		m.Write([]byte("tally/idempotency-subject/v1\x00"))
		m.Write(fp[:])
		copy(fp[:], m.Sum(nil))
	}
	return fp, nil
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
