package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"tally/api"
)

// BenchmarkGiftVsTrivial is the HTTP load test of issue 4: at
// loadConnections concurrent keep-alive connections it measures, in the
// same run, a trivial JSON POST handler and Tally's durable, authenticated,
// audited gift (POST /v1/gifts), and reports requests/s, p50/p99 latency
// and the ratio gift/trivial. Each b.N is one request of each kind.
//
//	go test ./cmd/tally -run '^$' -bench GiftVsTrivial -benchtime 20000x
func BenchmarkGiftVsTrivial(b *testing.B) {
	const loadConnections = 64
	trivial := startTrivial(b)
	base, tokens := startLoadServer(b, loadConnections)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadConnections, MaxConnsPerHost: loadConnections}}

	b.ResetTimer()
	tr := runLoad(b, client, loadConnections, b.N, func(w, i int) *http.Request {
		req, _ := http.NewRequest("POST", trivial+"/echo", bytes.NewBufferString(`{"from":"m1","to":"pool","hours":"0.01"}`))
		req.Header.Set("Content-Type", "application/json")
		return req
	})
	gift := runLoad(b, client, loadConnections, b.N, func(w, i int) *http.Request {
		body := fmt.Sprintf(`{"from":"m%d","to":"load:pool","hours":"0.01"}`, w)
		req, _ := http.NewRequest("POST", base+"/v1/gifts", bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokens[w])
		return req
	})
	b.StopTimer()
	b.ReportMetric(tr.rate, "trivial_req/s")
	b.ReportMetric(gift.rate, "gift_req/s")
	b.ReportMetric(gift.rate/tr.rate*100, "gift_%_of_trivial")
	b.ReportMetric(float64(tr.p99.Microseconds())/1000, "trivial_p99_ms")
	b.ReportMetric(float64(gift.p50.Microseconds())/1000, "gift_p50_ms")
	b.ReportMetric(float64(gift.p99.Microseconds())/1000, "gift_p99_ms")
	b.ReportMetric(0, "ns/op")
}

type loadResult struct {
	rate     float64
	p50, p99 time.Duration
}

// runLoad sends n requests over conns workers and fails on any non-2xx.
func runLoad(b *testing.B, client *http.Client, conns, n int, mk func(w, i int) *http.Request) loadResult {
	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				resp, err := client.Do(mk(w, i))
				if err != nil {
					failed.Store(err.Error())
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 300 {
					failed.Store(fmt.Sprintf("status %d: %s", resp.StatusCode, body))
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if f := failed.Load(); f != nil {
		b.Fatalf("load: %v", f)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return loadResult{rate: float64(n) / elapsed.Seconds(), p50: all[len(all)/2], p99: all[len(all)*99/100]}
}

// startTrivial serves a JSON POST handler that decodes and answers.
func startTrivial(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, "bad", 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(v)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// startLoadServer runs Tally in-process (the real Main) with one community
// and `members` members, each with credits and a token.
func startLoadServer(b *testing.B, members int) (string, []string) {
	os.Setenv("TALLY_ADMIN_PASSWORD", e2eAdminPassword)
	// Setup creates 64 logins; at the production bcrypt cost that would be
	// most of a CPU profile of this benchmark, and logins are not measured.
	api.PasswordCost = bcrypt.MinCost
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--data", b.TempDir(), "--addr", "127.0.0.1:0"}); err != nil {
		b.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	base := m.URL()
	call := func(token, path string, body any) map[string]any {
		var out map[string]any
		if err := demoDo(context.Background(), m.api.Handler(), token, "POST", path, body, &out); err != nil {
			b.Fatal(err)
		}
		return out
	}
	admin := call("", "/v1/auth/token", map[string]any{"username": "admin", "password": e2eAdminPassword})["access_token"].(string)
	call(admin, "/v1/communities", map[string]any{"id": "load", "name": "压测社区"})
	tokens := make([]string, members)
	for i := range tokens {
		id := fmt.Sprintf("m%d", i)
		call(admin, "/v1/members", map[string]any{"id": id, "community": "load", "display_name": id,
			"roles": []string{"resident"}, "username": id, "password": "password-" + id})
		call(admin, "/v1/transfers", map[string]any{"postings": []any{map[string]any{"from": "load:issuance", "to": id + ":HOUR", "amount": "100000.00", "unit": "HOUR"}}})
		tokens[i] = call("", "/v1/auth/token", map[string]any{"username": id, "password": "password-" + id})["access_token"].(string)
	}
	return base, tokens
}
