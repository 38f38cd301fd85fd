// Command ssecat prints a Server-Sent Events stream: curl -N for SSE, with
// reconnection, Last-Event-ID resumption and the usual ways of
// authenticating.
//
// Usage:
//
//	ssecat [flags] URL
//
// Flags may come before or after the URL. Examples:
//
//	ssecat https://example.com/events
//	SSE_TOKEN=... ssecat -o json https://api.example.com/events | jq .data
//	SSE_CLIENT_SECRET=... ssecat -token-url https://auth.example.com/token \
//		-client-id cli -scope events.read https://api.example.com/events
//	ssecat -cookies cookies.txt -ticket-url https://app.example.com/ticket https://app.example.com/events
//	ssecat -d '{"prompt": "hi"}' -o data https://llm.example.com/v1/stream
//
// Credentials: a bearer token comes from -token or, better (it stays out of
// shell history and process listings), the environment variable SSE_TOKEN;
// OAuth2 client credentials from -token-url, -client-id, -scope and the
// secret in SSE_CLIENT_SECRET; cookies from a Netscape cookie file
// (-cookies, as curl -c and browser extensions write it). With -ticket-url
// those credentials go to the ticket endpoint, and the stream gets a fresh
// one-time ticket in its query on every attempt. No secret is ever printed.
//
// Every request ssecat sends (the stream, the token endpoint, the ticket
// endpoint) is under the SDK's credential policy: no credential follows a
// redirect to another origin, and credentials go over plain http only to
// localhost or a loopback IP literal unless -allow-plain-http is given.
//
// Output (-o): raw (event blocks as on the wire, the default), json (one
// object per line: {"type","data","id"}, for jq) or data (each event's data
// on its own line). Connection state and retries go to stderr unless -q.
//
// A GET stream reconnects and resumes until the server answers 204; a -d
// stream (POST by default) ends when the server ends it, and is not sent
// again after a loss, since the server may have acted on it.
//
// Exit status: 0 when the stream ends cleanly (the server answered 204 or
// ended a -d stream, or ssecat got SIGINT or SIGTERM), 1 with a one-line
// message on stderr when it ends with an error (a permanent failure such
// as 403 or a refused credential, a -d stream lost mid-way, or
// -max-retries reached), 2 on a usage error.
package main

// This file holds main and run, the stream loop, and the request built
// from -X, -d and -H. The command line is in flags.go, the credentials in
// auth.go, and what ssecat prints in output.go.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ssekit/sse"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// run is ssecat with its inputs and outputs passed in; it returns the exit
// status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	o, err := parseArgs(args, stderr, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "ssecat: %s (see ssecat -h)\n", ue.msg)
		return exitUsage
	}
	if err != nil {
		return exitUsage // the flag package has said what was wrong
	}
	if err := stream(ctx, o, stdin, stdout, stderr); err != nil {
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "ssecat: %s\n", ue.msg)
			return exitUsage
		}
		fmt.Fprintf(stderr, "ssecat: %s\n", flagWords(oneLine(err)))
		return exitError
	}
	return exitOK
}

// oneLine renders err for the final message: one line, without the
// package prefix.
func oneLine(err error) string {
	s := strings.TrimPrefix(err.Error(), "sse: ")
	s = strings.ReplaceAll(s, "\n", "; ")
	return strings.ReplaceAll(s, "; sse: ", "; ")
}

// stream opens the stream and prints it until it ends.
func stream(ctx context.Context, o *options, stdin io.Reader, stdout, stderr io.Writer) error {
	auth, err := authSource(ctx, o)
	if err != nil {
		return err
	}
	req, err := newRequest(ctx, o, stdin)
	if err != nil {
		return err
	}
	c := &sse.Client{
		Auth:           auth,
		LastEventID:    o.lastEventID,
		IdleTimeout:    o.idleTimeout,
		MaxRetries:     o.maxRetries,
		AllowPlainHTTP: o.allowHTTP,
	}
	if !o.quiet {
		c.OnAttempt = func(a sse.Attempt) { reportAttempt(stderr, a) }
	}
	s, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while connecting
		}
		return err
	}
	defer s.Close()

	w := bufio.NewWriter(stdout)
	emit := printer(o.output, o.lastEventID, w)
	for ev := range s.Events() {
		if err := emit(ev); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	}
	if ctx.Err() != nil {
		if !o.quiet {
			fmt.Fprintln(stderr, "ssecat: interrupted")
		}
		return nil
	}
	if err := s.Err(); err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintln(stderr, "ssecat: the server ended the stream")
	}
	return nil
}

// newRequest builds the stream request from -X, -d and -H.
func newRequest(ctx context.Context, o *options, stdin io.Reader) (*http.Request, error) {
	var body io.Reader
	if o.hasData {
		b := []byte(o.data)
		if name, ok := strings.CutPrefix(o.data, "@"); ok {
			var err error
			if name == "-" {
				b, err = io.ReadAll(io.LimitReader(stdin, 16<<20))
			} else {
				b, err = os.ReadFile(name)
			}
			if err != nil {
				return nil, usagef("-d: cannot read the body: %v", errors.Unwrap(err))
			}
		}
		body = bytes.NewReader(b)
	}
	method := o.method
	if method == "" {
		method = http.MethodGet
		if o.hasData {
			method = http.MethodPost
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, o.url, body)
	if err != nil {
		return nil, usagef("-X: invalid method")
	}
	for _, h := range o.headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if o.hasData && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}
