package fund

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"tally/ledger"
	"tally/ledger/community"
)

// Donor kinds.
const (
	DonorPerson       = "person"
	DonorCompany      = "company"
	DonorOrganisation = "organisation"
)

var donorKinds = []string{DonorPerson, DonorCompany, DonorOrganisation}

// commitSaltLen is the length of the random salt of an anonymous donor's
// commitment: long enough that the commitment cannot be guessed from a
// list of donor ids.
const commitSaltLen = 16

// Donation is one gift of money to a fund. Donor is a member id, a
// pseudonym, or the name of a company, organisation or person as the
// coordinator records it. This document is off the chain; the chain holds
// the donor in clear only when that is no personal data (see Committed).
type Donation struct {
	ID        string `json:"id"`
	Fund      string `json:"fund"`
	Receipt   string `json:"receipt"`
	Donor     string `json:"donor"`
	DonorKind string `json:"donor_kind"`
	Amount    int64  `json:"amount"` // fen
	Project   string `json:"project,omitempty"`
	Anonymous bool   `json:"anonymous,omitempty"`
	// Salt opens the chain's commitment to an anonymous donor:
	// hex(SHA-256(salt ‖ donor)). Auditors read the donor here and check it
	// against the chain; the public, holding only a receipt, cannot.
	Salt string `json:"salt,omitempty"`
	// Committed: the chain holds Commitment (DonorCommitment(Salt, the
	// donor)), not the donor.
	Committed  bool   `json:"committed,omitempty"`
	Commitment string `json:"commitment,omitempty"`
	// Sealed: the donor is a person named by name, not a member. A name is
	// personal data: it is kept in the encrypted personal store under
	// DonorSubject(ID), with a data key of its own that EraseDonor
	// destroys (PIPL), and Donor is empty here. DonorErased: it was.
	Sealed      bool      `json:"sealed,omitempty"`
	DonorErased bool      `json:"donor_erased,omitempty"`
	Tx          string    `json:"tx"`
	Time        time.Time `json:"time"`
	Seq         uint64    `json:"seq"`
	// Reversal is the transaction that corrected a donation recorded in
	// error (ReverseDonation), with when and why.
	Reversal       string    `json:"reversal,omitempty"`
	ReversedAt     time.Time `json:"reversed_at,omitzero"`
	ReversalReason string    `json:"reversal_reason,omitempty"`
	ReversalSeq    uint64    `json:"reversal_seq,omitempty"` // its audit record
}

// NewDonation describes a donation to record.
type NewDonation struct {
	Fund      string
	Donor     string
	DonorKind string // person when empty
	Amount    int64
	Project   string // "" = unrestricted
	Anonymous bool
}

// Donate records a donation inside tx: money moves from the fund's
// donations account to its unrestricted or project account, the donation
// gets the fund's next receipt number, and "donation.create" is recorded.
// An anonymous donor enters the chain only as a salted commitment.
// Errors: not_found (fund, project), invalid_id, invalid_request,
// invalid_amount, and ledger.Transfer's errors.
func Donate(tx ledger.Tx, n NewDonation) (*Donation, error) {
	f, err := Get(tx, n.Fund)
	if err != nil {
		return nil, err
	}
	to, err := f.Source(n.Project)
	opened := false
	if ledger.IsCode(err, ledger.CodeNotFound) && n.Project != "" {
		// A donation restricted (定向) to a project the fund does not have
		// yet opens it, named by its id (as POST /v1/funds/{id}/projects
		// would, and by the same staff): the money is then held for it.
		if err := addProject(tx, f, NewProject{ID: n.Project, Name: n.Project}); err != nil {
			return nil, err
		}
		opened = true
		to, err = f.Source(n.Project)
	}
	if err != nil {
		return nil, err
	}
	d, err := newDonation(tx, f, n)
	if err != nil {
		return nil, err
	}
	t, err := ledger.Transfer(tx, ledger.TransferSpec{Kind: "donation", Memo: "receipt " + d.Receipt,
		Postings: []ledger.Posting{{From: f.Accounts[AcctDonations], To: to, Amount: n.Amount, Unit: ledger.CNY}}})
	if err != nil {
		return nil, err
	}
	d.Tx = t.ID
	if err := saveDonation(tx, f, d); err != nil {
		return nil, err
	}
	fields := donationFields(d, t)
	if opened {
		p := f.Projects[n.Project]
		fields["project_created"] = map[string]any{"id": p.ID, "name": p.Name, "account": p.Account}
	}
	tx.Audit("donation.create", fields)
	return d, nil
}

