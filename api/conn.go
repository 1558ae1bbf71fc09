package api

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"tally/ledger"
)

// MaxServerErrorWrite bounds the writes ProblemListener looks at: Go's
// own refusals are a status line, two headers and a line of text.
const MaxServerErrorWrite = 512

// ProblemListener wraps a listener so that the requests Go's HTTP server
// refuses itself, before routing (a request line or path escape it cannot
// parse, a control character in a header, headers over MaxHeaderBytes, an
// unknown Transfer-Encoding, a missing Host), are answered with a problem
// document and a stable code like every other refusal, instead of Go's
// plain text. net/http writes those answers straight to the connection in
// one write with a fixed header block and no Date header, which no
// response of a handler has; only such writes are rewritten.
func ProblemListener(ln net.Listener) net.Listener { return problemListener{ln} }

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &problemConn{Conn: c}, nil
}

type problemConn struct {
	net.Conn
	// readTimedOut: the last read of the connection hit its deadline (the
	// server's ReadHeaderTimeout, for headers sent too slowly); net/http
	// may then answer its plain 400, which is a 408 to the client.
	readTimedOut atomic.Bool
	readAborted  atomic.Bool // the read deadline is one long past (SetReadDeadline)
}

// abortedReadBefore: a read deadline before it is net/http aborting a
// read (its aLongTimeAgo is the Unix second 1), not a client's timeout.
var abortedReadBefore = time.Unix(1<<20, 0)

func (c *problemConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	// Of the last read only, and not when net/http ended a background
	// read between requests with a deadline in the past: that timeout
	// must not make a later malformed request on the connection a 408
	// (review s24R2).
	ne, ok := err.(net.Error)
	c.readTimedOut.Store(ok && ne.Timeout() && !c.readAborted.Load())
	return n, err
}

// SetReadDeadline notes whether the deadline is net/http's way of
// aborting a read (a time long past) rather than a timeout for the
// client.
func (c *problemConn) SetReadDeadline(t time.Time) error {
	c.readAborted.Store(!t.IsZero() && t.Before(abortedReadBefore))
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline is SetReadDeadline's note too.
func (c *problemConn) SetDeadline(t time.Time) error {
	c.readAborted.Store(!t.IsZero() && t.Before(abortedReadBefore))
	return c.Conn.SetDeadline(t)
}

// CloseWrite keeps the half-close net/http uses after a 431.
func (c *problemConn) CloseWrite() error { return closeWrite(c.Conn) }

// closeWrite half-closes c when it can (a TCP connection, or a wrapper
// passing it on), and does nothing otherwise.
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// goErrorHeaders is the header block of net/http's own refusals
// (server.go, conn.serve).
const goErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *problemConn) Write(p []byte) (int, error) {
	if out, ok := rewriteServerError(p); ok {
		if c.readTimedOut.Load() && bytes.HasPrefix(p, []byte("HTTP/1.1 400 ")) {
			out, _ = problemResponse(http.StatusRequestTimeout, CodeRequestTimeout, "the request's headers were not received in time")
		}
		if _, err := c.Conn.Write(out); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// rewriteServerError turns one of net/http's plain-text refusals into the
// same status with a problem document; ok is false for any other bytes.
func rewriteServerError(p []byte) ([]byte, bool) {
	const prefix = "HTTP/1.1 "
	if len(p) > MaxServerErrorWrite || !bytes.HasPrefix(p, []byte(prefix)) {
		return nil, false
	}
	if bytes.HasPrefix(p, []byte(expectationFailed)) && bytes.HasSuffix(p, []byte("\r\n\r\n")) {
		// An Expect other than 100-continue: net/http answers 417 with no
		// body through its response writer (no handler runs, and no
		// handler of ours answers 417), headers only, in one write.
		return problemResponse(http.StatusExpectationFailed, CodeExpectationFailed,
			"the only expectation served is Expect: 100-continue")
	}
	statusLine, rest, found := bytes.Cut(p[len(prefix):], []byte(goErrorHeaders))
	if !found || len(statusLine) < 3 {
		return nil, false
	}
	status, err := strconv.Atoi(string(statusLine[:3]))
	if err != nil {
		return nil, false
	}
	var code ledger.Code
	detail := "the request could not be read as HTTP (request line, path escapes or headers)"
	switch status {
	case http.StatusBadRequest:
		code = CodeMalformedRequest
		// statusError's text ("missing required Host header", ...) is
		// net/http's own and names no internals.
		if _, text, ok := bytes.Cut(rest, []byte("Bad Request: ")); ok {
			detail = string(text)
		}
	case http.StatusRequestHeaderFieldsTooLarge:
		code = CodeHeadersTooLarge
		detail = "the request's headers are too large"
	case http.StatusNotImplemented:
		code = CodeUnsupportedEncoding
		detail = "unsupported Transfer-Encoding"
	case http.StatusHTTPVersionNotSupported:
		code = CodeHTTPVersion
		detail = "unsupported HTTP version"
	default:
		return nil, false
	}
	if Status(code) != status {
		return nil, false
	}
	return problemResponse(status, code, detail)
}

// expectationFailed starts net/http's answer to an unknown Expect.
const expectationFailed = "HTTP/1.1 417 Expectation Failed\r\n"

// problemResponse is a whole HTTP/1.1 answer of status with a problem
// document (and the header lines given), closing the connection.
func problemResponse(status int, code ledger.Code, detail string, headers ...string) ([]byte, bool) {
	body, err := json.Marshal(Problem{Type: problemTypeBase + string(code), Title: http.StatusText(status),
		Status: status, Code: code, Detail: detail})
	if err != nil {
		return nil, false
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(status) + " " + http.StatusText(status))
	b.WriteString("\r\nContent-Type: application/problem+json\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	for _, h := range headers {
		b.WriteString("\r\n" + h)
	}
	b.WriteString("\r\nConnection: close\r\n\r\n")
	b.Write(body)
	return b.Bytes(), true
}
