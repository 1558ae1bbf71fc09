package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"tally/ledger"
	"tally/ledger/fund"
)

// sourceCodes finds every constant of type Code (ledger.Code) declared in
// the packages that answer problems.
func sourceCodes(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{".", "../ledger", "../ledger/community", "../ledger/timebank", "../ledger/fund"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				vs, ok := n.(*ast.ValueSpec)
				if !ok || vs.Type == nil {
					return true
				}
				typ := ""
				switch x := vs.Type.(type) {
				case *ast.Ident:
					typ = x.Name
				case *ast.SelectorExpr:
					typ = x.Sel.Name
				}
				if typ != "Code" {
					return true
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						out = append(out, s)
					}
				}
				return true
			})
		}
	}
	slices.Sort(out)
	return out
}

// TestProblemCodesDocumented: every code constant in the source is in
// ProblemCodes once, with its meaning, and docs/API.md's table of codes
// lists exactly these, each with the status statusOf gives it.
func TestProblemCodesDocumented(t *testing.T) {
	src := sourceCodes(t)
	if len(src) < 50 {
		t.Fatalf("found %d code constants in the source; the scan is broken", len(src))
	}
	var listed []string
	for _, c := range ProblemCodes {
		if c.Meaning == "" {
			t.Errorf("%s has no meaning", c.Code)
		}
		listed = append(listed, string(c.Code))
	}
	slices.Sort(listed)
	if !slices.Equal(src, listed) {
		t.Fatalf("code constants in the source %v\nProblemCodes %v", src, listed)
	}
	doc, err := os.ReadFile("../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (\\d{3}) \\|")
	var rows []string
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		rows = append(rows, m[1])
		if want := strconv.Itoa(Status(ledger.Code(m[1]))); m[2] != want {
			t.Errorf("docs/API.md says %s is %s; the server answers %s", m[1], m[2], want)
		}
	}
	var inOrder []string
	for _, c := range ProblemCodes {
		inOrder = append(inOrder, string(c.Code))
	}
	if !slices.Equal(rows, inOrder) {
		t.Fatalf("docs/API.md's table of codes %v\nwant, in this order, %v", rows, inOrder)
	}
}

// TestDetailEscapesControls: a problem's detail that echoes what a
// request sent shows control and bidirectional-formatting characters as
// \uXXXX, never raw (an ANSI escape in a terminal, reordered text).
func TestDetailEscapesControls(t *testing.T) {
	for in, want := range map[string]string{
		"timebank: item a\x1b[31mb not found": `item a\u001b[31mb not found`,
		"item a\x00b\u202eevil":               `item a\u0000b\u202eevil`,
		"line\u2028break\u200b":               `line\u2028break\u200b`,
		"catalogue item 理发 not found":         "catalogue item 理发 not found",
	} {
		if got := userDetail(in); got != want {
			t.Errorf("userDetail(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDocumentedLimits: docs/API.md states each body limit with the
// value of its constant.
func TestDocumentedLimits(t *testing.T) {
	doc, err := os.ReadFile("../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(doc)), " ")
	for name, v := range map[string]int{"ledger.MaxIDLen": ledger.MaxIDLen, "ledger.MaxAccountIDLen": ledger.MaxAccountIDLen,
		"ledger.MaxMemoLen": ledger.MaxMemoLen, "ledger.MaxNameLen": ledger.MaxNameLen, "ledger.MaxPostings": ledger.MaxPostings,
		"ledger.MaxRoles": ledger.MaxRoles, "ledger.MaxRelatives": ledger.MaxRelatives, "fund.MaxEvidence": fund.MaxEvidence,
		"fund.MaxProjects": fund.MaxProjects, "fund.MaxProjectIDLen": fund.MaxProjectIDLen} {
		i := strings.Index(text, "(`"+name+"`)")
		if i < 0 {
			t.Errorf("docs/API.md does not name %s", name)
			continue
		}
		if !strings.Contains(text[max(0, i-40):i], " "+strconv.Itoa(v)+" ") {
			t.Errorf("docs/API.md: %s is %d, not what the text before it says: %q", name, v, text[max(0, i-40):i])
		}
	}
}