func newDonation(tx ledger.Tx, f *Fund, n NewDonation) (*Donation, error) {
	if err := ledger.CheckName("donor", n.Donor, ledger.MaxNameLen); err != nil {
		return nil, err
	}
	if ledger.Blank(n.Donor) {
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "fund: donor is required")
	}
	if n.DonorKind == "" {
		n.DonorKind = DonorPerson
	}
	if !slices.Contains(donorKinds, n.DonorKind) {
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "fund: donor_kind must be one of %v", donorKinds)
	}
	if n.Amount <= 0 || n.Amount > ledger.MaxAmountMinor {
		return nil, ledger.Errorf(ledger.CodeInvalidAmount, "fund: amount out of range")
	}
	if n.DonorKind != DonorPerson {
		// A company's or organisation's name enters the chain and the
		// public page in clear: no phone or ID-card number there.
		if err := ledger.CheckNoPersonalNumber("donor", n.Donor); err != nil {
			return nil, err
		}
	} else if err := ledger.CheckNoPersonalNumberInText("donor", n.Donor); err != nil {
		// A person's name is shown on the public page unless anonymous:
		// a number typed beside it would be too.
		return nil, err
	}
	f.Receipts++
	d := &Donation{ID: tx.NewID("don"), Fund: f.ID, Receipt: fmt.Sprintf("%s-%06d", f.ID, f.Receipts),
		Donor: n.Donor, DonorKind: n.DonorKind, Amount: n.Amount, Project: n.Project, Anonymous: n.Anonymous,
		Time: tx.Now(), Seq: tx.Seq()}
	// The chain names a donor in clear only when that is no personal data:
	// a company, an organisation, or a member's opaque id. Anonymous
	// donors and people named by name get a salted commitment instead.
	fm, err := fundMember(tx, f, n.Donor)
	if err != nil {
		return nil, err
	}
	member := fm != nil
	if member && n.DonorKind != DonorPerson {
		// A member is a person: shown as a company or organisation, the
		// public page and the chain would call them one (probe s27i).
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "fund: donor %s is a member of the fund's community, a person: give donor_kind person (or leave it out), or the company's or organisation's own name", n.Donor)
	}
	if member && n.DonorKind == DonorPerson {
		// Named in clear by their id: an erased member gives nothing new.
		if err := community.NotErased(fm); err != nil {
			return nil, err
		}
	}
	d.Committed = n.Anonymous || (n.DonorKind == DonorPerson && !member)
	if d.Committed {
		salt := make([]byte, commitSaltLen)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("fund: salt: %w", err)
		}
		d.Salt = hex.EncodeToString(salt)
		d.Commitment = DonorCommitment(d.Salt, n.Donor)
	}
	if n.DonorKind == DonorPerson && !member {
		// The name and the salt that opens its commitment are personal
		// data: both live under the donation's own data key, so that an
		// erasure leaves nothing to test a guessed name against.
		if err := tx.PutPersonal(DonorSubject(d.ID), map[string]string{donorField: n.Donor, saltField: d.Salt}); err != nil {
			return nil, err
		}
		d.Sealed, d.Donor, d.Salt = true, "", ""
	}
	return d, nil
}

