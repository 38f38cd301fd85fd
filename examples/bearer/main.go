// Command bearer reads an event stream protected by OAuth2 bearer tokens
// that it gets from a token endpoint with the client-credentials grant.
// When the server answers 401 (the token expired or was revoked), the
// Bearer source fetches a new token and the stream resumes with
// Last-Event-ID.
//
//	SSE_CLIENT_SECRET=... go run ./examples/bearer \
//		-url https://api.example.com/events \
//		-token-url https://auth.example.com/oauth2/token -client-id my-client
//
// The client secret comes from the environment so that it stays out of
// shell history and process listings.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssekit/sse"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

var (
	eventsURL = flag.String("url", os.Getenv("SSE_URL"), "event stream `URL` (env SSE_URL)")
	tokenURL  = flag.String("token-url", os.Getenv("SSE_TOKEN_URL"), "OAuth2 token endpoint `URL` (env SSE_TOKEN_URL)")
	clientID  = flag.String("client-id", os.Getenv("SSE_CLIENT_ID"), "OAuth2 client `id` (env SSE_CLIENT_ID); the secret is read from SSE_CLIENT_SECRET")
	scope     = flag.String("scope", "", "OAuth2 `scope` to ask for (optional)")
	count     = flag.Int("n", 0, "stop after `n` events; 0: run until interrupted")
)

// stdout receives the events; tests replace it.
var stdout io.Writer = os.Stdout

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bearer:", err)
		os.Exit(1)
	}
}

func run() error {
	if *eventsURL == "" || *tokenURL == "" || *clientID == "" {
		return fmt.Errorf("-url, -token-url and -client-id are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cc := &clientcredentials.Config{
		ClientID:     *clientID,
		ClientSecret: os.Getenv("SSE_CLIENT_SECRET"),
		TokenURL:     *tokenURL,
	}
	if *scope != "" {
		cc.Scopes = []string{*scope}
	}
	// cc.TokenSource would keep serving a cached token until it expires,
	// even after the server refused it; this source asks the endpoint
	// anew each time the Bearer source needs a token (Bearer caches it).
	tokens := tokenSourceFunc(func() (*oauth2.Token, error) { return cc.Token(ctx) })

	c := &sse.Client{Auth: sse.Bearer(tokens)}
	s, err := c.Connect(ctx, *eventsURL)
	if err != nil {
		return err
	}
	defer s.Close()
	n := 0
	for ev := range s.Events() {
		fmt.Fprintf(stdout, "id=%s type=%s data=%s\n", ev.ID, ev.Type, ev.Data)
		if n++; n == *count {
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil // interrupted
	}
	return s.Err()
}

// tokenSourceFunc adapts a function to oauth2.TokenSource.
type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }
