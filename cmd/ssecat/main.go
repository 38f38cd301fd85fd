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

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ssekit/sse"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
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

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// options is the parsed command line.
type options struct {
	url          string
	headers      listFlag
	token        string
	tokenURL     string
	clientID     string
	scopes       listFlag
	ticketURL    string
	cookies      string
	lastEventID  string
	method       string
	data         string
	hasData      bool
	output       string
	quiet        bool
	idleTimeout  time.Duration
	maxRetries   int
	allowHTTP    bool
	clientSecret string // from the environment
}

const usageText = `usage: ssecat [flags] URL

Prints the Server-Sent Events stream at URL. A GET stream is resumed with
Last-Event-ID until the server answers 204 or ssecat is interrupted; a -d
(POST) stream ends when the server ends it and is never sent twice.

Flags:
`

// parseArgs reads the command line; flags may follow the URL.
func parseArgs(args []string, stderr io.Writer, getenv func(string) string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("ssecat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\nEnvironment: SSE_TOKEN (bearer token), SSE_CLIENT_SECRET (OAuth2 client secret).\n"+
			"Exit status: 0 on a clean end (204, SIGINT, SIGTERM), 1 on an error, 2 on a usage error.\n")
	}
	fs.Var(&o.headers, "H", "extra request header `'Name: value'` (repeatable)")
	fs.StringVar(&o.token, "token", "", "bearer `token` (prefer the SSE_TOKEN environment variable, which stays out of shell history)")
	fs.StringVar(&o.tokenURL, "token-url", "", "OAuth2 token endpoint `URL` for the client-credentials grant; the secret is read from SSE_CLIENT_SECRET")
	fs.StringVar(&o.clientID, "client-id", "", "OAuth2 client `id` (with -token-url)")
	fs.Var(&o.scopes, "scope", "OAuth2 `scope` to ask for (repeatable; with -token-url)")
	fs.StringVar(&o.ticketURL, "ticket-url", "", "`URL` that answers {\"ticket\": ...}; a fresh one-time ticket goes in the query of every attempt, and the other credentials go to this endpoint")
	fs.StringVar(&o.cookies, "cookies", "", "Netscape cookie `file` to send cookies from")
	fs.StringVar(&o.lastEventID, "last-event-id", "", "resume after this event `id`")
	fs.StringVar(&o.method, "X", "", "request `method` (default GET, or POST with -d)")
	fs.Func("d", "request `body`; @file reads it from a file, @- from stdin; the Content-Type is application/json unless -H sets one", func(v string) error {
		o.data, o.hasData = v, true
		return nil
	})
	fs.StringVar(&o.output, "o", "raw", "output `format`: raw (event blocks), json (one JSON object per line) or data (data only)")
	fs.BoolVar(&o.quiet, "q", false, "do not print connection state and retries on stderr")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 0, "reconnect when the server sends nothing for this `duration` (0: 90s; negative: never)")
	fs.IntVar(&o.maxRetries, "max-retries", 0, "give up after this many consecutive failed `attempts` (0: never)")
	fs.BoolVar(&o.allowHTTP, "allow-plain-http", false, "allow credentials over plain http to hosts other than localhost and loopback IP literals, for the stream, -token-url and -ticket-url")

	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	switch len(positional) {
	case 0:
		return nil, usagef("no URL given")
	case 1:
		o.url = positional[0]
	default:
		return nil, usagef("one URL expected, got %d arguments", len(positional))
	}
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("the URL must be an absolute http or https URL")
	}
	switch o.output {
	case "raw", "json", "data":
	default:
		return nil, usagef("-o must be raw, json or data")
	}
	if o.token == "" {
		o.token = getenv("SSE_TOKEN")
	}
	o.clientSecret = getenv("SSE_CLIENT_SECRET")
	if o.tokenURL != "" {
		if o.token != "" {
			return nil, usagef("-token-url cannot be used with a bearer token (-token or SSE_TOKEN)")
		}
		if o.clientID == "" {
			return nil, usagef("-token-url needs -client-id")
		}
		if t, err := url.Parse(o.tokenURL); err != nil || (t.Scheme != "http" && t.Scheme != "https") || t.Host == "" {
			return nil, usagef("-token-url must be an absolute http or https URL")
		}
	} else if o.clientID != "" || len(o.scopes) > 0 {
		return nil, usagef("-client-id and -scope need -token-url")
	}
	if o.ticketURL != "" {
		if t, err := url.Parse(o.ticketURL); err != nil || (t.Scheme != "http" && t.Scheme != "https") || t.Host == "" {
			return nil, usagef("-ticket-url must be an absolute http or https URL")
		}
	}
	if strings.ContainsFunc(o.lastEventID, isCtl) {
		return nil, usagef("-last-event-id holds a control character")
	}
	if o.maxRetries < 0 {
		return nil, usagef("-max-retries must not be negative")
	}
	for i, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		// Never echo the argument: it may hold a credential.
		if !ok || !validHeaderName(name) {
			return nil, usagef("-H argument %d is not 'Name: value'", i+1)
		}
		if strings.ContainsFunc(value, isCtl) {
			return nil, usagef("-H argument %d (%s) holds a control character", i+1, name)
		}
	}
	return o, nil
}

