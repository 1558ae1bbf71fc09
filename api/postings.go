package api

import (
	"context"
	"encoding/csv"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/timebank"
)

// The accounting export (SPEC §6): every posting of a community subtree in
// a period as debit and credit rows, read from the audit chain itself in
// sequence order, so the export is what the chain proves.
const (
	// MaxExportRecords bounds the audit records one export reads; a
	// longer period is refused (limit_exceeded) before anything is sent.
	MaxExportRecords = 2_000_000
	// exportChunk is how many records are read at a time.
	exportChunk = 256
	// MaxExportPageRecords bounds the records one JSON page reads: a page
	// may hold fewer rows than asked (even none) and a next cursor, when
	// the subtree's postings are sparse in the period.
	MaxExportPageRecords = 10_000
	// MaxExportAccounts bounds the accounts whose community one export
	// remembers (a district's members; about 100 bytes each): past it,
	// an account is looked up each time it is met.
	MaxExportAccounts = 1 << 17
)

// PostingRow is one side of a posted move: the debit of its source
// account or the credit of its destination. Exactly one of Debit and
// Credit is set.
type PostingRow struct {
	Seq          uint64    `json:"seq"`
	Time         time.Time `json:"time"`
	Action       string    `json:"action"`
	Tx           string    `json:"tx"`
	Account      string    `json:"account"`
	Unit         string    `json:"unit"`
	Debit        string    `json:"debit,omitempty"`
	Credit       string    `json:"credit,omitempty"`
	Counterparty string    `json:"counterparty"`
}

// PostingList is a page of the export; next is the record seq to pass as
// after for the next page, null at the end.
type PostingList struct {
	// Community, From and To echo the subtree and the period covered:
	// whole China-time days, as the RFC 3339 UTC instants they span (To
	// exclusive), whatever form from and to were given in.
	Community string       `json:"community"`
	From      time.Time    `json:"from"`
	To        time.Time    `json:"to"`
	Items     []PostingRow `json:"items"`
	Next      *uint64      `json:"next"`
}

func (s *Server) postingsRoute() route {
	return route{method: "GET", path: "/v1/reports/postings",
		summary: "Accounting export: every posting of a community subtree in a period as debit and credit rows, from the audit chain; Accept: text/csv for all rows as CSV",
		tag:     "reports", auth: authenticated, roles: tbReaders, query: []string{"community!", "from", "to", "after:int", "limit:int"},
		resp: PostingList{}, csv: true, status: 200, handle: s.postings}
}

func (s *Server) postings(c *gin.Context) {
	a := s.auditLog(c)
	if a == nil {
		return
	}
	from, to, err := s.tbDayRange(c)
	if err != nil {
		fail(c, err)
		return
	}
	if to.Before(from) {
		failCode(c, ledger.CodeInvalidRequest, "from is after to")
		return
	}
	after, limit, err := seqPageQuery(c)
	if err != nil {
		fail(c, err)
		return
	}
	p, cm := principal(c), c.Query("community")
	inScope := map[string]bool{} // community ids of the subtree
	var size uint64
	if !s.view(c, func(r ledger.Reader) error {
		if err := tbCanReadQuery(r, p, cm); err != nil {
			return err
		}
		cs, err := timebank.Subtree(r, cm)
		if err != nil {
			return err
		}
		for _, x := range cs {
			inScope[x.ID] = true
		}
		size, _ = r.Head()
		return nil
	}) {
		return
	}
	ctx := c.Request.Context()
	y, m, d := to.In(timebank.DayZone).Date()
	end := time.Date(y, m, d+1, 0, 0, 0, 0, timebank.DayZone)
	first, err := firstAtOrAfter(ctx, a, size, from)
	if err == nil && after > first {
		first = min(after, size)
	}
	var last uint64
	if err == nil {
		last, err = firstAtOrAfter(ctx, a, size, end)
	}
	if err != nil {
		fail(c, err)
		return
	}
	first = min(first, last) // an after past the period's end: nothing left
	ex := &exporter{s: s, c: c, a: a, inScope: inScope, community: map[string]string{}}
	if tbWantsCSV(c) {
		if last-first > MaxExportRecords {
			failCode(c, ledger.CodeLimitExceeded, "the period holds more than %d records; narrow it", MaxExportRecords)
			return
		}
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Status(http.StatusOK)
		w := csv.NewWriter(c.Writer)
		w.Write([]string{"seq", "time", "action", "tx", "account", "unit", "debit", "credit", "counterparty"})
		ex.walk(ctx, first, last, 0, func(row PostingRow) {
			w.Write([]string{strconv.FormatUint(row.Seq, 10), row.Time.Format(time.RFC3339Nano), row.Action, csvText(row.Tx),
				csvText(row.Account), row.Unit, row.Debit, row.Credit, csvText(row.Counterparty)})
		})
		w.Flush()
		return
	}
	out := PostingList{Community: cm, From: from.UTC(), To: end.UTC(), Items: []PostingRow{}}
	next, err := ex.walk(ctx, first, last, int(limit), func(row PostingRow) { out.Items = append(out.Items, row) })
	if err != nil {
		fail(c, err)
		return
	}
	if next < last {
		out.Next = &next
	}
	c.JSON(http.StatusOK, out)
}

