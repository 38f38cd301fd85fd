package sse

// This file holds the one scrubber: every error text the SDK did not
// write itself (Go's url.Error, a Location header net/http quotes, oauth2's
// errors, an AuthSource's errors) passes through it before it leaves the
// SDK in an error, a log record or an Attempt.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
)

// redacted replaces what the scrubber removes.
const redacted = "REDACTED"

// minSecret is the shortest value the scrubber looks for: shorter ones
// would redact ordinary words.
const minSecret = 4

// scrub returns s with every secret, in any escaped form, and every URL's
// query, fragment and user info replaced by REDACTED. It knows absolute
// and relative URLs, quoted ones (a Location that net/http quotes) and
// percent-escapes in either case.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) < minSecret {
			continue
		}
		for _, form := range []string{sec, url.QueryEscape(sec), url.PathEscape(sec)} {
			s = strings.ReplaceAll(s, form, redacted)
		}
	}
	var b strings.Builder
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && !isWordBreak(s[i]) {
			continue
		}
		b.WriteString(scrubWord(s[start:i], secrets))
		if i < len(s) {
			b.WriteByte(s[i])
		}
		start = i + 1
	}
	return b.String()
}

// isWordBreak reports whether c ends a word: white space and the quotes
// around URLs in Go's error texts.
func isWordBreak(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '"', '\'', '`', '<', '>':
		return true
	}
	return false
}

// scrubWord scrubs one word: a word that holds a secret once unescaped is
// replaced whole; otherwise its user info, query and fragment go.
func scrubWord(w string, secrets []string) string {
	if w == "" {
		return w
	}
	for _, dec := range []string{lenientUnescape(w, false), lenientUnescape(w, true)} {
		for _, sec := range secrets {
			if len(sec) >= minSecret && strings.Contains(dec, sec) {
				return redacted
			}
		}
	}
	// User info: scheme://user:pass@host or //user:pass@host.
	if i := strings.Index(w, "//"); i >= 0 {
		auth := w[i+2:]
		if j := strings.IndexAny(auth, "/?#"); j >= 0 {
			auth = auth[:j]
		}
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			w = w[:i+2] + redacted + w[i+2+at:]
		}
	}
	if i := strings.IndexAny(w, "?#"); i >= 0 && !alreadyRedacted(w[i+1:]) {
		if i == 0 || strings.ContainsAny(w[:i], "/:") || strings.ContainsRune(w[i:], '=') {
			return w[:i+1] + redacted
		}
	}
	return w
}

// alreadyRedacted reports whether query is what redactURL or scrub leaves:
// REDACTED, or name=REDACTED pairs, maybe followed by punctuation.
func alreadyRedacted(query string) bool {
	query = strings.TrimRight(query, ":,;.)")
	for _, pair := range strings.Split(query, "&") {
		if _, v, ok := strings.Cut(pair, "="); pair != redacted && (!ok || v != redacted) {
			return false
		}
	}
	return true
}

// scrubError returns err unchanged when nothing in its chain (texts, and
// the URL of a *url.Error) needs scrubbing; otherwise an error with the
// scrubbed, shortened text, which still answers errors.Is for the usual
// sentinels (context, EOF, deadlines) and Timeout as err did, but no
// longer unwraps to the text that held the secret.
func scrubError(err error, secrets []string) error {
	if err == nil || chainClean(err, secrets, 0) {
		return err
	}
	se := &scrubbedError{msg: truncate(scrub(err.Error(), secrets), 512)}
	for _, s := range scrubSentinels {
		if errors.Is(err, s) {
			se.is = append(se.is, s)
		}
	}
	var ne net.Error
	se.timeout = errors.As(err, &ne) && ne.Timeout()
	return se
}

// scrubSentinels are the conditions a scrubbed error still reports.
var scrubSentinels = []error{
	context.Canceled, context.DeadlineExceeded, os.ErrDeadlineExceeded,
	io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, ErrEventTooLarge,
}

// chainClean reports whether no error in err's chain shows anything the
// scrubber would remove.
func chainClean(err error, secrets []string, depth int) bool {
	if err == nil {
		return true
	}
	if depth > 32 {
		return false
	}
	if msg := err.Error(); scrub(msg, secrets) != msg {
		return false
	}
	if ue, ok := err.(*url.Error); ok && scrub(ue.URL, secrets) != ue.URL {
		return false
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return chainClean(u.Unwrap(), secrets, depth+1)
	case interface{ Unwrap() []error }:
		return !slices.ContainsFunc(u.Unwrap(), func(e error) bool { return !chainClean(e, secrets, depth+1) })
	}
	return true
}

// scrubbedError is an error whose text was scrubbed.
type scrubbedError struct {
	msg     string
	is      []error
	timeout bool
}

func (e *scrubbedError) Error() string { return e.msg }

// Is reports whether the original error matched target, one of
// scrubSentinels.
func (e *scrubbedError) Is(target error) bool { return slices.Contains(e.is, target) }

// Timeout reports whether the original error was a timeout.
func (e *scrubbedError) Timeout() bool { return e.timeout }

// Temporary is false: net.Error asks for it, and it is deprecated.
func (e *scrubbedError) Temporary() bool { return false }

// causeError is an error with its own (safe) text that still unwraps to
// the (safe) error that caused it.
type causeError struct {
	msg   string
	cause error
}

func (e *causeError) Error() string { return e.msg }
func (e *causeError) Unwrap() error { return e.cause }

// wrapScrubbed returns "sse: what: <err's text>" with err's text scrubbed,
// unwrapping to err when that is clean and to a scrubbed copy otherwise.
func wrapScrubbed(what string, err error, secrets []string) error {
	cause := scrubError(err, secrets)
	return &causeError{msg: "sse: " + what + ": " + truncate(strings.TrimPrefix(cause.Error(), "sse: "), 256), cause: cause}
}

// secretsOf lists the values of h, of the query rawQuery and of the user
// info u that the scrubber must look for: whole values, the part after
// an authorization scheme ("Bearer x"), and each cookie value.
func secretsOf(h map[string][]string, rawQuery string, user *url.Userinfo) []string {
	var out []string
	add := func(v string) {
		if len(v) >= minSecret && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for name, values := range h {
		for _, v := range values {
			add(v)
			if _, rest, ok := strings.Cut(v, " "); ok {
				add(strings.TrimSpace(rest))
			}
			if strings.EqualFold(name, "Cookie") {
				for _, part := range strings.Split(v, ";") {
					_, val, _ := strings.Cut(part, "=")
					add(strings.TrimSpace(val))
				}
			}
		}
	}
	for _, pair := range strings.FieldsFunc(rawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
		_, v, _ := strings.Cut(pair, "=")
		add(v)
		add(lenientUnescape(v, true))
	}
	if user != nil {
		if p, ok := user.Password(); ok {
			add(p)
		}
	}
	return out
}
