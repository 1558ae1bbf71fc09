package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// StreamIdleTimeout bounds how long verify --url and backup --url wait
// for the next bytes of a server's answer: a stalled connection fails
// instead of hanging for ever.
const StreamIdleTimeout = time.Minute

// getStream GETs base+path with a bearer token. Reading the answer fails
// once no byte has come for stall (StreamIdleTimeout); the func returned
// releases it.
func getStream(ctx context.Context, base, path, token string, stall time.Duration) (*http.Response, func(), error) {
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
