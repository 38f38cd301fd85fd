// Package sse is a client for Server-Sent Events that can authenticate.
//
// The browser's EventSource cannot send headers, so protected streams need
// a workaround; this package is the one where the client sends any header
// it likes: it works like fetch with a hand-made reconnect loop, done right.
//
// # Reading a stream
//
// Most callers want Client.Connect (or Client.Do for a POST or custom
// headers) and a range over Stream.Events:
//
//	c := &sse.Client{Auth: sse.Bearer(tokenSource)}
//	s, err := c.Connect(ctx, "https://api.example.com/events")
//	if err != nil {
//		return err // the first attempt failed for good
//	}
//	defer s.Close()
//	for ev := range s.Events() {
//		fmt.Println(ev.Type, ev.ID, ev.Data)
//	}
//	return s.Err() // nil after a 204 or Close
//
// Client.Events gives the same stream as an iterator that runs in the
// caller's goroutine, with no goroutine or channel of the SDK's own:
//
//	for ev, err := range c.Events(req) {
//		if err != nil {
//			return err // why the stream ended; a normal end ends the loop
//		}
//		fmt.Println(ev.Data)
//	}
//
// A GET stream reconnects on its own, as a browser's EventSource does:
// network errors, EOF, 5xx and 429 are retried, resuming with
// Last-Event-ID. After a connection that delivered events the next
// attempt waits the server's retry: time (or Client.RetryDelay) plus
// jitter; failures, and connections that delivered nothing, grow the wait
// exponentially. A 401 makes the AuthSource refresh its credentials once;
// a 204 ends the stream cleanly; 403, other 4xx, a wrong Content-Type and
// TLS certificate errors end it with an error that says so.
//
// A POST stream (an LLM completion, an MCP tool call) is finite, as fetch
// reads it: it ends when the server ends it and is never sent again once
// the server may have acted on it. Client.Lifecycle changes that per
// client, and Client.Resume resumes such a stream with another request
// (MCP Streamable HTTP's GET with Last-Event-ID).
//
// One goroutine per Stream reads the connection; a consumer that stops
// receiving stops the reader, so memory stays bounded.
//
// # Credentials
//
// An AuthSource adds credentials to each connection attempt: Bearer (an
// oauth2.TokenSource, refreshed on 401), TicketSource (a one-time ticket
// fetched before every attempt), QueryToken, SessionCookies and StaticHeaders, and
// Combine to use several. Credentials never leave their origin on a
// redirect, travel over plain http only to loopback unless
// Client.AllowPlainHTTP is set, and never appear in an error or log record.
//
// # Errors
//
// Errors are typed for errors.As: *StatusError (an HTTP status, with its
// code and Retry-After), *AuthError (credentials could not be had or were
// refused), *PermanentError (retrying cannot help) and *ParseError, which
// wraps ErrEventTooLarge (a line or event over the limit); ErrStreamLost
// marks a finite stream whose connection broke. Every message starts with
// "sse: " and carries no secret; a refused response's header and body are
// fields of *StatusError, never part of its text.
//
// # Parsing only
//
// NewParser reads events from any io.Reader, following the WHATWG rules
// for interpreting an event stream exactly, however the bytes are split,
// in memory bounded by DefaultMaxLineSize and DefaultMaxEventSize.
package sse