func isCtl(r rune) bool { return r < 0x20 || r == 0x7f }

// validHeaderName reports whether s is an HTTP token (RFC 9110 section 5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

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

// reportAttempt prints one connection attempt's outcome, or the end of a
// connection, on stderr.
func reportAttempt(w io.Writer, a sse.Attempt) {
	delay := a.Delay.Round(time.Millisecond)
	switch {
	case a.Final:
		// The error, if any, is printed once the stream has ended.
	case !a.Ended && a.Err == nil:
		fmt.Fprintf(w, "ssecat: connected to %s\n", a.URL)
	case a.Ended && a.N == 0 && a.Err == nil:
		fmt.Fprintf(w, "ssecat: stream ended; reconnecting in %s\n", delay)
	case a.Ended && a.N == 0:
		fmt.Fprintf(w, "ssecat: stream ended (%s); reconnecting in %s\n", flagWords(oneLine(a.Err)), delay)
	case a.Ended:
		fmt.Fprintf(w, "ssecat: stream ended before any event (%s); reconnecting in %s (failures in a row: %d)\n",
			flagWords(orText(a.Err, "closed by the server")), delay, a.N)
	default:
		fmt.Fprintf(w, "ssecat: %s; retrying in %s (failed attempts: %d)\n", flagWords(oneLine(a.Err)), delay, a.N)
	}
}

// orText renders err for a message, or alt when err is nil.
func orText(err error, alt string) string {
	if err == nil {
		return alt
	}
	return oneLine(err)
}

// flagWords speaks of ssecat's flags where the SDK's text speaks of the
// Client's fields, and says what an auth_expired event means for a fixed
// token.
func flagWords(s string) string {
	s = strings.ReplaceAll(s, "the client has no credentials to refresh; set Client.Auth",
		"no credentials were given; pass -token or SSE_TOKEN, -token-url or -cookies")
	s = strings.ReplaceAll(s, "Client.AllowPlainHTTP", "-allow-plain-http")
	s = strings.ReplaceAll(s, "set Client.Resume to resume it", "ssecat does not send a finite request again")
	s = strings.ReplaceAll(s, "server signalled expired credentials", "the server sent auth_expired: the credentials expired")
	return s
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

// authSource assembles the credentials from the flags: nil when there are
// none.
func authSource(ctx context.Context, o *options) (sse.AuthSource, error) {
	var sources []sse.AuthSource
	switch {
	case o.token != "":
		sources = append(sources, sse.Bearer(&staticToken{token: o.token}))
	case o.tokenURL != "":
		cc := &clientcredentials.Config{
			ClientID:     o.clientID,
			ClientSecret: o.clientSecret,
			TokenURL:     o.tokenURL,
			Scopes:       o.scopes,
		}
		// The token request goes under the SDK's credential policy: no
		// credential follows a redirect to another origin, and plain
		// http only to loopback unless -allow-plain-http.
		tctx := context.WithValue(ctx, oauth2.HTTPClient, sse.CredentialClient(&http.Client{Timeout: 30 * time.Second}, o.allowHTTP))
		// A new token on every call: after a 401, Bearer must not get
		// the refused token back from a cache.
		sources = append(sources, sse.Bearer(tokenSourceFunc(func() (*oauth2.Token, error) { return cc.Token(tctx) })))
	}
	if o.cookies != "" {
		jar, err := loadCookies(o.cookies)
		if err != nil {
			return nil, err
		}
		sources = append(sources, sse.SessionCookies(jar, nil))
	}
	var creds sse.AuthSource
	switch len(sources) {
	case 0:
	case 1:
		creds = sources[0]
	default:
		creds = sse.Combine(sources...)
	}
	if o.ticketURL != "" {
		return &sse.TicketSource{URL: o.ticketURL, Auth: creds, AllowPlainHTTP: o.allowHTTP}, nil
	}
	return creds, nil
}

// staticToken hands out the -token or SSE_TOKEN token once; asked again,
// which Bearer does only after the server refused it, it says that a fixed
// token cannot be refreshed.
type staticToken struct {
	mu    sync.Mutex
	token string
	given bool
}

func (s *staticToken) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.given {
		return nil, &sse.PermanentError{Err: errors.New("the server no longer accepts the bearer token (-token or SSE_TOKEN), and a fixed token cannot be refreshed; get a new one")}
	}
	s.given = true
	return &oauth2.Token{AccessToken: s.token}, nil
}

