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

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
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

// demoBearer reads a bearer-protected stream. The gateway revokes the
// access token just before the third connection, as if it had expired
// between two connections: the server answers 401, Bearer fetches a new
// token, and the stream resumes where it stopped.
func demoBearer(ctx context.Context, lg *logger, gw *gateway, c *sse.Client, base string) error {
	gw.revokeBearerOn(3)
	s, err := c.Connect(ctx, base+"/events/bearer")
	if err != nil {
		return err
	}
	defer s.Close()
	return consume(lg, s, "8")
}

// demoTicket reads a ticket-protected stream (each attempt buys a new
// ticket with a bearer token), then replays the last ticket the server
// took.
func demoTicket(ctx context.Context, lg *logger, gw *gateway, newClient func(sse.AuthSource) *sse.Client, tokens oauth2.TokenSource, base string) error {
	ts := &sse.TicketSource{URL: base + "/ticket", Auth: sse.Bearer(tokens)}
	s, err := newClient(ts).Connect(ctx, base+"/events/ticket")
	if err != nil {
		return err
	}
	err = consume(lg, s, "5")
	s.Close()
	if err != nil {
		return err
	}

	used := gw.lastTicket()
	lg.printf("client │ now connecting again with the last ticket the server accepted (a replay)")
	replay := sse.QueryToken("ticket", func(context.Context) (string, error) { return used, nil })
	s, err = newClient(replay).Connect(ctx, base+"/events/ticket")
	if err == nil {
		s.Close()
		return errors.New("the server accepted a replayed ticket")
	}
	var st *sse.StatusError
	var ae *sse.AuthError
	if !errors.As(err, &st) || st.Code != http.StatusUnauthorized || !errors.As(err, &ae) {
		return fmt.Errorf("replay: unexpected error: %w", err)
	}
	lg.printf("client │ replayed ticket refused: Connect returned %v", err)
	lg.printf("client │ (errors.As finds *sse.AuthError and *sse.StatusError with Code %d)", st.Code)
	return nil
}

// demoCookie logs in, reads the session-protected stream, and has the
// server revoke the session mid-stream: the server sends auth_expired and
// closes; the Cookies source logs in again and the stream resumes.
func demoCookie(ctx context.Context, lg *logger, gw *gateway, newClient func(sse.AuthSource) *sse.Client, auth *authserver.Server, base string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	login := func(ctx context.Context) error {
		lg.printf("client │ logging in with the password form")
		hc := &http.Client{Jar: jar}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/login",
			strings.NewReader(url.Values{"password": {password}}.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return &sse.PermanentError{Err: fmt.Errorf("sse demo: login answered %d", resp.StatusCode)}
		}
		return nil
	}
	if err := login(ctx); err != nil {
		return err
	}
	s, err := newClient(sse.SessionCookies(jar, login)).Connect(ctx, base+"/events/cookie")
	if err != nil {
		return err
	}
	defer s.Close()
	revoked := false
	return consumeFunc(lg, s, "4", func(ev sse.Event) {
		if !revoked && ev.ID == "1" {
			revoked = true
			u, _ := url.Parse(base)
			for _, ck := range jar.Cookies(u) {
				if ck.Name == "session" {
					auth.Revoke(ck.Value)
				}
			}
			lg.printf("server │ (demo) session revoked by the server while the stream is open")
		}
	})
}