// firstAtOrAfter is the first record seq committed at or after t (size
// if none): commit times never go backwards, so a binary search finds it.
func firstAtOrAfter(ctx context.Context, a AuditLog, size uint64, t time.Time) (uint64, error) {
	// Commit times are Unix nanoseconds, which reach from 1678 to 2262: a
	// day outside is before every record or after every one.
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return 0, nil
	case t.After(time.Unix(0, math.MaxInt64)):
		return size, nil
	}
	lo, hi := uint64(0), size
	for lo < hi {
		mid := lo + (hi-lo)/2
		rec, err := recordAt(ctx, a, mid)
		if err != nil {
			return 0, err
		}
		if rec.Time < t.UnixNano() {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

func recordAt(ctx context.Context, a AuditLog, seq uint64) (*audit.Record, error) {
	recs, err := a.Records(ctx, seq, 1)
	if err != nil {
		return nil, err
	}
	if len(recs) != 1 {
		return nil, ledger.Errorf(ledger.CodeNotFound, "record %d not found", seq)
	}
	return audit.Decode(recs[0].Record)
}

// exporter turns records into posting rows of the accounts in scope.
type exporter struct {
	s         *Server
	c         *gin.Context
	a         AuditLog
	inScope   map[string]bool
	community map[string]string // account id → its community, as read
	moves     []audit.Move      // reused by each record's moves
}

// walk emits the rows of records [first, last) in order. With limit > 0
// it stops after the record that reaches limit rows, or after
// MaxExportPageRecords records, and returns the seq to continue from;
// whole records are never split across pages.
func (ex *exporter) walk(ctx context.Context, first, last uint64, limit int, emit func(PostingRow)) (uint64, error) {
	rows := 0
	if limit > 0 {
		last = min(last, first+MaxExportPageRecords)
	}
	for seq := first; seq < last; {
		recs, err := ex.a.Records(ctx, seq, int(min(uint64(exportChunk), last-seq)))
		if err != nil {
			return seq, err
		}
		if len(recs) == 0 {
			return last, nil
		}
		for _, ar := range recs {
			n, err := ex.recordRows(ar.Record, emit)
			if err != nil {
				return seq, err
			}
			rows += n
			seq = ar.Seq + 1
			if limit > 0 && rows >= limit {
				return seq, nil
			}
		}
	}
	return last, nil
}

// recordRows emits the debit and credit rows of a record's posted moves
// whose accounts lie in scope, and returns how many. The moves are read
// in place (audit.Moves): most records of a district's period touch no
// account of a small subtree, and building each one's content cost the
// export most of its time.
func (ex *exporter) recordRows(data []byte, emit func(PostingRow)) (int, error) {
	seq, tm, action, moves, ok := audit.Moves(data, ex.moves)
	ex.moves = moves
	if !ok {
		// Not a record the fast path reads (more effects than it keeps,
		// or effects of another shape): its decoded content.
		rec, err := audit.Decode(data)
		if err != nil {
			return 0, err
		}
		seq, tm, action, moves = rec.Seq, rec.Time, []byte(rec.Action), audit.DecodedMoves(rec)
	}
	n := 0
	for _, m := range moves {
		inFrom, inTo := ex.scoped(m.From), ex.scoped(m.To)
		if !inFrom && !inTo {
			continue
		}
		unit := string(m.Unit)
		base := PostingRow{Seq: seq, Time: time.Unix(0, tm).UTC(), Action: string(action), Tx: string(m.Tx), Unit: unit}
		str := ledger.FormatAmount(m.Amount, ledger.Unit(unit))
		if inFrom {
			row := base
			row.Account, row.Debit, row.Counterparty = string(m.From), str, string(m.To)
			emit(row)
			n++
		}
		if inTo {
			row := base
			row.Account, row.Credit, row.Counterparty = string(m.To), str, string(m.From)
			emit(row)
			n++
		}
	}
	return n, nil
}

// scoped reports whether account belongs to a community of the subtree.
func (ex *exporter) scoped(account []byte) bool {
	cm, ok := ex.community[string(account)]
	if !ok {
		ex.s.ledger.View(ex.c.Request.Context(), func(r ledger.Reader) error {
			if a, err := r.Account(string(account)); err == nil {
				cm = a.Community
			}
			return nil
		})
		if len(ex.community) < MaxExportAccounts {
			ex.community[string(account)] = cm
		}
	}
	return cm != "" && ex.inScope[cm]
}
