package api

import (
	"encoding"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"tally/audit"
	"tally/ledger"
)

// The OpenAPI document is generated from the same route table that
// registers the handlers, and request/response schemas from the Go types
// the handlers decode and encode, so it cannot drift from them; a test
// walks the gin router to check that no route is undocumented.

var (
	docOnce sync.Once
	docJSON map[string]any
)

func (s *Server) openapi(c *gin.Context) {
	docOnce.Do(func() { docJSON = s.Document() })
	c.JSON(http.StatusOK, docJSON)
}

// OpenAPIPath converts a gin path (/v1/x/:id) to an OpenAPI path (/v1/x/{id}).
func OpenAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			parts[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// Document returns the OpenAPI 3.1 document of every route.
func (s *Server) Document() map[string]any {
	problem := schemaOf(reflect.TypeOf(Problem{}), nil)
	codes := make([]string, len(ProblemCodes))
	for i, c := range ProblemCodes {
		codes[i] = string(c.Code)
	}
	problem["properties"].(map[string]any)["code"] = map[string]any{"type": "string", "enum": codes,
		"description": "stable; docs/API.md (Error codes) says what each means and its status"}
	schemas := map[string]any{"Problem": problem}
	paths := map[string]any{}
	for _, r := range s.routes {
		p := OpenAPIPath(r.path)
		item, _ := paths[p].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[p] = item
		}
		item[strings.ToLower(r.method)] = operation(r, schemas)
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Tally API", "version": "1",
			"description": "Volunteer time bank and community fund ledger. Amounts are decimal strings; times RFC 3339 UTC; errors RFC 9457 problems with a stable code; every write takes an Idempotency-Key header. Free text sent with a write (memos, reasons, need and offer titles, purposes, redemption items, catalogue names, company donors) and every id are written into the append-only audit chain and can never be erased: it describes the transaction, and must not hold personal data (names, phone numbers, health details), which belongs in a member's personal fields."},
		"paths": paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
		},
	}
}

