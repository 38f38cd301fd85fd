// Command ticket reads an event stream that takes one-time tickets: before
// every connection attempt it buys a ticket from the ticket endpoint (with
// a bearer token as the endpoint's own credential) and puts it in the
// query, so a ticket is never reused, not even on reconnection.
//
//	SSE_TOKEN=... go run ./examples/ticket \
//		-url https://api.example.com/events -ticket-url https://api.example.com/ticket
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssekit/sse"
)

var (
	eventsURL = flag.String("url", os.Getenv("SSE_URL"), "event stream `URL` (env SSE_URL)")
	ticketURL = flag.String("ticket-url", os.Getenv("SSE_TICKET_URL"), "ticket endpoint `URL` (env SSE_TICKET_URL); it is sent SSE_TOKEN as a bearer token")
	count     = flag.Int("n", 0, "stop after `n` events; 0: run until interrupted")
)

// stdout receives the events; tests replace it.
var stdout io.Writer = os.Stdout

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ticket:", err)
		os.Exit(1)
	}
}

func run() error {
	if *eventsURL == "" || *ticketURL == "" {
		return fmt.Errorf("-url and -ticket-url are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The ticket endpoint's own credential: a fixed bearer token. (With
	// an OAuth2 token endpoint, use sse.Bearer here instead.)
	var endpointAuth sse.AuthSource
	if tok := os.Getenv("SSE_TOKEN"); tok != "" {
		endpointAuth = sse.StaticHeaders(http.Header{"Authorization": {"Bearer " + tok}})
	}
	ts := &sse.TicketSource{
		URL:  *ticketURL,
		Auth: endpointAuth, // the ticket endpoint's credentials, not the stream's
	}
	c := &sse.Client{Auth: ts}
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
