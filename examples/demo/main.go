// Command demo is a guided tour of the sse package: it starts a protected
// event-stream server on 127.0.0.1 (internal/authserver, which speaks the
// four usual ways of authenticating Server-Sent Events), connects to it
// with each of the package's auth sources, and prints what happens on both
// sides: events arriving, the server closing streams, reconnections that
// resume with Last-Event-ID, a token refreshed after a 401, a session
// renewed after an auth_expired event, and a one-time ticket refused when
// it is replayed.
//
//	go run ./examples/demo
//
// It needs no flags, no network beyond loopback, and exits by itself in a
// few seconds. No secret is printed: the log shows which credential kind
// travels, never its value.
package main

// This file holds main and run: the embedded server, the client every
// scenario uses, and the tour's order. The scenarios are in scenarios.go,
// the server-side gateway in gateway.go, the log in log.go.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/ssekit/sse"
	"github.com/ssekit/sse/internal/authserver"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// stdout is where the demo writes its log; tests replace it.
var stdout io.Writer = os.Stdout

// lastGateway is the gateway of the last run, for tests.
var lastGateway *gateway

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// Credentials the embedded server accepts. They are demo values; the log
// never prints them, nor any token, ticket or session the server issues.
const (
	clientID     = "demo-client"
	clientSecret = "demo-secret"
	password     = "demo-password"
)

// run starts the server, runs the four scenarios in turn and prints a
// summary. It returns an error when a scenario does not behave as shown.
func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	lg := &logger{w: stdout, start: time.Now()}
	auth := authserver.New(authserver.Options{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Password:     password,
		Interval:     40 * time.Millisecond, // one event every 40ms
		Events:       3,                     // then the server closes the stream
		Retry:        150 * time.Millisecond,
	})
	gw := &gateway{next: auth, auth: auth, lg: lg}
	lastGateway = gw

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: gw, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	defer func() {
		_ = hs.Close()
		<-served
	}()
	base := "http://" + ln.Addr().String()

	lg.printf("ssekit/sse demo: a protected SSE server is listening on %s", base)
	lg.printf("It sends \"id: N\" / \"data: event N\" every 40ms, closes each stream after 3 events")
	lg.printf("(a server-forced disconnect) and asks clients to wait 150ms (retry: 150).")
	lg.printf("\"server │\" lines are what the server saw (credentials shown only by kind, as …);")
	lg.printf("\"client │\" lines are the SDK's log and the events this program received.")

	// Every scenario uses a client like this one: the SDK's own log
	// records are printed as "client" lines.
	newClient := func(a sse.AuthSource) *sse.Client {
		return &sse.Client{
			Auth:          a,
			Logger:        slog.New(&sdkHandler{lg: lg}),
			MinRetryDelay: 100 * time.Millisecond,
			MaxRetries:    5,
		}
	}

	cc := &clientcredentials.Config{ClientID: clientID, ClientSecret: clientSecret, TokenURL: base + "/token"}
	// A source that asks the token endpoint anew on every call, so that a
	// refresh after a 401 really gets a new token (clientcredentials'
	// own TokenSource would serve the cached one until it expires).
	tokens := tokenSourceFunc(func() (*oauth2.Token, error) {
		lg.printf("client │ asking the token endpoint for an access token (client credentials)")
		return cc.Token(ctx)
	})

	steps := []struct {
		title string
		fn    func() error
	}{
		{"1. Bearer token from an OAuth2 token endpoint, refreshed after a 401", func() error {
			return demoBearer(ctx, lg, gw, newClient(sse.Bearer(tokens)), base)
		}},
		{"2. One-time ticket bought before every attempt, refused on replay", func() error {
			return demoTicket(ctx, lg, gw, newClient, tokens, base)
		}},
		{"3. Cookie session from a login form, renewed after auth_expired", func() error {
			return demoCookie(ctx, lg, gw, newClient, auth, base)
		}},
		{"4. Short-lived signed token in the query, a fresh one per attempt", func() error {
			return demoQueryToken(ctx, lg, newClient, tokens, base)
		}},
	}
	for _, s := range steps {
		lg.printf("")
		lg.printf("== %s ==", s.title)
		if err := s.fn(); err != nil {
			return fmt.Errorf("%s: %w", s.title, err)
		}
	}

	st := auth.Stats()
	lg.printf("")
	lg.printf("== Summary ==")
	lg.printf("streams opened %d, 401s sent %d, access tokens issued %d, tickets issued %d, ticket replays refused %d, streams ended by expired credentials %d",
		st.StreamsOpened, st.Rejected, st.TokensIssued, st.TicketsIssued, st.TicketReplays, st.Expired)
	lg.printf("demo finished in %s", time.Since(lg.start).Round(10*time.Millisecond))
	return nil
}

// tokenSourceFunc adapts a function to oauth2.TokenSource.
type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }
