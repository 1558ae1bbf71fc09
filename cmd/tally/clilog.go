package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// cliHandler writes the log lines of a command other than serve (a
// warning of the store a verify or a restore opens) as that command's
// other messages are written: "tally verify: warning: … (path=…)".
type cliHandler struct {
	cmd   string
	mu    *sync.Mutex
	w     io.Writer
	attrs []slog.Attr
}

func newCLIHandler(cmd string, w io.Writer) *cliHandler {
	return &cliHandler{cmd: cmd, mu: &sync.Mutex{}, w: w}
}

func (h *cliHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *cliHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	level := "error"
	if r.Level < slog.LevelError {
		level = "warning"
	}
	fmt.Fprintf(&b, "tally %s: %s: %s", h.cmd, level, r.Message)
	var kv []string
	add := func(a slog.Attr) bool {
		kv = append(kv, a.Key+"="+a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	if len(kv) > 0 {
		b.WriteString(" (" + strings.Join(kv, ", ") + ")")
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *cliHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

func (h *cliHandler) WithGroup(string) slog.Handler { return h }
