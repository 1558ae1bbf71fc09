package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzReceipt: a receipt (the JSON a resident keeps and mails) is read and
// verified without panicking; Verify refuses with ErrSignature,
// ErrCheckpoint, ErrMalformed or ErrProof; and it accepts only the log's
// true records at their true index — nothing made by changing a genuine
// receipt's record, index, proof or checkpoint.
func FuzzReceipt(f *testing.F) {
	m, skey, vkey := ledgerLog(f)
	m.add(f, "tx.transfer", effects(moveFx("move", "tx-3", "alice", "bob", 5)))
	note := m.checkpoint(f, "tally.test/log", skey)
	size := int64(len(m.records))
	for i := range m.records {
		proof, err := ProveInclusion(size, int64(i), m)
		if err != nil {
			f.Fatal(err)
		}
		b, err := json.Marshal(Receipt{Record: m.records[i], Index: int64(i), Proof: proof, Checkpoint: string(note)})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"record":"","leaf_index":-1,"proof":null,"checkpoint":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rc Receipt
		if json.Unmarshal(b, &rc) != nil {
			return
		}
		rec, err := rc.Verify(vkey)
		if err != nil {
			if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrCheckpoint) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrProof) {
				t.Fatalf("refused with %v, which wraps none of the receipt errors", err)
			}
			return
		}
		if rc.Index < 0 || rc.Index >= size || !bytes.Equal(rc.Record, m.records[rc.Index]) || rec.Seq != uint64(rc.Index) {
			t.Fatalf("receipt %q verified: index %d, record %x", b, rc.Index, rc.Record)
		}
		if again, err := Encode(rec); err != nil || !bytes.Equal(again, rc.Record) {
			t.Fatalf("verified record does not encode back: %v", err)
		}
	})
}

// FuzzCheckEndorsement: a key rotation's endorsement is checked without
// panicking, and only the true one verifies: by the replaced key, for
// exactly the size, root and new key it was made for.
func FuzzCheckEndorsement(f *testing.F) {
	oldSkey, oldVkey, err := GenerateCheckpointKey("tally.test/log")
	if err != nil {
		f.Fatal(err)
	}
	_, newVkey, err := GenerateCheckpointKey("tally.test/log")
	if err != nil {
		f.Fatal(err)
	}
	root := LeafHash([]byte("root"))
	const size = 42
	msg, err := EndorseRotation(oldSkey, "tally.test/log", size, root, newVkey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg, int64(size), root[:], newVkey)
	f.Add(msg, int64(size+1), root[:], newVkey)
	f.Add(msg, int64(size), root[:], oldVkey)
	f.Add(bytes.Replace(msg, []byte("42"), []byte("43"), 1), int64(43), root[:], newVkey)
	f.Fuzz(func(t *testing.T, msg []byte, n int64, r []byte, vkey string) {
		var h Hash
		copy(h[:], r)
		if CheckEndorsement(msg, oldVkey, n, h, vkey) != nil {
			return
		}
		if n != size || h != root || vkey != newVkey {
			t.Fatalf("endorsement %q verified for size %d, root %x, key %q", msg, n, h, vkey)
		}
	})
}

// FuzzCheckpointNote: a signed note read with the checkpoint readers
// never panics them; one that OpenCheckpoint accepts is not "signed by
// none of" its key, names the key's origin, and its body parses to the
// same checkpoint CheckpointBody reads; VerifierName accepts the keys
// OpenCheckpoint can use.
func FuzzCheckpointNote(f *testing.F) {
	m, skey, vkey := ledgerLog(f)
	note := m.checkpoint(f, "tally.test/log", skey)
	_, otherVkey, _ := GenerateCheckpointKey("tally.test/other")
	f.Add(note, vkey)
	f.Add(note, otherVkey)
	f.Add(append(bytes.Clone(note), note[bytes.LastIndex(note, []byte("\n\n"))+1:]...), vkey)
	f.Add([]byte("tally.test/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— tally.test/log AAAA\n"), "tally.test/log+00000000+AAAA")
	f.Fuzz(func(t *testing.T, msg []byte, key string) {
		name, nameErr := VerifierName(key)
		none := SignedByNoneOf(msg, []string{key})
		c, err := OpenCheckpoint(msg, key)
		body, bodyErr := CheckpointBody(msg)
		if err != nil {
			return
		}
		if nameErr != nil || c.Origin != name || none {
			t.Fatalf("note %q opened with %q (name %q, %v), signed by none: %v", msg, key, name, nameErr, none)
		}
		if bodyErr != nil || string(body.Body()) != string(c.Body()) {
			t.Fatalf("note %q: opened body %q, CheckpointBody %q (%v)", msg, c.Body(), body.Body(), bodyErr)
		}
	})
}
