package ledger

import (
	"context"
	"time"
)

// Actor is who makes a change, and on whose behalf (代办) when a coordinator
// acts for an offline resident. Both are opaque member ids.
type Actor struct {
	ID       string
	OnBehalf string
}

// SystemActor makes the changes the ledger makes by itself (hold expiry).
var SystemActor = Actor{ID: "system"}

type actorKey struct{}

// WithActor returns ctx carrying the acting user.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the acting user carried by ctx.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Op is one state change. It runs inside the single writer, sees every
// earlier change, reads and writes through tx, records exactly one audit
// event with tx.Audit, and returns its result (JSON-encodable). If it
// returns an error, nothing it wrote is kept and its batch-mates are not
// affected.
type Op func(tx Tx) (any, error)

// Request is an Op submitted with the caller's identity and, optionally, an
// idempotency key and the fingerprint (hash) of the request it came from.
type Request struct {
	Actor       Actor
	IdemKey     string
	Fingerprint [32]byte
	Op          Op
}

// Result is what a committed request returned. Value is set on a fresh
// commit; JSON always holds the encoded result; Replayed is true when an
// idempotency key matched an earlier request and nothing was written.
type Result struct {
	Value    any
	JSON     []byte
	Seq      uint64
	Replayed bool
}

// Committer commits requests durably and serves consistent reads.
type Committer interface {
	// Submit returns once the request's change is on disk and in the audit
	// chain, or with its error. Errors: any *Error the Op returns,
	// idempotency_conflict, unavailable (store closed or disk failure).
	Submit(ctx context.Context, req Request) (Result, error)
	// View runs fn over a consistent snapshot.
	View(ctx context.Context, fn func(Reader) error) error
}

// Page asks for one page of a list: items after the cursor, at most Limit.
type Page struct {
	After   string
	Limit   int
	Reverse bool // newest first
}

// Reader reads committed state (or, inside an Op, state including the
// batch's earlier changes).
type Reader interface {
	// Account returns the account or not_found.
	Account(id string) (*Account, error)
	// Transaction returns the transaction or not_found.
	Transaction(id string) (*Transaction, error)
	// Entries returns one page of an account's history and the next cursor
	// ("" at the end).
	Entries(account string, p Page) ([]Entry, string, error)
	// Doc decodes the document kind/id into v, or returns not_found.
	Doc(kind, id string, v any) error
	// Docs lists documents of a kind in id order after p.After.
	Docs(kind string, p Page, each func(id string, raw []byte) error) (next string, err error)
	// Index lists index keys under prefix (the prefix stripped) in order.
	Index(prefix string, p Page, each func(key string, val []byte) error) (next string, err error)
	// Personal returns a member's decrypted personal data, or not_found
	// (never stored, or erased).
	Personal(member string) (map[string]string, error)
	// Head returns the number of audit records committed and the time of
	// the last one.
	Head() (size uint64, last time.Time)
}

// EachDocID calls fn with the id of every document of kind, in id order,
// a page at a time (the ids of a page are read before fn runs, so fn may
// read other documents).
func EachDocID(r Reader, kind string, fn func(id string) error) error {
	p := Page{Limit: MaxPageSize}
	for {
		var ids []string
		next, err := r.Docs(kind, p, func(id string, _ []byte) error {
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := fn(id); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		p.After = next
	}
}

// DocCache is offered by the writer's Tx: documents it decoded before,
// as they stand committed and unchanged by the batch so far. A value
// from CachedDoc is shared: the caller copies it before changing it.
// Reads that skip it are as correct, only slower.
type DocCache interface {
	CachedDoc(kind, id string) (any, bool)
	// CacheDoc offers v, just decoded by Doc(kind, id, ...), for later
	// ops; v must not be changed afterwards.
	CacheDoc(kind, id string, v any)
}

// Tx is the write side available to an Op.
type Tx interface {
	Reader
	// Seq is the sequence number of the audit record this op will append,
	// Now its commit time (never earlier than any earlier commit).
	Seq() uint64
	Now() time.Time
	Actor() Actor
	// NewID returns prefix-<seq> the first time in an op and
	// prefix-<seq>.<n> after, so ids are unique and follow the chain.
	NewID(prefix string) string
	PutAccount(a *Account) error
	PutTransaction(t *Transaction) error
	AddEntry(account string, e Entry) error
	PutDoc(kind, id string, v any) error
	DeleteDoc(kind, id string) error
	PutIndex(key string, val []byte) error
	DeleteIndex(key string) error
	// PutPersonal stores personal data encrypted under the member's own
	// data key; ErasePersonal destroys that key (PIPL erasure).
	PutPersonal(member string, data map[string]string) error
	ErasePersonal(member string) error
	// Concerns says the request carries the member's personal data
	// without storing it (a username, a password): its idempotency record
	// is keyed with the member's data key, as one that PutPersonal wrote,
	// so that nothing left after their erasure can test a guess at it.
	Concerns(member string)
	// Schedule asks for the timer handler of kind to be run for id at
	// (or soon after) at; Unschedule cancels it.
	Schedule(at time.Time, kind, id string) error
	Unschedule(at time.Time, kind, id string) error
	// Scheduled reports whether a timer of kind for id at at is still
	// waiting to run.
	Scheduled(at time.Time, kind, id string) (bool, error)
	// Effect adds a balance change to this op's audit record.
	Effect(e Effect)
	// Audit sets this op's audit record: its action and the content of the
	// change. Values are string, int64, bool, []byte, []any, map[string]any.
	Audit(action string, fields map[string]any)
	// AuditField adds one field to the record Audit set (a consequence
	// the op's caller adds to a change another package recorded).
	AuditField(key string, v any)
}

// TimerHandler returns the op to run when a timer of its kind, scheduled
// for at, fires for id. When there is nothing left to do the op should
// Unschedule(at, kind, id) and record no audit event.
type TimerHandler func(id string, at time.Time) Op

// ExpiryKindHold is the timer kind of pending transactions.
const ExpiryKindHold = "hold"