// fundMember returns the member donor names when it is the id of a member
// of f's community or below it, else nil. A member elsewhere is taken as a name, as an unknown id
// is: whether the id exists outside the recorder's scope is not theirs to
// learn (a member id is shown in clear, a name sealed).
func fundMember(r ledger.Reader, f *Fund, donor string) (*community.Member, error) {
	m, err := community.GetMember(r, donor)
	if ledger.IsCode(err, ledger.CodeNotFound) || err == nil && m.Community == "" {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := community.Get(r, m.Community)
	if err != nil || !c.Within(f.Community) {
		return nil, err
	}
	return m, nil
}

// Personal-store fields of a sealed donor: the name, and the salt of the
// chain's commitment to it.
const (
	donorField = "donor"
	saltField  = "salt"
)

// DonorSubject names a sealed donor in the personal store: "donation/"
// and the donation's id ('/' is in no member id, so it names no member).
func DonorSubject(donation string) string { return "donation/" + donation }

// DonorName returns the donor as staff and auditors see it, with the salt
// that opens the chain's commitment: for a sealed donor both are read
// from the personal store, and both are "" with erased true once
// EraseDonor destroyed them.
func DonorName(r ledger.Reader, d *Donation) (name, salt string, erased bool, err error) {
	if !d.Sealed {
		return d.Donor, d.Salt, false, nil
	}
	if d.DonorErased {
		return "", "", true, nil
	}
	p, err := r.Personal(DonorSubject(d.ID))
	if err != nil {
		return "", "", false, err
	}
	return p[donorField], p[saltField], false, nil
}

// EraseDonor destroys the name of a donation's donor, a person named by
// name (PIPL right to deletion; "donation.erase_donor"). The donation,
// its money and its record stay; the chain, which holds only the salted
// commitment, still verifies. A member donor is erased with the member;
// a company's or organisation's name is no personal data.
// Errors: not_found, conflict, invalid_request.
func EraseDonor(tx ledger.Tx, id, reason string) (*Donation, error) {
	if err := ledger.CheckChainText("reason", reason, ledger.MaxMemoLen); err != nil {
		return nil, err
	}
	d := &Donation{}
	if err := tx.Doc(KindDonation, id, d); err != nil {
		return nil, err
	}
	switch {
	case !d.Sealed && d.DonorKind == DonorPerson:
		if m, err := community.GetMember(tx, d.Donor); err == nil && m.Erased {
			return nil, ledger.Errorf(ledger.CodeConflict, "fund: the donor of %s is member %s, erased already: their personal data is gone, and the donation names them by their opaque id only", id, d.Donor)
		}
		return nil, ledger.Errorf(ledger.CodeConflict, "fund: the donor of %s is a member, named by id; erase the member instead", id)
	case !d.Sealed:
		return nil, ledger.Errorf(ledger.CodeConflict, "fund: the donor of %s is a company or organisation (%s); its name is no personal data", id, d.DonorKind)
	case d.DonorErased:
		return nil, ledger.Errorf(ledger.CodeConflict, "fund: the donor of %s is already erased", id)
	}
	if err := tx.ErasePersonal(DonorSubject(d.ID)); err != nil {
		return nil, err
	}
	d.DonorErased = true
	if err := tx.PutDoc(KindDonation, d.ID, d); err != nil {
		return nil, err
	}
	f := map[string]any{"id": d.ID, "fund": d.Fund, "receipt": d.Receipt}
	if reason != "" {
		f["reason"] = reason // the request's reference, never personal data
	}
	tx.Audit("donation.erase_donor", f)
	return d, nil
}

func saveDonation(tx ledger.Tx, f *Fund, d *Donation) error {
	if err := save(tx, f); err != nil {
		return err
	}
	if err := tx.PutDoc(KindDonation, d.ID, d); err != nil {
		return err
	}
	if err := tx.PutIndex(indexKey(f.ID, idxDonation, d.Seq), []byte(d.ID)); err != nil {
		return err
	}
	return disclose(tx, f.ID)
}

// DonorCommitment returns hex(SHA-256(salt ‖ donor)) of an anonymous
// donation, the value its audit record holds instead of the donor.
func DonorCommitment(saltHex, donor string) string {
	salt, _ := hex.DecodeString(saltHex)
	h := sha256.Sum256(append(salt, donor...))
	return hex.EncodeToString(h[:])
}

func donationFields(d *Donation, t *ledger.Transaction) map[string]any {
	m := map[string]any{"id": d.ID, "fund": d.Fund, "receipt": d.Receipt, "donor_kind": d.DonorKind,
		"amount": d.Amount, "unit": string(ledger.CNY), "project": d.Project, "anonymous": d.Anonymous,
		"tx": ledger.TxFields(t)}
	if d.Committed || d.Anonymous {
		m["donor_commitment"] = d.Commitment
	} else {
		m["donor"] = d.Donor
	}
	return m
}

// Donations lists one page of a fund's donations in commit order (newest
// first with p.Reverse) and the next cursor.
func Donations(r ledger.Reader, fund string, p ledger.Page) ([]*Donation, string, error) {
	var out []*Donation
	next, err := r.Index(indexPrefix(fund)+idxDonation+"/", p, func(_ string, id []byte) error {
		d := &Donation{}
		if err := r.Doc(KindDonation, string(id), d); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	return out, next, err
}

// ReverseDonation corrects a donation recorded in error (a mistyped
// amount, the wrong fund): a reversal naming the donation's transaction
// and the reason moves the money back out of the fund, and
// "donation.reverse" is recorded. The receipt stays, marked reversed, in
// the disclosure. Money already held by proposals cannot be taken back
// (insufficient_funds). Errors: not_found, invalid_request,
// already_reversed, and ledger.Reverse's errors.
func ReverseDonation(tx ledger.Tx, id, reason string) (*Donation, error) {
	d := &Donation{}
	if err := tx.Doc(KindDonation, id, d); err != nil {
		return nil, err
	}
	if d.Reversal != "" {
		return nil, ledger.Errorf(ledger.CodeAlreadyReversed, "fund: donation %s was already reversed by %s", id, d.Reversal)
	}
	if err := ledger.CheckChainText("reason", reason, ledger.MaxMemoLen); err != nil {
		return nil, err
	}
	if ledger.Blank(reason) {
		return nil, ledger.Errorf(ledger.CodeInvalidRequest, "fund: a reversal needs a reason")
	}
	// A reversed donation goes back to its donor: staff do not reverse
	// their own or a relative's (a donor that is no member has no
	// relatives on record).
	if err := community.NoConflict(tx, tx.Actor().ID, d.Donor, "reversing a donation"); err != nil {
		return nil, err
	}
	r, err := ledger.Reverse(tx, d.Tx, reason)
	if err != nil {
		return nil, err
	}
	d.Reversal, d.ReversedAt, d.ReversalReason, d.ReversalSeq = r.ID, tx.Now(), reason, tx.Seq()
	if err := tx.PutDoc(KindDonation, d.ID, d); err != nil {
		return nil, err
	}
	f, err := Get(tx, d.Fund)
	if err != nil {
		return nil, err
	}
	if f.ReversalsIndexed {
		if err := tx.PutIndex(indexKey(f.ID, idxReversal, d.ReversalSeq), []byte(d.ID)); err != nil {
			return nil, err
		}
	}
	if err := disclose(tx, d.Fund); err != nil {
		return nil, err
	}
	tx.Audit("donation.reverse", map[string]any{"id": d.ID, "fund": d.Fund, "receipt": d.Receipt,
		"amount": d.Amount, "unit": string(ledger.CNY), "reason": reason, "tx": ledger.TxFields(r)})
	return d, nil
}
