package ledger

import (
	"errors"
	"strings"
	"testing"
)

// TestInsufficientFundsSaysWhatIsLeft: under a credit limit the refusal
// tells how much more may be spent, not only the (negative) available.
func TestInsufficientFundsSaysWhatIsLeft(t *testing.T) {
	a := &Account{ID: "n2:HOUR", Unit: HOUR, Guard: GuardCreditLimit, CreditLimit: 500, DebitsPosted: 400}
	if err := a.canDebit(100); err != nil {
		t.Fatalf("debit up to the limit: %v", err)
	}
	err := a.canDebit(200)
	var le *Error
	if !errors.As(err, &le) || le.Code != CodeInsufficientFunds {
		t.Fatalf("debit past the limit: %v, want insufficient_funds", err)
	}
	for _, want := range []string{"can spend 1.00 more", "available -4.00", "credit limit 5.00"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	b := &Account{ID: "m:HOUR", Unit: HOUR, Guard: GuardNoOverdraft, CreditsPosted: 150}
	if err := b.canDebit(200); err == nil || !strings.Contains(err.Error(), "has 1.50 available") {
		t.Fatalf("no overdraft: %v", err)
	}
}
