package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"tally/api"
)

// A client that connects while a --demo start is loading the district
// must not see it half loaded (nor be able to take one of its ids): it is
// answered 503 (starting) until then, and its first other answer already
// shows the whole demo.
func TestDemoServedOnlyWhenLoaded(t *testing.T) {
	os.Unsetenv("TALLY_ADMIN_PASSWORD")
	api.PasswordCost = bcrypt.MinCost
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--data", t.TempDir(), "--addr", addr, "--demo"}); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	go func() {
		client := &http.Client{Timeout: 30 * time.Second}
		for range 3000 { // bounded: about 15 s of attempts
			resp, err := client.Get("http://" + addr + "/v1/public/funds")
			if err != nil {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), `"code":"unavailable"`) {
				// Starting: no figures at all, then the whole demo.
				time.Sleep(5 * time.Millisecond)
				continue
			}
			first <- string(body)
			return
		}
		first <- "no answer"
	}()
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := <-first; !strings.Contains(got, "hongxing-fund") {
		t.Fatalf("the first answer during a --demo start was %s; want the loaded demo's funds", got)
	}
}

// TestDemoWithChosenAdminPassword: --demo with TALLY_ADMIN_PASSWORD set
// loads the whole district and the admin logs in with that password (the
// demo once insisted on its own password and left a half-made directory).
func TestDemoWithChosenAdminPassword(t *testing.T) {
	t.Setenv("TALLY_ADMIN_PASSWORD", "chosen-admin-pass-2026")
	api.PasswordCost = bcrypt.MinCost
	m := NewMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--data", t.TempDir(), "--addr", "127.0.0.1:0", "--demo"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for user, pw := range map[string]string{"admin": "chosen-admin-pass-2026", "wang": demoStaffPassword} {
		resp, err := http.Post(m.URL()+"/v1/auth/token", "application/json",
			strings.NewReader(`{"username":"`+user+`","password":"`+pw+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("login %s: status %d", user, resp.StatusCode)
		}
	}
	resp, err := http.Get(m.URL() + "/v1/public/funds")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "hongxing-fund") {
		t.Fatalf("public funds after a --demo start: %s", body)
	}
}
