package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"tally/audit"
	"tally/ledger"
	"tally/ledger/community"
)

// AuditLog is what the audit endpoints need from the log; the store
// provides it (wired in cmd/tally).
type AuditLog interface {
	// Checkpoint returns the latest signed checkpoint note (not_found
	// before the first one).
	Checkpoint(ctx context.Context) ([]byte, error)
	// VerifierKey returns the current checkpoint verifier key (note format).
	VerifierKey(ctx context.Context) (string, error)
	// Records returns up to limit records from seq from, with leaf hashes.
	Records(ctx context.Context, from uint64, limit int) ([]AuditRecord, error)
	// Inclusion proves record seq in the tree of the given size (0: the
	// latest checkpoint's) and returns the tree size proven.
	Inclusion(ctx context.Context, seq, size uint64) ([][]byte, uint64, error)
	// Consistency proves the tree of size from a prefix of size to.
	Consistency(ctx context.Context, from, to uint64) ([][]byte, error)
	// Receipt returns the receipt (record, inclusion proof, checkpoint) of
	// record seq, JSON-encodable.
	Receipt(ctx context.Context, seq uint64) (any, error)
	// Export writes everything an offline verifier needs.
	Export(ctx context.Context, w io.Writer) error
	// Checkpoints returns up to limit kept checkpoints of sizes above
	// after, in size order.
	Checkpoints(ctx context.Context, after uint64, limit int) ([]CheckpointNote, error)
}

// CheckpointNote is one kept checkpoint: the tree size it signs and the
// signed note.
type CheckpointNote struct {
	Size uint64 `json:"size"`
	Note string `json:"note" doc:"the signed checkpoint note (C2SP tlog-checkpoint), as GET /v1/audit/checkpoint serves the latest"`
}

// CheckpointList is a page of checkpoints; next is the after of the next
// page.
type CheckpointList struct {
	Items []CheckpointNote `json:"items"`
	Next  *uint64          `json:"next"`
}

// AuditRecord is one record as served: leaf index, leaf hash, bytes.
type AuditRecord struct {
	Seq    uint64 `json:"seq"`
	Hash   []byte `json:"hash"`
	Record []byte `json:"record"`
}

// InclusionProof is the answer of the inclusion endpoint.
type InclusionProof struct {
	LeafIndex uint64   `json:"leaf_index"`
	TreeSize  uint64   `json:"tree_size"`
	Hashes    [][]byte `json:"hashes"`
}

// ConsistencyProof is the answer of the consistency endpoint.
type ConsistencyProof struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes [][]byte `json:"hashes"`
}

// AuditRecordList is a page of records; next is the seq to ask for next.
type AuditRecordList struct {
	Items []AuditRecord `json:"items"`
	Next  *uint64       `json:"next"`
}

// VerifierKeyResponse documents the key endpoint (served as text/plain).
type VerifierKeyResponse struct{}

var auditReaders = []community.Role{community.RoleAuditor, community.RoleAdmin}

func (s *Server) auditRoutes() []route {
	return []route{
		{method: "GET", path: "/v1/audit/checkpoint", summary: "The latest signed checkpoint (C2SP tlog-checkpoint signed note, text/plain); public", tag: "audit", media: "text/plain", status: 200, handle: s.auditCheckpoint},
		{method: "GET", path: "/v1/audit/checkpoints", summary: "Every kept signed checkpoint, by tree size (after: sizes above it); public", tag: "audit", query: []string{"after:int", "limit:int"}, resp: CheckpointList{}, status: 200, handle: s.auditCheckpoints},
		{method: "GET", path: "/v1/audit/key", summary: "The checkpoint verifier key (note verifier string, text/plain); public", tag: "audit", media: "text/plain", status: 200, handle: s.auditKey},
		{method: "GET", path: "/v1/audit/records", summary: "Audit records by range", tag: "audit", auth: authenticated, roles: auditReaders, query: []string{"from:int", "after:int", "limit:int"}, resp: AuditRecordList{}, status: 200, handle: s.auditRecords},
		{method: "GET", path: "/v1/audit/records/:seq/inclusion", summary: "Inclusion proof of a record in the tree of a size", tag: "audit", auth: authenticated, roles: auditReaders, query: []string{"size:int"}, resp: InclusionProof{}, status: 200, handle: s.auditInclusion},
		{method: "GET", path: "/v1/audit/records/:seq/receipt", summary: "Receipt: record, inclusion proof and signed checkpoint", tag: "audit", auth: authenticated, resp: audit.Receipt{}, status: 200, handle: s.auditReceipt},
		{method: "GET", path: "/v1/audit/consistency", summary: "Consistency proof between two tree sizes (tree hashes only); public", tag: "audit", query: []string{"from:int!", "to:int!"}, resp: ConsistencyProof{}, status: 200, handle: s.auditConsistency},
		{method: "GET", path: exportPath, summary: "Everything `tally verify --export` needs", tag: "audit", auth: authenticated, roles: auditReaders, media: "application/octet-stream", status: 200, handle: s.auditExport},
		{method: "GET", path: backupPath, summary: "A consistent backup stream for `tally restore`", tag: "admin", auth: authenticated, roles: []community.Role{community.RoleAdmin}, media: "application/octet-stream", status: 200, handle: s.backup},
	}
}

