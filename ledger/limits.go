package ledger

import "time"

// Limits. Everything that can grow is bounded, and every bound is named here
// so that the API, the docs and the tests speak of the same number.
const (
	// MaxPostings bounds the postings of one transaction.
	MaxPostings = 64
	// MaxIDLen bounds the id of a member, community, fund, project, service
	// or proposal; MaxAccountIDLen bounds account ids, which are an owner id
	// and a suffix ("<community>:issuance").
	MaxIDLen        = 64
	MaxAccountIDLen = 96
	// MaxMemoLen bounds a memo or reason, in bytes of UTF-8.
	MaxMemoLen = 500
	// MaxNameLen bounds display names and item names, in bytes of UTF-8.
	MaxNameLen = 200
	// MaxAmountMinor bounds one amount in minor units (10^13 yuan or hours):
	// far above any real figure, far below int64 overflow when summed.
	MaxAmountMinor int64 = 1_000_000_000_000_000
	// MaxIdempotencyKeyLen bounds an Idempotency-Key.
	MaxIdempotencyKeyLen = 128
	// IdempotencyRetention is how long an idempotency key is honoured at
	// least. Keys are never deleted today, which satisfies it.
	IdempotencyRetention = 7 * 24 * time.Hour
	// MaxHoldTimeout bounds the timeout of a pending transaction;
	// MinHoldTimeout is the shortest (timers are checked every second).
	MaxHoldTimeout = 366 * 24 * time.Hour
	MinHoldTimeout = time.Second
	// DefaultHoldTimeout applies when a pending transfer names none.
	DefaultHoldTimeout = 72 * time.Hour
	// MaxPageSize bounds a page of any list; DefaultPageSize is used when a
	// caller names none.
	MaxPageSize     = 500
	DefaultPageSize = 50
	// MaxRoles bounds the roles and MaxRelatives the relatives of a member.
	MaxRoles     = 8
	MaxRelatives = 32
)