func operation(r route, schemas map[string]any) map[string]any {
	op := map[string]any{"summary": r.summary, "tags": []string{r.tag}, "operationId": r.method + " " + r.path}
	var params []any
	for _, seg := range strings.Split(r.path, "/") {
		if strings.HasPrefix(seg, ":") {
			schema := map[string]any{"type": "string"}
			if seg == ":seq" { // a record's sequence number
				schema = map[string]any{"type": "integer", "minimum": 0}
			}
			params = append(params, map[string]any{"name": seg[1:], "in": "path", "required": true, "schema": schema})
		}
	}
	for _, q := range r.query {
		name, required := strings.CutSuffix(q, "!")
		name, isInt := strings.CutSuffix(name, ":int")
		schema := map[string]any{"type": "string"}
		if isInt {
			schema["type"] = "integer"
		}
		if name == "limit" {
			// Every page's bound: 1 to MaxPageSize, audit records to MaxAuditPage.
			schema["minimum"], schema["maximum"] = 1, ledger.MaxPageSize
			if r.path == "/v1/audit/records" {
				schema["maximum"] = MaxAuditPage
			}
		}
		param := map[string]any{"name": name, "in": "query", "required": required, "schema": schema}
		if name == "order" {
			schema["enum"] = []string{"newest", "oldest"}
		}
		if name == "status" && r.statuses != nil {
			schema["enum"] = r.statuses
		}
		d := queryDoc(name, isInt)
		if name == "community" && slices.Contains(r.query, "order") {
			// A list holds one community's items; reports cover a subtree.
			d = "community id: this community's items only, not its subtree's"
		}
		if d != "" {
			param["description"] = d
		}
		params = append(params, param)
	}
	if r.method != http.MethodGet {
		params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header", "required": false, "schema": map[string]any{"type": "string", "maxLength": MaxIdempotencyKey}})
	}
	if r.auth != public {
		op["security"] = []any{map[string]any{"bearer": []string{}}}
		params = append(params, map[string]any{"name": HeaderOnBehalf, "in": "header", "required": false,
			"description": "a coordinator acting for a member (代办)", "schema": map[string]any{"type": "string"}})
		if len(r.roles) > 0 {
			op["x-roles"] = r.roles
		}
	}
	if params != nil {
		op["parameters"] = params
	}
	if r.req != nil {
		// A body none of whose fields is required may be left out
		// (TestOptionalBodiesAccepted holds the handlers to it).
		op["requestBody"] = map[string]any{"required": bodyRequired(r), "content": map[string]any{
			"application/json": map[string]any{"schema": ref(reflect.TypeOf(r.req), schemas)}}}
	}
	ok := map[string]any{"description": http.StatusText(r.status)}
	content := map[string]any{}
	if r.resp != nil {
		content["application/json"] = map[string]any{"schema": ref(reflect.TypeOf(r.resp), schemas)}
	}
	switch {
	case r.media == "application/json": // this document: an object
		content[r.media] = map[string]any{"schema": map[string]any{"type": "object"}}
	case r.media == "application/octet-stream":
		content[r.media] = map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}
	case r.media != "":
		content[r.media] = map[string]any{"schema": map[string]any{"type": "string"}}
	}
	if r.csv {
		content["text/csv"] = map[string]any{"schema": map[string]any{"type": "string"}}
	}
	if len(content) > 0 {
		ok["content"] = content
	}
	problem := map[string]any{"description": "a problem", "content": map[string]any{
		"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
	op["responses"] = map[string]any{itoa(r.status): ok, "4XX": problem, "5XX": problem}
	return op
}

func itoa(n int) string { return strconv.Itoa(n) }

// schemaName names a type in components/schemas.
func schemaName(t reflect.Type) string {
	n := t.Name()
	if i := strings.IndexByte(n, '['); i >= 0 { // List[EntryView] → EntryViewList
		inner := n[i+1 : len(n)-1]
		inner = inner[strings.LastIndexByte(inner, '.')+1:]
		n = inner + n[:i]
	}
	return n
}

func ref(t reflect.Type, schemas map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && t != reflect.TypeOf(time.Time{}) {
		name := schemaName(t)
		if _, ok := schemas[name]; !ok {
			schemas[name] = map[string]any{} // placeholder against recursion
			schemas[name] = schemaOf(t, schemas)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return schemaOf(t, schemas)
}

func schemaOf(t reflect.Type, schemas map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeOf(time.Time{}) {
		return map[string]any{"type": "string", "format": "date-time"}
	}
	if t == reflect.TypeFor[audit.Hash]() {
		return map[string]any{"type": "string", "format": "byte"} // a hash, base64 as every hash served
	}
	if t.Implements(reflect.TypeFor[json.Marshaler]()) || t.Implements(reflect.TypeFor[encoding.TextMarshaler]()) {
		return map[string]any{"type": "string"} // hashes and the like encode themselves as strings
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint64, reflect.Uint32, reflect.Uint:
		return map[string]any{"type": "integer"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": ref(t.Elem(), schemas)}
	case reflect.Array: // a fixed count (the two members of a pair)
		return map[string]any{"type": "array", "items": ref(t.Elem(), schemas), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": ref(t.Elem(), schemas)}
	case reflect.Struct:
		props, required := map[string]any{}, []string{}
		for _, f := range Fields(t) {
			props[f.Name] = ref(f.Type, schemas)
			if f.Nullable {
				props[f.Name] = map[string]any{"anyOf": []any{props[f.Name], map[string]any{"type": "null"}}}
			}
			if f.Doc != "" { // OpenAPI 3.1: a description may sit beside a $ref
				props[f.Name].(map[string]any)["description"] = f.Doc
			}
			if f.NonEmpty {
				props[f.Name].(map[string]any)["minLength"] = 1
			}
			if f.Enum != nil {
				props[f.Name].(map[string]any)["enum"] = f.Enum
			}
			if f.Required || f.Nullable { // a nullable field is always sent, null when unset
				required = append(required, f.Name)
			}
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	return map[string]any{}
}

// bodyRequired reports whether a route's request body must be sent: an
// update (PUT, PATCH: the fields to change), or a struct with a required
// field.
func bodyRequired(r route) bool {
	t := reflect.TypeOf(r.req)
	if r.method == http.MethodPut || r.method == http.MethodPatch || t.Kind() != reflect.Struct {
		return true
	}
	for _, f := range Fields(t) {
		if f.Required {
			return true
		}
	}
	return false
}

// Field is one JSON field of a struct type.
type Field struct {
	Name     string
	Type     reflect.Type
	Required bool
	Nullable bool     // a pointer without omitempty: present, and null when unset
	Doc      string   // the field's `doc` tag: its description in the OpenAPI document
	NonEmpty bool     // optional, but "" is refused (tag empty:"<code>")
	Empty    string   // that tag: the refusal's code (";late": a late rule, see bind)
	ID       string   // tag id:"entity"|"account": the field holds an id (bind checks its shape)
	Enum     []string // the values it takes (tag enum:"a|b"), where they are a closed set
}

// Fields lists the JSON fields of a struct type as encoding/json sees
// them; a field is required unless it has omitempty/omitzero or is a
// pointer.
func Fields(t reflect.Type) []Field {
	var out []Field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			out = append(out, Fields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		omit := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		ptr := f.Type.Kind() == reflect.Pointer
		out = append(out, Field{Name: name, Type: f.Type, Required: !omit && !ptr, Nullable: ptr && !omit, Doc: f.Tag.Get("doc"),
			NonEmpty: f.Tag.Get("empty") != "", Empty: f.Tag.Get("empty"), ID: f.Tag.Get("id"), Enum: enumOf(f.Tag.Get("enum"))})
	}
	return out
}

func enumOf(tag string) []string {
	if tag == "" {
		return nil
	}
	return strings.Split(tag, "|")
}

// queryDoc describes a query parameter by its name (docs/API.md has the
// details).
func queryDoc(name string, isInt bool) string {
	switch {
	case name == "after":
		return "cursor: the next of the previous page; only next: null ends a list"
	case name == "limit":
		return "page size"
	case name == "order":
		return "newest or oldest first"
	case name == "community":
		return "community id; a report covers its whole subtree"
	case name == "status":
		return "only items in this status"
	case name == "role":
		return "only members holding any of these roles, comma-separated"
	case name == "size":
		return "tree size (default: the latest checkpoint's)"
	case (name == "from" || name == "to") && isInt:
		return "record sequence number (tree size for consistency proofs)"
	case name == "from":
		return "first day of the period: YYYY-MM-DD, a China Standard Time (UTC+8) day, or an RFC 3339 time; defaults in docs/API.md"
	case name == "to":
		return "last day of the period, inclusive (an RFC 3339 time: exclusive in the fund report); defaults in docs/API.md"
	}
	return ""
}
