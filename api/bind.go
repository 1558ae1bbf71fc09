package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"tally/ledger"
	"tally/ledger/fund"
)

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// readBody reads the bounded raw body once; it is kept for the
// idempotency fingerprint.
func readBody(c *gin.Context) ([]byte, error) {
	if raw, ok := c.Get(ctxBody); ok {
		return raw.([]byte), nil
	}
	if c.Request.ContentLength > MaxBodyBytes {
		// Refused before reading, so a client announcing a huge body
		// (or one it never sends) is not kept waiting (serveHTTP has
		// dropped the body).
		return nil, ledger.Errorf(CodeBodyTooLarge, "the body is larger than %d bytes", MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		dropBody(c.Writer) // a chunked body that runs on (or only says it will)
		return nil, ledger.Errorf(CodeBodyTooLarge, "the body is larger than %d bytes", MaxBodyBytes)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The server's ReadTimeout passed while the body was still coming.
		return nil, ledger.Errorf(CodeRequestTimeout, "the body was not received in time")
	}
	if err != nil {
		// Broken chunked framing, or a body cut short: not readable HTTP,
		// and the connection's next bytes cannot be trusted either.
		dropBody(c.Writer)
		return nil, ledger.Errorf(CodeMalformedRequest, "the body could not be read as HTTP (broken chunked framing, or it ended early)")
	}
	if len(body) > 0 {
		if err := checkMediaType(c.Request.Header); err != nil {
			return nil, err
		}
	}
	c.Set(ctxBody, body)
	return body, nil
}

// dropBody gives up a request body the server will not take: the
// connection closes after the answer, and net/http's drain of the unread
// body after the handler (up to 256 KiB, waiting for bytes a client may
// never send, until ReadTimeout) ends at once.
func dropBody(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// checkMediaType refuses a body declared as something other than JSON
// (form data, text, another charset) or sent compressed: it would be
// read as something its sender did not mean. A body without a
// Content-Type is read as JSON.
func checkMediaType(h http.Header) error {
	if enc := h.Values("Content-Encoding"); len(enc) > 1 || len(enc) == 1 && !strings.EqualFold(strings.TrimSpace(enc[0]), "identity") {
		return ledger.Errorf(CodeUnsupportedType, "send the body uncompressed (no Content-Encoding)")
	}
	ct := h.Values("Content-Type")
	if len(ct) == 0 || len(ct) == 1 && ct[0] == "application/json" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct[0])
	ok := err == nil && len(ct) == 1 && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			ok = false
		}
	}
	if !ok {
		return ledger.Errorf(CodeUnsupportedType, "send the body as Content-Type: application/json (UTF-8)")
	}
	return nil
}

const ctxBody = "tally.body"

// bind decodes the JSON body into v strictly: unknown fields, trailing
// data, wrong types and an empty body are refused.
func bind(c *gin.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return ledger.Errorf(CodeInvalidJSON, "a JSON body is required")
	}
	if !utf8.Valid(body) {
		// encoding/json would store U+FFFD in its place, silently.
		return ledger.Errorf(CodeInvalidJSON, "the body is not valid UTF-8")
	}
	if loneSurrogate(body) {
		// Likewise for an escaped half of a UTF-16 pair ("\ud800").
		return ledger.Errorf(CodeInvalidJSON, "a string holds an unpaired surrogate escape (\\uD800-\\uDFFF)")
	}
	// The body as JSON values, decoded once: it must be an object (null
	// would leave v at its zero value), its keys must be exactly the
	// fields' names (encoding/json matches "From" to from, and ignores
	// unknown ones), and the idempotency fingerprint is taken from it
	// (see submit). Then encoding/json fills v and checks the types.
	raw, err := decodeValue(body)
	if err != nil {
		return decodeError(err)
	}
	if _, ok := raw.(map[string]any); !ok && reflect.TypeOf(v).Elem().Kind() == reflect.Struct {
		return ledger.Errorf(CodeInvalidJSON, "the body must be a JSON object")
	}
	if err := exactFields(raw, reflect.TypeOf(v), "", true); err != nil {
		var late *lateRule
		if !errors.As(err, &late) || c.GetHeader("Idempotency-Key") == "" {
			return err
		}
		// A rule newer than some stored writes: the request may be the
		// retry of one an earlier version took, which must get its
		// original answer (SPEC §2). It goes on to its commit, which
		// replays a stored result under its key or else refuses it with
		// this error (submit), writing nothing; every older rule still
		// applies here.
		if err := exactFields(raw, reflect.TypeOf(v), "", false); err != nil {
			return err
		}
		c.Set(ctxLateRule, late.error)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" && listOf(reflect.TypeOf(v), typeErr.Field, typeErr.Type) {
			// encoding/json names the list, not the item ("projects":
			// ["elder"] would read "projects must be an object").
			return ledger.Errorf(CodeInvalidJSON, "each item of field %q must be %s", typeErr.Field, jsonKind(typeErr.Type))
		}
		return decodeError(err)
	}
	c.Set(ctxValue, raw)
	return nil
}