func (s *Server) auditLog(c *gin.Context) AuditLog {
	if s.cfg.Audit == nil {
		failCode(c, ledger.CodeUnavailable, "the audit log is not available")
	}
	return s.cfg.Audit
}

func (s *Server) auditCheckpoint(c *gin.Context) {
	s.auditText(c, func(ctx context.Context, a AuditLog) ([]byte, error) { return a.Checkpoint(ctx) })
}

// auditCheckpoints pages through every kept checkpoint, so that an
// auditor reading the log over the API can check it against past signed
// roots, the ones a key rotation signs among them (probe s25b: only the
// latest was served; the others only in an export).
func (s *Server) auditCheckpoints(c *gin.Context) {
	a := s.auditLog(c)
	if a == nil {
		return
	}
	after, limit, err := seqPageQuery(c)
	if err != nil {
		s.failAudit(c, err)
		return
	}
	cks, err := a.Checkpoints(c.Request.Context(), after, int(limit)+1)
	if err != nil {
		s.failAudit(c, err)
		return
	}
	out := CheckpointList{Items: []CheckpointNote{}}
	if len(cks) > int(limit) {
		cks = cks[:limit]
		n := cks[len(cks)-1].Size
		out.Next = &n
	}
	out.Items = append(out.Items, cks...)
	c.JSON(http.StatusOK, out)
}

func (s *Server) auditKey(c *gin.Context) {
	s.auditText(c, func(ctx context.Context, a AuditLog) ([]byte, error) {
		key, err := a.VerifierKey(ctx)
		return []byte(key + "\n"), err
	})
}

// auditText serves a public text/plain answer of the audit log.
func (s *Server) auditText(c *gin.Context, get func(context.Context, AuditLog) ([]byte, error)) {
	a := s.auditLog(c)
	if a == nil {
		return
	}
	text, err := get(c.Request.Context(), a)
	if err != nil {
		s.failAudit(c, err)
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", text)
}

// MaxAuditPage bounds a page of audit records.
const MaxAuditPage = 1000

// seqPageQuery reads ?after=&limit= of a list paged by number: after 0
// by default, limit 1 to ledger.MaxPageSize (ledger.DefaultPageSize).
func seqPageQuery(c *gin.Context) (after, limit uint64, err error) {
	after, err = uintQuery(c, "after", 0)
	limit = uint64(ledger.DefaultPageSize)
	if err == nil {
		limit, err = uintQuery(c, "limit", limit)
	}
	if err == nil && (limit < 1 || limit > ledger.MaxPageSize) {
		err = ledger.Errorf(ledger.CodeInvalidRequest, "limit must be 1 to %d", ledger.MaxPageSize)
	}
	return after, limit, err
}

func uintQuery(c *gin.Context, name string, def uint64) (uint64, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, ledger.Errorf(ledger.CodeInvalidRequest, "%s must be a non-negative integer", name)
	}
	return n, nil
}

