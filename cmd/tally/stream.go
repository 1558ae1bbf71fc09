package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// StreamIdleTimeout bounds how long verify --url and backup --url wait
// for the next bytes of a server's answer: a stalled connection fails
// instead of hanging for ever.
const StreamIdleTimeout = time.Minute

// StreamBusyRetries and StreamBusyBudget bound how often and how long
// verify --url and backup --url ask again when the server answers 503
// with a Retry-After (it is sending as many backups or audit exports as
// it sends at once, or is starting): a backup run by cron then waits its
// turn instead of failing (probe s25a). Each wait is the server's
// Retry-After, within StreamBusyMinWait..StreamBusyMaxWait; a 503
// without one (a damaged ledger) is not retried.
const (
	StreamBusyRetries = 10
	StreamBusyBudget  = 5 * time.Minute
	StreamBusyMinWait = time.Second
	StreamBusyMaxWait = 2 * time.Minute
)

// busyWait waits d or until ctx ends; a test records the waits instead.
var busyWait = func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// getStream GETs base+path with a bearer token, asking again while the
// server is busy (StreamBusyRetries; each wait noted on notes). Reading
// the answer fails once no byte has come for stall (StreamIdleTimeout);
// the func returned releases it.
func getStream(ctx context.Context, base, path, token string, stall time.Duration, notes io.Writer) (*http.Response, func(), error) {
	if notes == nil {
		notes = io.Discard
	}
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		resp, done, err := getStreamOnce(ctx, base, path, token, stall)
		if err != nil {
			return nil, nil, err
		}
		wait, busy := busyRetryAfter(resp)
		if !busy || attempt > StreamBusyRetries || waited+wait > StreamBusyBudget {
			return resp, done, nil
		}
		waited += wait
		done()
		fmt.Fprintf(notes, "note: GET %s: the server is busy (503); asking again in %s (%d of at most %d)\n", path, wait, attempt, StreamBusyRetries)
		if err := busyWait(ctx, wait); err != nil {
			return nil, nil, err
		}
	}
}

// busyRetryAfter reports whether resp is a 503 worth asking again after,
// and how long to wait.
func busyRetryAfter(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	secs, err := strconv.ParseUint(resp.Header.Get("Retry-After"), 10, 64)
	if err != nil {
		return 0, false
	}
	// Clamped before it becomes a Duration: a huge value must not wrap
	// (review s25R: 9999999999 s waited a negative time).
	secs = min(secs, uint64(StreamBusyMaxWait/time.Second))
	return max(time.Duration(secs)*time.Second, StreamBusyMinWait), true
}

// statusError describes a stream's answer other than 200, with the
// beginning of its body (the problem's detail says why).
func statusError(path string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return fmt.Errorf("GET %s: server answered %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
}

func getStreamOnce(ctx context.Context, base, path, token string, stall time.Duration) (*http.Response, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	idle := &idleBody{stall: stall}
	idle.timer = time.AfterFunc(stall, func() { idle.stalled.Store(true); cancel() })
	release := func() { idle.timer.Stop(); cancel() }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		release()
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		release()
		return nil, nil, idle.explain(err)
	}
	idle.r = resp.Body
	resp.Body = struct {
		io.Reader
		io.Closer
	}{idle, resp.Body}
	return resp, func() { resp.Body.Close(); release() }, nil
}

// idleBody restarts the stall timer on every read.
type idleBody struct {
	r       io.Reader
	stall   time.Duration
	timer   *time.Timer
	stalled atomic.Bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.timer.Reset(b.stall)
	}
	if err != nil && err != io.EOF {
		err = b.explain(err)
	}
	return n, err
}

func (b *idleBody) explain(err error) error {
	if b.stalled.Load() {
		return fmt.Errorf("no data from the server for %s: %w", b.stall, err)
	}
	return err
}