const ctxValue = "tally.body.value"

// ctxLateRule holds the error of a late rule a keyed request broke (see
// bind): its commit replays or refuses it.
const ctxLateRule = "tally.body.late"

// lateRule marks a refusal by a rule added after writes were stored
// (2026-11-24: required fields left out, ids that are none, blank kinds):
// a request breaking only such rules may be a retry that an earlier
// version took. exactFields checks them only when asked (late).
type lateRule struct{ error }

func (e *lateRule) Unwrap() error { return e.error }

// MaxJSONDepth bounds the nesting of a request body's arrays and objects.
const MaxJSONDepth = 32

var (
	errDuplicateKey = errors.New("duplicate key")
	errTooDeep      = errors.New("nested too deeply")
)

// decodeValue decodes exactly one JSON value, numbers as written, and
// refuses an object that names a key twice: encoding/json keeps the last,
// so a proxy or log reading the first would see another request than the
// one the ledger runs. It is a single pass over the bytes (json.Decoder's
// Token walk cost a tenth of a gift's CPU); FuzzDecodeValue holds it to
// encoding/json's reading of every body it accepts.
func decodeValue(body []byte) (any, error) {
	s := valueScanner{b: body}
	v, err := s.value(0)
	if err != nil {
		return nil, err
	}
	s.space()
	if s.i != len(s.b) {
		return nil, s.syntax(msgTrailing)
	}
	return v, nil
}

const msgTrailing = "trailing data"

// scanError is malformed JSON at a byte offset.
type scanError struct {
	msg string
	off int
}

func (e *scanError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.off) }

type valueScanner struct {
	b []byte
	i int
}

func (s *valueScanner) syntax(msg string) error { return &scanError{msg, s.i} }

