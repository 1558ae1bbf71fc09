package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// HealthTimeout bounds `tally health`: a server that does not answer
// within it is unhealthy.
const HealthTimeout = 5 * time.Second

// runHealth asks a server's /healthz (a container's HEALTHCHECK: the
// distroless image has no shell or curl). Exit 0 when it answers 200,
// 1 otherwise, 2 on bad flags.
func runHealth(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("health", "[--url URL]", stderr)
	url := fs.String("url", envOr("TALLY_URL", ""), "base URL of the server (TALLY_URL; default: the address serve listens on, TALLY_ADDR)")
	if err := fs.Parse(args); err != nil {
		return helpOr2(err)
	}
	if err := noArgs(fs); err != nil {
		fmt.Fprintf(stderr, "tally health: %v\n", err)
		return 2
	}
	if *url == "" {
		*url = localURL(envOr("TALLY_ADDR", "127.0.0.1:8080"))
	}
	if !strings.HasPrefix(*url, "http://") && !strings.HasPrefix(*url, "https://") {
		fmt.Fprintf(stderr, "tally health: --url %q: give http://HOST:PORT\n", *url)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*url, "/")+"/healthz", nil)
	if err != nil {
		fmt.Fprintf(stderr, "tally health: %v\n", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "tally health: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "tally health: %s: %s\n", resp.Status, body)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %s\n", strings.TrimSpace(string(body)))
	return 0
}

// localURL is the URL a process on the same host reaches a listen
// address at: an unspecified host (0.0.0.0, ::, empty) is the loopback.
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
