package main

// This file holds what ssecat prints: the events on stdout in each -o
// format, and the connection state and retries on stderr.

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ssekit/sse"
)

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
	s = strings.ReplaceAll(s, ": set Client.Resume to resume it", " (a -d stream is finite)")
	s = strings.ReplaceAll(s, "server signalled expired credentials", "the server sent auth_expired: the credentials expired")
	return s
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