func (s *valueScanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips white space and reports the next byte, 0 at the end.
func (s *valueScanner) next() byte {
	s.space()
	if s.i == len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *valueScanner) value(depth int) (any, error) {
	switch c := s.next(); {
	case c == '{' || c == '[':
		if depth >= MaxJSONDepth {
			return nil, errTooDeep
		}
		s.i++
		if c == '{' {
			return s.object(depth)
		}
		return s.array(depth)
	case c == '"':
		return s.str()
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	case c == 't':
		return true, s.literal("true")
	case c == 'f':
		return false, s.literal("false")
	case c == 'n':
		return nil, s.literal("null")
	case c == 0:
		return nil, s.syntax("unexpected end")
	}
	return nil, s.syntax("unexpected character")
}

func (s *valueScanner) object(depth int) (any, error) {
	obj := map[string]any{}
	if s.next() == '}' {
		s.i++
		return obj, nil
	}
	for {
		if s.next() != '"' {
			return nil, s.syntax("expected a key")
		}
		k, err := s.str()
		if err != nil {
			return nil, err
		}
		if _, dup := obj[k]; dup {
			return nil, fmt.Errorf("%w %q", errDuplicateKey, k)
		}
		if s.next() != ':' {
			return nil, s.syntax("expected ':'")
		}
		s.i++
		if obj[k], err = s.value(depth + 1); err != nil {
			return nil, err
		}
		if more, err := s.more('}'); !more {
			return obj, err
		}
	}
}

// more reads what follows a member or an element: ',' when more follow,
// end at the end of the object or array.
func (s *valueScanner) more(end byte) (bool, error) {
	switch s.next() {
	case ',':
		s.i++
		return true, nil
	case end:
		s.i++
		return false, nil
	}
	return false, s.syntax("expected ',' or '" + string(end) + "'")
}

func (s *valueScanner) array(depth int) (any, error) {
	arr := []any{}
	if s.next() == ']' {
		s.i++
		return arr, nil
	}
	for {
		v, err := s.value(depth + 1)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		if more, err := s.more(']'); !more {
			return arr, err
		}
	}
}

// str reads the string at s.i (its opening quote). One without escapes
// or invalid UTF-8 is its bytes; any other is unquoted by encoding/json.
func (s *valueScanner) str() (string, error) {
	start := s.i
	plain := true
	j := s.i + 1
	for ; j < len(s.b) && s.b[j] != '"'; j++ {
		switch c := s.b[j]; {
		case c == '\\':
			plain = false
			j++ // the escaped byte, a quote included
		case c < 0x20:
			s.i = j
			return "", s.syntax("control character in a string")
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	if j >= len(s.b) {
		s.i = len(s.b)
		return "", s.syntax("unterminated string")
	}
	s.i = j + 1
	if plain || utf8.Valid(s.b[start+1:j]) && bytes.IndexByte(s.b[start+1:j], '\\') < 0 {
		return string(s.b[start+1 : j]), nil
	}
	var out string
	if err := json.Unmarshal(s.b[start:j+1], &out); err != nil {
		s.i = start
		return "", s.syntax("bad escape in a string")
	}
	return out, nil
}

func (s *valueScanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? as written.
func (s *valueScanner) number() (any, error) {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return nil, s.syntax("bad number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return nil, s.syntax("bad number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return nil, s.syntax("bad number")
		}
	}
	return json.Number(s.b[start:s.i]), nil
}

func (s *valueScanner) literal(word string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return s.syntax("bad literal")
	}
	s.i += len(word)
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// exactFields walks a decoded body alongside the type it was decoded
// into and refuses any object key that is not exactly a field's JSON name.
func exactFields(raw any, t reflect.Type, path string, late bool) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil // decodes itself
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil
		}
		fields := structFields(t)
		for k, v := range obj {
			ft, ok := fields[k]
			if !ok {
				return ledger.Errorf(CodeUnknownField, "unknown field %q", path+k)
			}
			rules := rulesOf(t)
			if kind, ok := rules.id[k]; ok && late {
				if err := checkIDValue(path+k, kind, v); err != nil {
					return &lateRule{err}
				}
			}
			if v == "" {
				if rule, ok := rules.empty[k]; ok && (late || !rule.late) {
					// An optional amount or duration given as "" is not
					// its absence: a form that sent "amount":"" would
					// otherwise post a hold in full.
					err := ledger.Errorf(rule.code, "field %q is empty: leave it out, or give a value", path+k)
					if rule.late {
						return &lateRule{err}
					}
					return err
				}
			}
			if err := exactFields(v, ft, path+k+".", late); err != nil {
				return err
			}
		}
		for _, name := range rulesOf(t).required {
			if v, ok := obj[name]; (!ok || v == nil) && late { // null is left out too
				// One code for a field left out, whatever it names: an id
				// left out is not an unknown one (404) nor a malformed one.
				return &lateRule{ledger.Errorf(ledger.CodeInvalidRequest, "field %q is required", path+name)}
			}
		}
	case reflect.Slice, reflect.Array:
		arr, _ := raw.([]any)
		if len(arr) > MaxRequestArray {
			// Refused here, before the handler and the single writer look
			// each item up (10,000 relatives stalled every write).
			return ledger.Errorf(ledger.CodeLimitExceeded, "%s holds %d items; a request's lists hold at most %d", strings.TrimSuffix(path, "."), len(arr), MaxRequestArray)
		}
		for i, v := range arr {
			if err := exactFields(v, t.Elem(), path+strconv.Itoa(i)+".", late); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, _ := raw.(map[string]any)
		for k, v := range obj {
			if err := exactFields(v, t.Elem(), path+k+".", late); err != nil {
				return err
			}
		}
	}
	return nil
}

// fieldsByType caches jsonFields per request type (a bounded set: the
// types the handlers bind).
var fieldsByType sync.Map // reflect.Type → map[string]reflect.Type

func structFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldsByType.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	f := jsonFields(t)
	fieldsByType.Store(t, f)
	return f
}