// tokenSourceFunc adapts a function to oauth2.TokenSource.
type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

// loadCookies reads a Netscape cookie file (the format of curl -c) into a
// jar. Expired cookies are left out.
func loadCookies(path string) (http.CookieJar, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("-cookies: %v", errors.Unwrap(err))
	}
	defer f.Close()
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		httpOnly := false
		if rest, ok := strings.CutPrefix(line, "#HttpOnly_"); ok {
			line, httpOnly = rest, true
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// Never quote the line: it holds the cookie's value.
		fields := strings.Split(line, "\t")
		if len(fields) != 7 {
			return nil, usagef("-cookies: line %d is not a Netscape cookie line (7 tab-separated fields)", n)
		}
		domain, sub, path, secure, expires, name, value := fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]
		exp, err := strconv.ParseInt(expires, 10, 64)
		if err != nil || domain == "" || name == "" {
			return nil, usagef("-cookies: line %d is not a Netscape cookie line", n)
		}
		ck := &http.Cookie{Name: name, Value: value, Path: path, Secure: strings.EqualFold(secure, "TRUE"), HttpOnly: httpOnly}
		if exp != 0 {
			ck.Expires = time.Unix(exp, 0)
			if ck.Expires.Before(time.Now()) {
				continue
			}
		}
		host := strings.TrimPrefix(domain, ".")
		if strings.EqualFold(sub, "TRUE") {
			ck.Domain = host // a domain cookie; without Domain it is host-only
		}
		scheme := "http"
		if ck.Secure {
			scheme = "https"
		}
		jar.SetCookies(&url.URL{Scheme: scheme, Host: host, Path: "/"}, []*http.Cookie{ck})
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("-cookies: %v", err)
	}
	return jar, nil
}

// printer returns the function that writes one event in format to w.
// lastID is the event ID in force before the first event.
func printer(format, lastID string, w io.Writer) func(sse.Event) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return func(ev sse.Event) error {
			return enc.Encode(struct {
				Type string `json:"type"`
				Data string `json:"data"`
				ID   string `json:"id"`
			}{ev.Type, ev.Data, ev.ID})
		}
	case "data":
		return func(ev sse.Event) error {
			_, err := io.WriteString(w, ev.Data+"\n")
			return err
		}
	default:
		return func(ev sse.Event) error {
			var b strings.Builder
			if ev.ID != lastID {
				b.WriteString("id: " + ev.ID + "\n")
				lastID = ev.ID
			}
			if ev.Type != "message" {
				b.WriteString("event: " + ev.Type + "\n")
			}
			for _, line := range strings.Split(ev.Data, "\n") {
				b.WriteString("data: " + line + "\n")
			}
			b.WriteString("\n")
			_, err := io.WriteString(w, b.String())
			return err
		}
	}
}