func (s *Server) auditRecords(c *gin.Context) {
	a := s.auditLog(c)
	if a == nil {
		return
	}
	from, err := uintQuery(c, "from", 0)
	if err == nil && c.Query("after") != "" {
		// The lists' cursor convention (SPEC §7: ?after=<next>): next is
		// the seq to read from.
		var after uint64
		after, err = uintQuery(c, "after", 0)
		if err == nil && c.Query("from") != "" && after != from {
			err = ledger.Errorf(ledger.CodeInvalidRequest, "give from or after (the next of the page before), not both")
		}
		from = after
	}
	if err != nil {
		s.failAudit(c, err)
		return
	}
	limit, err := uintQuery(c, "limit", 100)
	if err == nil && (limit < 1 || limit > MaxAuditPage) {
		err = ledger.Errorf(ledger.CodeInvalidRequest, "limit must be 1 to %d", MaxAuditPage)
	}
	if err != nil {
		s.failAudit(c, err)
		return
	}
	recs, err := a.Records(c.Request.Context(), from, int(limit))
	if err != nil {
		s.failAudit(c, err)
		return
	}
	out := AuditRecordList{Items: recs}
	if out.Items == nil {
		out.Items = []AuditRecord{}
	}
	if len(recs) == int(limit) {
		n := recs[len(recs)-1].Seq + 1
		out.Next = &n
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) auditInclusion(c *gin.Context) {
	a := s.auditLog(c)
	if a == nil {
		return
	}
	seq, err := strconv.ParseUint(c.Param("seq"), 10, 64)
	if err != nil {
		failCode(c, ledger.CodeInvalidRequest, "seq must be a non-negative integer")
		return
	}
	size, err := uintQuery(c, "size", 0)
	if err != nil || c.Query("size") != "" && size <= seq {
		failCode(c, ledger.CodeInvalidRequest, "size must be a tree size above seq (omit it for the latest checkpoint's)")
		return
	}
	hashes, size, err := a.Inclusion(c.Request.Context(), seq, size)
	if err != nil {
		s.failAudit(c, err)
		return
	}
	c.JSON(http.StatusOK, InclusionProof{LeafIndex: seq, TreeSize: size, Hashes: nonNil(hashes)})
}

func (s *Server) auditConsistency(c *gin.Context) {
	a := s.auditLog(c)
	if a == nil {
		return
	}
	from, err1 := uintQuery(c, "from", 0)
	to, err2 := uintQuery(c, "to", 0)
	_, hasFrom := c.GetQuery("from")
	_, hasTo := c.GetQuery("to")
	if err1 != nil || err2 != nil || !hasFrom || !hasTo || to < from {
		// from = 0 is allowed: the empty tree is consistent with every
		// tree, and its proof is empty (RFC 9162 §2.1.4).
		failCode(c, ledger.CodeInvalidRequest, "from and to must be tree sizes with from <= to")
		return
	}
	hashes, err := a.Consistency(c.Request.Context(), from, to)
	if err != nil {
		s.failAudit(c, err)
		return
	}
	c.JSON(http.StatusOK, ConsistencyProof{From: from, To: to, Hashes: nonNil(hashes)})
}

func nonNil(h [][]byte) [][]byte {
	if h == nil {
		return [][]byte{}
	}
	return h
}

// auditReceipt serves auditors and admins any record's receipt, and
// anyone else the receipt of a record of their own: one they made (or
// that was made for them), or one that moved money of an account they may
// read. Records name members, amounts and reasons of every community, so
// the receipt route is no way round the role gate of /v1/audit/records.
// A record the caller may not see answers not_found.
func (s *Server) auditReceipt(c *gin.Context) {
	a := s.auditLog(c)
	if a == nil {
		return
	}
	seq, err := strconv.ParseUint(c.Param("seq"), 10, 64)
	if err != nil {
		failCode(c, ledger.CodeInvalidRequest, "seq must be a non-negative integer")
		return
	}
	if p := principal(c); !p.Has(auditReaders...) {
		if err := s.ownRecord(c, a, p, seq); err != nil {
			s.failAudit(c, err)
			return
		}
	}
	r, err := a.Receipt(c.Request.Context(), seq)
	if err != nil {
		s.failAudit(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (s *Server) auditExport(c *gin.Context) {
	a := s.auditLog(c)
	if a == nil {
		return
	}
	c.Header("Content-Type", "application/octet-stream")
	c.Status(http.StatusOK)
	if err := a.Export(c.Request.Context(), streamWriter(c)); err != nil {
		s.failStream(c, "audit export", err)
	}
}

// StreamWriteIdle is how long a streamed answer (an export, a backup) may
// wait for its reader to take the next bytes. The server's WriteTimeout
// bounds ordinary answers; a stream of 10^7 records (gigabytes) over a
// slow link takes longer, so each write moves the deadline on instead.
const StreamWriteIdle = time.Minute

// streamWriter returns c's writer with a write deadline moved on before
// every write (StreamWriteIdle). For a HEAD it sends the headers at the
// stream's first write and ends the stream there (errHeadAnswered): the
// status and headers are the GET's, and the ledger is not read on for a
// body net/http would drop (review s25R).
func streamWriter(c *gin.Context) io.Writer {
	if isHead(c) {
		return headWriter{c}
	}
	return &deadlineWriter{w: c.Writer, rc: http.NewResponseController(c.Writer)}
}

// errHeadAnswered ends a stream answering a HEAD at its first byte.
var errHeadAnswered = errors.New("api: a HEAD is answered at the stream's first byte")

type headWriter struct{ c *gin.Context }

func (h headWriter) Write([]byte) (int, error) {
	h.c.Writer.WriteHeaderNow()
	return 0, errHeadAnswered
}

type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(StreamWriteIdle)) // unsupported (a test recorder): the server's own
	return d.w.Write(p)
}

// failStream ends a streamed answer (an export, a backup) that failed: a
// problem while nothing is sent yet — a record missing from a damaged log
// fails before the first byte, and an empty 200 would look like an export
// — or, once bytes are gone, a cut stream, which fails its reader's
// checks. Either way the cause is logged.
func (s *Server) failStream(c *gin.Context, what string, err error) {
	if errors.Is(err, errHeadAnswered) && c.Writer.Written() {
		return // a HEAD, answered
	}
	if c.Request.Context().Err() != nil {
		c.Error(err) // the reader went away: nobody to answer
		return
	}
	slog.Error(what+" failed", "err", err)
	if !c.Writer.Written() {
		c.Header("Content-Type", "")
		s.failAudit(c, err)
		return
	}
	c.Error(err)
}

// failAudit answers an error of the audit log: a store error on a ledger
// found damaged (a record or tree hash missing or changed) is
// ledger_damaged, not a bare internal error.
func (s *Server) failAudit(c *gin.Context, err error) {
	var e *ledger.Error
	if !errors.As(err, &e) && s.cfg.Damaged != nil && s.cfg.Damaged() != nil {
		slog.Error("audit log read failed on a damaged ledger", "path", c.FullPath(), "err", err)
		failCode(c, ledger.CodeLedgerDamaged, "the stored audit log is damaged here (a record or tree hash is missing or changed), so this cannot be served; tally verify --data names the first bad record, and a copy of the data directory keeps the evidence")
		return
	}
	fail(c, err)
}

// LedgerDamagedHeader marks a backup of a ledger found damaged (Config.Damaged).
const LedgerDamagedHeader = "Tally-Ledger-Damaged"

func (s *Server) backup(c *gin.Context) {
	// A backup holds the whole deployment and its keys: never for an
	// admin scoped to part of it.
	if !globalAdmin(c) {
		return
	}
	if s.cfg.Backup == nil {
		failCode(c, ledger.CodeUnavailable, "backup is not available")
		return
	}
	c.Header("Content-Type", "application/octet-stream")
	if s.cfg.Damaged != nil && s.cfg.Damaged() != nil {
		// Served as evidence: restore verifies what it brings back, so
		// this one will not restore; tally backup says so.
		c.Header(LedgerDamagedHeader, "true")
	}
	c.Status(http.StatusOK)
	if err := s.cfg.Backup(c.Request.Context(), streamWriter(c)); err != nil {
		s.failStream(c, "backup", err)
	}
}

// ownRecord checks that record seq is the caller's: made by or for them,
// or moving money of an account they may read. Errors: not_found.
func (s *Server) ownRecord(c *gin.Context, a AuditLog, p *Principal, seq uint64) error {
	hidden := ledger.Errorf(ledger.CodeNotFound, "record %d not found", seq)
	recs, err := a.Records(c.Request.Context(), seq, 1)
	if err != nil {
		return err
	}
	if len(recs) != 1 || recs[0].Seq != seq {
		return hidden
	}
	rec, err := audit.Decode(recs[0].Record)
	if err != nil {
		return err
	}
	// Acting for a member, the member's records, not the coordinator's.
	if rec.Actor == p.Member && !p.Delegated || (rec.OnBehalf != "" && rec.OnBehalf == p.Acting()) {
		return nil
	}
	effects, _ := rec.Content["effects"].([]any)
	var ids []string
	for _, e := range effects {
		m, _ := e.(map[string]any)
		for _, k := range []string{"from", "to", "account"} {
			if id, ok := m[k].(string); ok && id != "" {
				ids = append(ids, id)
			}
		}
	}
	ok := false
	if err := s.ledger.View(c.Request.Context(), func(r ledger.Reader) error {
		for _, id := range ids {
			if acct, err := r.Account(id); err == nil && canReadAccount(r, p, acct) == nil {
				ok = true
				return nil
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if !ok {
		return hidden
	}
	return nil
}
