package main

// This file holds the command line: the options, the flags and their
// checks, and the usage error.

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
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