// listOf reports whether the field at path (dotted JSON names) of struct
// type t is a list or map whose items are of type item.
func listOf(t reflect.Type, path string, item reflect.Type) bool {
	for _, name := range strings.Split(path, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return false
		}
		ft, ok := structFields(t)[name]
		if !ok {
			return false
		}
		t = ft
	}
	return (t.Kind() == reflect.Slice || t.Kind() == reflect.Map) && t.Elem() == item
}

// checkIDValue refuses an id field (or an item of a list of ids) that no
// id could be — empty, too long, with a '/', a space or a control
// character — as 400 invalid_id, whatever the route: looked up, it would
// read as an unknown id (404), and given as "" it would be taken for the
// field left out (a root community, an unrestricted project, the
// caller). null stays the field left out; other types are for
// encoding/json to refuse.
func checkIDValue(name, kind string, v any) error {
	check := func(what string, s string) error {
		if kind == "account" {
			if !ledger.ValidID(s) {
				return ledger.Errorf(ledger.CodeInvalidID, "field %q must be an account id, or the id of whom it names: 1-%d letters, digits, '-', '_', '.' or ':'", what, ledger.MaxAccountIDLen)
			}
			return nil
		}
		if err := ledger.CheckID(what, s); err != nil {
			return ledger.Errorf(ledger.CodeInvalidID, "field %q must be an id: 1-%d letters, digits, '-', '_', '.' or ':' (not \".\" or \"..\")", what, ledger.MaxIDLen)
		}
		return nil
	}
	switch x := v.(type) {
	case string:
		return check(name, x)
	case []any:
		for i, it := range x {
			if s, ok := it.(string); ok {
				if err := check(name+"."+strconv.Itoa(i), s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// bodyRules is what exactFields checks of a request type's fields beyond
// their names: which hold ids (tag id:"entity"|"account"), which refuse
// "" (tag empty:"<code>", or empty:"<code>;late"), and which are required
// (as the OpenAPI document marks them: Fields), in declaration order so
// that a body missing two names the first.
type bodyRules struct {
	id       map[string]string
	empty    map[string]emptyRule
	required []string
}

// emptyRule is how a field refuses "": with code, and whether that is a
// late rule.
type emptyRule struct {
	code ledger.Code
	late bool
}

// rulesByType caches bodyRules per request type (a bounded set: the
// types the handlers bind).
var rulesByType sync.Map // reflect.Type → *bodyRules

func rulesOf(t reflect.Type) *bodyRules {
	if r, ok := rulesByType.Load(t); ok {
		return r.(*bodyRules)
	}
	r := &bodyRules{id: map[string]string{}, empty: map[string]emptyRule{}}
	for _, f := range Fields(t) {
		if f.ID != "" {
			r.id[f.Name] = f.ID
		}
		if f.Empty != "" {
			code, late := strings.CutSuffix(f.Empty, ";late")
			r.empty[f.Name] = emptyRule{ledger.Code(code), late}
		}
		if f.Required {
			r.required = append(r.required, f.Name)
		}
	}
	rulesByType.Store(t, r)
	return r
}

// jsonFields maps the JSON names of a struct's fields, embedded structs'
// included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var scanErr *scanError
	switch {
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return ledger.Errorf(CodeUnknownField, "%s", strings.TrimPrefix(err.Error(), "json: "))
	case errors.Is(err, errDuplicateKey):
		return ledger.Errorf(CodeInvalidJSON, "%s: a key may appear once in an object", err.Error())
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return ledger.Errorf(CodeInvalidJSON, "the body must be %s", jsonKind(typeErr.Type))
		}
		return ledger.Errorf(CodeInvalidJSON, "field %q must be %s", typeErr.Field, jsonKind(typeErr.Type))
	case errors.As(err, &syntaxErr):
		return ledger.Errorf(CodeInvalidJSON, "malformed JSON at offset %d", syntaxErr.Offset)
	case errors.As(err, &scanErr) && scanErr.msg == msgTrailing:
		return ledger.Errorf(CodeInvalidJSON, "trailing data after the JSON body")
	case errors.As(err, &scanErr):
		return ledger.Errorf(CodeInvalidJSON, "malformed JSON at offset %d (%s)", scanErr.off, scanErr.msg)
	case errors.Is(err, errTooDeep):
		return ledger.Errorf(CodeInvalidJSON, "the body is nested more than %d levels deep", MaxJSONDepth)
	}
	return ledger.Errorf(CodeInvalidJSON, "malformed JSON")
}

// noBody guards a write whose route takes no body: nothing, or an empty
// object, is accepted; anything else is refused rather than ignored.
func noBody(c *gin.Context) {
	body, err := readBody(c)
	if err != nil {
		fail(c, err)
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		var v struct{}
		if err := bind(c, &v); err != nil {
			fail(c, err)
		}
	}
}

// jsonKind names the JSON a Go type decodes from, for a problem detail
// that speaks JSON rather than Go.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another JSON type"
}

// MaxRequestArray bounds every list in a request body, at the longest
// any route takes (postings and projects: 64); each route's own limit
// (relatives 32, committee 25, evidence 16, roles 8) is checked after.
const MaxRequestArray = max(ledger.MaxPostings, fund.MaxProjects)

// bindOptional is bind for bodies that may be empty.
func bindOptional(c *gin.Context, v any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return bind(c, v)
}

// MaxIdempotencyKey is the longest Idempotency-Key accepted.
const MaxIdempotencyKey = ledger.MaxIdempotencyKeyLen

// commit submits op as the request's actor, with the request's
// Idempotency-Key, and writes the result with status on success. A replay
// answers the original result with the header Idempotent-Replayed: true.
func (s *Server) commit(c *gin.Context, status int, op ledger.Op) {
	s.commitThen(c, status, nil, op)
}

// commitThen is commit that runs after (if not nil) once the change is
// durable and before the response is written.
func (s *Server) commitThen(c *gin.Context, status int, after func(), op ledger.Op) {
	res, ok := s.submit(c, op)
	if !ok {
		return
	}
	if after != nil {
		after()
	}
	if res.Replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	if res.JSON != nil { // the ledger encoded the result (as c.JSON would), or replays it
		c.Data(status, "application/json; charset=utf-8", res.JSON)
		return
	}
	c.JSON(status, res.Value)
}

// validKey judges the Idempotency-Key header, answering 400
// invalid_idempotency_key when it is malformed.
func validKey(c *gin.Context) bool {
	key := c.GetHeader("Idempotency-Key")
	if n := len(c.Request.Header.Values("Idempotency-Key")); n > 1 {
		failCode(c, CodeInvalidKey, "send one Idempotency-Key")
		return false
	} else if n == 1 && key == "" {
		failCode(c, CodeInvalidKey, "Idempotency-Key is empty; send 1-%d printable ASCII characters, or no header", MaxIdempotencyKey)
		return false
	}
	if len(key) > MaxIdempotencyKey || strings.ContainsFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		failCode(c, CodeInvalidKey, "Idempotency-Key must be 1-%d printable ASCII characters", MaxIdempotencyKey)
		return false
	}
	return true
}

// keyCheck refuses a write whose Idempotency-Key is malformed before its
// handler does anything: a login or password change judges no password
// (probe s25e: a password change refused for its key after the password
// was checked counted as a failed login, and five locked the user out),
// and every route that documents the header checks it alike (the login
// ignored a malformed one).
func keyCheck(c *gin.Context) {
	if validKey(c) {
		c.Next()
	}
}

// submit is commit without writing the response.
func (s *Server) submit(c *gin.Context, op ledger.Op) (ledger.Result, bool) {
	p := principal(c)
	key := c.GetHeader("Idempotency-Key") // judged by keyCheck before every write's handler
	body, err := readBody(c)
	if err != nil {
		fail(c, err)
		return ledger.Result{}, false
	}
	req := ledger.Request{Actor: p.actor(), IdemKey: key, Op: s.authorized(p, op)}
	if late, ok := c.Get(ctxLateRule); ok && key != "" {
		// Broke a late rule (bind): a stored result under the key is
		// replayed without running any op; anything else is refused.
		req.Op = func(ledger.Tx) (any, error) { return nil, late.(error) }
	}
	if key != "" { // the fingerprint only matters to an idempotency record
		var canon []byte
		if raw, ok := c.Get(ctxValue); ok { // bound: re-encode what bind decoded, not decode again
			if canon, err = json.Marshal(raw); err != nil {
				fail(c, err)
				return ledger.Result{}, false
			}
		} else {
			canon = canonicalJSON(body)
		}
		who := c.GetHeader(HeaderOnBehalf)
		if extra := c.GetString(ctxFingerprintExtra); extra != "" {
			who += "\n" + extra
		}
		req.Fingerprint = fingerprint(c.Request.Method, c.Request.URL.Path, who, canon)
	}
	res, err := s.ledger.Submit(c.Request.Context(), req)
	if err != nil {
		fail(c, err)
		return ledger.Result{}, false
	}
	return res, true
}

// view runs fn over a consistent snapshot, answering its error.
func (s *Server) view(c *gin.Context, fn func(ledger.Reader) error) bool {
	if err := s.ledger.View(c.Request.Context(), fn); err != nil {
		fail(c, err)
		return false
	}
	return true
}

// viewJSON runs fn over a snapshot and answers its value as 200 JSON, or
// the error as a problem.
func viewJSON[T any](s *Server, c *gin.Context, fn func(r ledger.Reader) (T, error)) {
	var out T
	if s.view(c, func(r ledger.Reader) error {
		var err error
		out, err = fn(r)
		return err
	}) {
		c.JSON(http.StatusOK, out)
	}
}

// viewOne answers a read of one document named by the path's id: got,
// then shown only if visible to the caller (visible's error otherwise,
// not_found where the id must not be revealed), in its view.
func viewOne[T, V any](s *Server, c *gin.Context, get func(ledger.Reader, string) (T, error), visible func(ledger.Reader, *Principal, T) error, view func(T) V) {
	p, id := principal(c), c.Param("id")
	viewJSON(s, c, func(r ledger.Reader) (V, error) {
		var none V
		d, err := get(r, id)
		if err != nil {
			return none, err
		}
		if err := visible(r, p, d); err != nil {
			return none, err
		}
		return view(d), nil
	})
}

// bindThen binds the body into req (an absent body is an empty request
// when optional) and runs next, or answers the error.
func bindThen[T any](c *gin.Context, optional bool, next func(req *T)) {
	var req T
	var err error
	if optional {
		err = bindOptional(c, &req)
	} else {
		err = bind(c, &req)
	}
	if err != nil {
		fail(c, err)
		return
	}
	next(&req)
}

// page reads ?after=&limit=&order= for a list.
func page(c *gin.Context) (ledger.Page, error) {
	p := ledger.Page{After: c.Query("after"), Limit: ledger.DefaultPageSize}
	if l := c.Query("limit"); l != "" { // limit= (empty) is left out, as every parameter
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > ledger.MaxPageSize {
			return p, ledger.Errorf(ledger.CodeInvalidRequest, "limit must be 1 to %d", ledger.MaxPageSize)
		}
		p.Limit = n
	}
	switch c.Query("order") {
	case "", "newest":
		p.Reverse = true
	case "oldest":
	default:
		return p, ledger.Errorf(ledger.CodeInvalidRequest, "order must be newest or oldest")
	}
	if len(p.After) > 2*ledger.MaxAccountIDLen {
		return p, ledger.Errorf(ledger.CodeInvalidRequest, "bad cursor")
	}
	return p, nil
}

// seqKeyLen is the length of the zero-padded sequence numbers that key
// the per-community and per-fund lists.
const seqKeyLen = 20

// seqPage is page for lists keyed by zero-padded sequence numbers
// (services, needs, offers, donations, proposals): their cursors are such
// keys, so anything else is a bad cursor rather than a place to start.
func seqPage(c *gin.Context) (ledger.Page, error) {
	p, err := page(c)
	if err == nil && p.After != "" && (len(p.After) != seqKeyLen || strings.ContainsFunc(p.After, func(r rune) bool { return r < '0' || r > '9' })) {
		err = ledger.Errorf(ledger.CodeInvalidRequest, "bad cursor")
	}
	return p, err
}

// idPage is page for lists keyed by ids (funds, catalogue items).
func idPage(c *gin.Context) (ledger.Page, error) {
	p, err := page(c)
	if err == nil && p.After != "" && !ledger.ValidID(p.After) {
		err = ledger.Errorf(ledger.CodeInvalidRequest, "bad cursor")
	}
	return p, err
}

// List is the shape of every paged list.
type List[T any] struct {
	Items []T     `json:"items"`
	Next  *string `json:"next"`
}

func newList[T any](items []T, next string) List[T] {
	if items == nil {
		items = []T{}
	}
	l := List[T]{Items: items}
	if next != "" {
		l.Next = &next
	}
	return l
}

// fingerprint identifies a write for its Idempotency-Key: the method, the
// path, whom the caller acts for, and the body canonicalised as JSON
// values rather than bytes, so a retry that encodes the same JSON
// differently (spacing, key order, escapes) is the same request.
// ctxFingerprintExtra names, for a handler whose effect depends on more
// than its body (logout revokes the token it is called with), what else a
// retry under the same Idempotency-Key must repeat to be the same request.
const ctxFingerprintExtra = "tally.fingerprint_extra"

func fingerprint(method, path, onBehalf string, canon []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(method + " " + path + "\n" + onBehalf + "\n"))
	h.Write(canon)
	var fp [32]byte
	copy(fp[:], h.Sum(nil))
	return fp
}

