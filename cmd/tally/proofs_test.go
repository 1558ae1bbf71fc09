package main

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// TestHTTPProofsVerifyIndependently fetches a signed checkpoint, records,
// inclusion and consistency proofs over HTTP from the real binary and
// checks them with transparency-dev/merkle's RFC 6962 code, which shares
// no code with Tally's.
func TestHTTPProofsVerifyIndependently(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	p := startServer(t, t.TempDir())
	admin := p.login("admin", e2eAdminPassword)
	p.must(201, "POST", "/v1/communities", admin, map[string]any{"id": "c1", "name": "社区"})
	for i := 0; i < 12; i++ {
		p.must(201, "POST", "/v1/members", admin, map[string]any{"id": fmt.Sprintf("m%d", i), "community": "c1",
			"display_name": "成员", "roles": []string{"resident"}})
	}
	size, root := checkpointRoot(t, p)
	var leaves [][]byte
	for from := 0; from < int(size); {
		r := p.must(200, "GET", fmt.Sprintf("/v1/audit/records?from=%d&limit=5", from), admin, nil)
		for _, it := range r.body["items"].([]any) {
			h, _ := base64.StdEncoding.DecodeString(it.(map[string]any)["hash"].(string))
			rec, _ := base64.StdEncoding.DecodeString(it.(map[string]any)["record"].(string))
			if got := rfc6962.DefaultHasher.HashLeaf(rec); string(got) != string(h) {
				t.Fatalf("record %d: served hash is not SHA-256(0x00 ‖ record)", len(leaves))
			}
			leaves = append(leaves, h)
		}
		from += 5
	}
	for i := uint64(0); i < size; i++ {
		r := p.must(200, "GET", fmt.Sprintf("/v1/audit/records/%d/inclusion?size=%d", i, size), admin, nil)
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, size, leaves[i], decodeHashes(t, r), root); err != nil {
			t.Fatalf("inclusion of %d in %d: %v", i, size, err)
		}
	}
	// A later checkpoint is consistent with the earlier one.
	p.must(201, "POST", "/v1/members", admin, map[string]any{"id": "late", "community": "c1", "display_name": "x", "roles": []string{"resident"}})
	p.stop()
	p = startServer(t, p.data) // the stop signed a last checkpoint
	size2, root2 := checkpointRoot(t, p)
	if size2 <= size {
		t.Fatalf("checkpoint size %d after growth, want > %d", size2, size)
	}
	// Anyone who kept the first checkpoint checks the log only grew: the
	// proof is public (tree hashes only), no token.
	r := p.must(200, "GET", fmt.Sprintf("/v1/audit/consistency?from=%d&to=%d", size, size2), "", nil)
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size, size2, decodeHashes(t, r), root, root2); err != nil {
		t.Fatalf("consistency %d → %d: %v", size, size2, err)
	}
	// Every kept checkpoint is served, public, page by page, each signed
	// by the log's key; the last is the latest (probe s25b: only the
	// latest was served).
	v, err := note.NewVerifier(strings.TrimSpace(string(p.must(200, "GET", "/v1/audit/key", "", nil).raw)))
	if err != nil {
		t.Fatal(err)
	}
	var sizes []uint64
	var last string
	for after := "0"; ; {
		r := p.must(200, "GET", "/v1/audit/checkpoints?limit=1&after="+after, "", nil)
		for _, it := range r.body["items"].([]any) {
			m := it.(map[string]any)
			last = m["note"].(string)
			n, err := note.Open([]byte(last), note.VerifierList(v))
			if err != nil {
				t.Fatalf("checkpoint %v: %v", m["size"], err)
			}
			got, _ := strconv.ParseUint(strings.Split(n.Text, "\n")[1], 10, 64)
			if got != uint64(m["size"].(float64)) || len(sizes) > 0 && got <= sizes[len(sizes)-1] {
				t.Fatalf("checkpoint listed as size %v signs size %d, after %v", m["size"], got, sizes)
			}
			sizes = append(sizes, got)
		}
		if r.body["next"] == nil {
			break
		}
		after = strconv.FormatUint(uint64(r.body["next"].(float64)), 10)
	}
	if !slices.Contains(sizes, size) || !slices.Contains(sizes, size2) {
		t.Fatalf("kept checkpoints %v lack %d or %d", sizes, size, size2)
	}
	if latest := string(p.must(200, "GET", "/v1/audit/checkpoint", "", nil).raw); last != latest {
		t.Fatalf("the last kept checkpoint is not the latest:\n%s\n%s", last, latest)
	}
}

// checkpointRoot reads the public checkpoint: origin, size, root.
func checkpointRoot(t *testing.T, p *proc) (uint64, []byte) {
	t.Helper()
	lines := strings.Split(string(p.must(200, "GET", "/v1/audit/checkpoint", "", nil).raw), "\n")
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint size line %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		t.Fatalf("checkpoint root line %q", lines[2])
	}
	return size, root
}

func decodeHashes(t *testing.T, r reply) [][]byte {
	t.Helper()
	var out [][]byte
	for _, h := range r.body["hashes"].([]any) {
		b, err := base64.StdEncoding.DecodeString(h.(string))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}
