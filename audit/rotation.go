package audit

import (
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// A checkpoint key hands over to its successor: the key.rotate record
// carries an "endorsement", a signed note by the key it replaces whose
// text names the log's origin, the size of the tree before the record
// (its seq), that tree's root and the new verifier key (rotationText).
// Without it, anyone able to edit an export could add a key.rotate record
// of their own after any real checkpoint and sign everything after with
// their own key; with it, only the holder of the replaced key can put a
// new one in force (docs/AUDIT.md §3.2).

// rotationText is the text a rotation's endorsement signs.
func rotationText(origin string, size int64, root Hash, vkey string) string {
	return fmt.Sprintf("tally checkpoint key rotation\n%s\n%d\n%s\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]), vkey)
}

// EndorseRotation signs, with the replaced key's signer key, the handover
// to vkey of the log whose tree of size records has root.
func EndorseRotation(signer, origin string, size int64, root Hash, vkey string) ([]byte, error) {
	s, err := note.NewSigner(signer)
	if err != nil {
		return nil, fmt.Errorf("audit: endorsement signer: %w", err)
	}
	return note.Sign(&note.Note{Text: rotationText(origin, size, root, vkey)}, s)
}

// CheckEndorsement reports whether msg is the endorsement, by the key
// oldVkey, of the rotation to vkey after the tree of size records with
// root.
func CheckEndorsement(msg []byte, oldVkey string, size int64, root Hash, vkey string) error {
	v, err := note.NewVerifier(oldVkey)
	if err != nil {
		return fmt.Errorf("the replaced key: %w", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return fmt.Errorf("not signed by the key it replaces: %w", err)
	}
	if n.Text != rotationText(v.Name(), size, root, vkey) {
		return errors.New("it endorses another rotation (origin, size, root or new key differ)")
	}
	return nil
}
