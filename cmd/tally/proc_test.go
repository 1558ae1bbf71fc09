package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests in this package run the real binary, built once per test run.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// TestMain removes the built binary when the tests are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func tallyBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tally-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tally")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

const e2eAdminPassword = "e2e-admin-password"

// proc is a running `tally serve`.
type proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	url  string
	data string
	out  *bytes.Buffer
}

// startServer runs `tally serve` on a random loopback port over data and
// waits for its "serving on" line (bounded by startTimeout).
func startServer(t testing.TB, data string, extra ...string) *proc {
	t.Helper()
	const startTimeout = 60 * time.Second
	cmd := exec.Command(tallyBinary(t), append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0"}, extra...)...)
	cmd.Env = append(os.Environ(), "TALLY_ADMIN_PASSWORD="+e2eAdminPassword)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errBuf := &bytes.Buffer{}
	cmd.Stderr = errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, data: data, out: errBuf}
	t.Cleanup(func() { p.kill() })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, "serving on "); i >= 0 {
				urls <- strings.Fields(line[i+len("serving on "):])[0]
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			cmd.Wait()
			t.Fatalf("tally serve exited before serving: %s", errBuf)
		}
		p.url = u
	case <-time.After(startTimeout):
		t.Fatalf("tally serve did not start within %s: %s", startTimeout, errBuf)
	}
	return p
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("tally serve exit: %v\n%s", err, p.out)
	}
}

// reply is a decoded HTTP answer.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

var client = &http.Client{Timeout: 30 * time.Second}

func (p *proc) call(method, path, token string, body any, headers ...string) (reply, error) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, p.url+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r, err
}

func (p *proc) must(want int, method, path, token string, body any, headers ...string) reply {
	p.t.Helper()
	r, err := p.call(method, path, token, body, headers...)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.status != want {
		p.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

func (p *proc) login(user, pw string) string {
	p.t.Helper()
	return p.must(200, "POST", "/v1/auth/token", "", map[string]any{"username": user, "password": pw}).str("access_token")
}

// runTally runs a tally subcommand and returns its exit code and output.
func runTally(t testing.TB, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(tallyBinary(t), args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestServingLineNamesTheBuild: the "tally serving" log line names the
// build, as `tally version` does, so an operator can tell from the log
// which one served (probe s27f).
func TestServingLineNamesTheBuild(t *testing.T) {
	p := startServer(t, t.TempDir())
	p.stop()
	for _, line := range strings.Split(p.out.String(), "\n") {
		if strings.Contains(line, `"msg":"tally serving"`) {
			if !strings.Contains(line, `"version":"tally `) {
				t.Fatalf("the serving line names no build: %s", line)
			}
			return
		}
	}
	t.Fatalf("no serving line in %s", p.out)
}