// canonicalJSON re-encodes one JSON value with sorted object keys, no
// spacing and numbers as written (what submit does with a bound body);
// no body at all is the empty object (the routes whose body is optional
// read both alike); anything else comes back unchanged.
func canonicalJSON(body []byte) []byte {
	if len(bytes.TrimSpace(body)) == 0 {
		return []byte("{}")
	}
	v, err := decodeValue(body)
	if err != nil {
		return body
	}
	out, err := json.Marshal(v)
	if err != nil {
		return body
	}
	return out
}

// loneSurrogate reports whether a JSON string in body escapes half of a
// UTF-16 surrogate pair without the other half, which encoding/json
// would turn into U+FFFD. Bytes outside strings and other escapes are
// skipped; the decoder judges the rest.
func loneSurrogate(body []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+4 > len(body) {
			return 0, false
		}
		var r rune
		for _, c := range body[i : i+4] {
			switch {
			case c >= '0' && c <= '9':
				r = r<<4 | rune(c-'0')
			case c >= 'a' && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case c >= 'A' && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	inString := false
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !inString {
			inString = c == '"'
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(body) {
				return false
			}
			if body[i+1] != 'u' {
				i++ // a one-character escape
				continue
			}
			r, ok := hex4(i + 2)
			if !ok {
				return false // not an escape the decoder takes: it refuses the body
			}
			i += 5
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return true // a low half with no high half before it
			case r >= 0xD800 && r <= 0xDBFF:
				if i+6 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' {
					if lo, ok := hex4(i + 3); ok && lo >= 0xDC00 && lo <= 0xDFFF {
						i += 6
						continue
					}
				}
				return true
			}
		}
	}
	return false
}