// demoQueryToken reads a stream whose credential is a signed token in the
// query, fetched (with a bearer token) before every attempt.
func demoQueryToken(ctx context.Context, lg *logger, newClient func(sse.AuthSource) *sse.Client, tokens oauth2.TokenSource, base string) error {
	hc := &http.Client{Timeout: 10 * time.Second}
	fetch := func(ctx context.Context) (string, error) {
		tok, err := tokens.Token()
		if err != nil {
			return "", err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/query-token", nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := hc.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var body struct {
			Token     string `json:"token"`
			ExpiresIn int    `json:"expires_in"`
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("sse demo: query-token endpoint answered %d", resp.StatusCode)
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil {
			return "", err
		}
		lg.printf("client │ got a query token that expires in %ds", body.ExpiresIn)
		return body.Token, nil
	}
	s, err := newClient(sse.QueryToken("token", fetch)).Connect(ctx, base+"/events/token")
	if err != nil {
		return err
	}
	defer s.Close()
	return consume(lg, s, "5")
}

// consume prints s's events until the one with ID last.
func consume(lg *logger, s *sse.Stream, last string) error {
	return consumeFunc(lg, s, last, nil)
}

// consumeFunc is consume with a hook run after each event is printed.
func consumeFunc(lg *logger, s *sse.Stream, last string, after func(sse.Event)) error {
	for ev := range s.Events() {
		lg.printf("client │ event  id=%s type=%s data=%q", ev.ID, ev.Type, ev.Data)
		if after != nil {
			after(ev)
		}
		if ev.ID == last {
			lg.printf("client │ got event %s; closing the stream", last)
			return nil
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	return errors.New("the stream ended early")
}

// tokenSourceFunc adapts a function to oauth2.TokenSource.
type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

// logger prints timestamped lines; it is safe for concurrent use.
type logger struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	if msg == "" {
		fmt.Fprintln(l.w)
		return
	}
	fmt.Fprintf(l.w, "%6.2fs  %s\n", time.Since(l.start).Seconds(), msg)
}

// sdkHandler prints the sse package's log records as "client" lines.
type sdkHandler struct{ lg *logger }

func (h *sdkHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *sdkHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "sse: connected" {
		return nil // the server's line says it
	}
	var b strings.Builder
	b.WriteString(strings.TrimPrefix(r.Message, "sse: "))
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "err":
			fmt.Fprintf(&b, " (%s)", strings.TrimPrefix(a.Value.String(), "sse: "))
		case "delay":
			fmt.Fprintf(&b, " in %s", a.Value.Duration().Round(time.Millisecond))
		}
		return true
	})
	h.lg.printf("client │ %s", b.String())
	return nil
}

func (h *sdkHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *sdkHandler) WithGroup(string) slog.Handler      { return h }

// gateway sits in front of the auth server: it prints each request as a
// "server" line (without any credential), and plays the parts of the
// server that the demo needs to be deterministic.
type gateway struct {
	next http.Handler
	auth *authserver.Server
	lg   *logger

	mu          sync.Mutex
	bearerConns int
	revokeOn    int      // revoke the bearer token on this /events/bearer request
	ticket      string   // the last ticket presented on /events/ticket
	seen        []string // every credential value received, for the test
}

func (g *gateway) revokeBearerOn(n int) {
	g.mu.Lock()
	g.revokeOn = n
	g.mu.Unlock()
}

func (g *gateway) lastTicket() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ticket
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var notes []string
	switch r.URL.Path {
	case "/events/bearer":
		g.mu.Lock()
		g.bearerConns++
		revoke := g.bearerConns == g.revokeOn
		g.mu.Unlock()
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && revoke {
			g.auth.Revoke(tok)
			g.lg.printf("server │ (demo) the access token has been revoked, as if it had expired")
		}
	case "/events/ticket":
		g.mu.Lock()
		g.ticket = r.URL.Query().Get("ticket")
		g.mu.Unlock()
	}
	g.remember(r)
	if scheme, _, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
		notes = append(notes, "Authorization: "+scheme+" …")
	}
	if r.Header.Get("Cookie") != "" {
		notes = append(notes, "Cookie: session=…")
	}
	for name := range r.URL.Query() {
		notes = append(notes, "?"+name+"=…")
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		notes = append(notes, "Last-Event-ID: "+id)
	}
	rw := &recorder{ResponseWriter: w, g: g, req: r.Method + " " + r.URL.Path, notes: strings.Join(notes, ", ")}
	g.next.ServeHTTP(rw, r)
	if rw.code == http.StatusOK && strings.HasPrefix(r.URL.Path, "/events/") && r.Context().Err() == nil {
		if rw.expired {
			g.lg.printf("server │ credentials no longer valid: sent an auth_expired event and closed the stream")
		} else {
			g.lg.printf("server │ closed the stream after %d events (forced disconnect)", rw.events)
		}
	}
}

// remember notes the credential values r carries.
func (g *gateway) remember(r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, v, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
		g.seen = append(g.seen, v)
	}
	for _, ck := range r.Cookies() {
		g.seen = append(g.seen, ck.Value)
	}
	for _, vs := range r.URL.Query() {
		g.seen = append(g.seen, vs...)
	}
}

// recorder prints the status line of a response when it is written.
type recorder struct {
	http.ResponseWriter
	g          *gateway
	req, notes string
	code       int
	events     int
	expired    bool
}

func (rw *recorder) WriteHeader(code int) {
	rw.code = code
	line := rw.req
	if rw.notes != "" {
		line += " [" + rw.notes + "]"
	}
	rw.g.lg.printf("server │ %s → %d %s", line, code, http.StatusText(code))
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(p []byte) (int, error) {
	if rw.code == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	if strings.HasPrefix(string(p), "id: ") {
		rw.events++
	}
	if strings.HasPrefix(string(p), "event: auth_expired") {
		rw.expired = true
	}
	return rw.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the Flusher underneath.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
