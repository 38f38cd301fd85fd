package sse

// This file holds TicketSource, the AuthSource that buys a one-time
// ticket before every attempt.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
)

// ticketMaxSize is the most bytes of a ticket endpoint's answer a
// TicketSource reads when its MaxSize is 0.
const ticketMaxSize = 64 << 10

// TicketSource fetches a one-time ticket before every attempt and puts it
// in the query. The endpoint answers JSON {"ticket": "..."}.
//
// Each Authorize sends one request to URL and puts the ticket it gets in the
// attempt's query, so a ticket is never reused: not on the retry after a
// 401, not across reconnects. Refresh has nothing to drop and returns nil
// (or a *PermanentError when URL is unusable).
//
// The ticket requests go through CredentialClient(HTTPClient,
// AllowPlainHTTP): a redirect to another origin carries none of the
// endpoint's credentials (Auth's, HTTPClient's cookies, the URL's user
// info and query), and a URL with plain http to a host other than
// "localhost" or a loopback IP literal is refused before any I/O unless
// AllowPlainHTTP is set: the ticket itself is a credential.
//
// Failures: an endpoint answer of 401, 403 or another 4xx except 408 and
// 429, a ticket holding a control character, a refusal by the credential
// policy, or an unusable URL is a *PermanentError, which ends the stream; a
// 5xx, 408, 429, a network error, an answer over MaxSize or without the
// ticket field is a plain error, which the Client retries with backoff.
// Errors never hold the ticket, the answer's body, the URL's query values
// or user info, or the endpoint's credentials. The fetch honours ctx.
//
// A TicketSource is safe for concurrent use by multiple goroutines; its
// fields must not change once it is in use.
type TicketSource struct {
	URL        string       // the ticket endpoint
	HTTPClient *http.Client // carries the endpoint's own credentials; nil: a default client
	Param      string       // query parameter; "ticket" when empty

	// Auth, if not nil, adds the endpoint's own credentials (a Bearer
	// source, say) to each ticket request; after a 401 from the endpoint
	// it is refreshed and the request is sent once more.
	Auth AuthSource

	// Method is the ticket request's method; "POST" when empty. A POST is
	// sent with an empty body.
	Method string

	// Field is the name of the string field in the endpoint's JSON object
	// that holds the ticket; "ticket" when empty.
	Field string

	// MaxSize is the most bytes of the answer that are read; a longer
	// answer is an error. 0 means 64 KiB.
	MaxSize int64

	// AllowPlainHTTP permits ticket requests over plain http to hosts
	// other than "localhost" and loopback IP literals. By default such a
	// URL fails before any I/O with a *PermanentError.
	AllowPlainHTTP bool
}

// Authorize fetches a new ticket and sets it as req's query parameter Param.
func (t *TicketSource) Authorize(ctx context.Context, req *http.Request) error {
	u, err := t.endpoint()
	if err != nil {
		return err
	}
	ticket, err := t.fetch(ctx, u)
	if err != nil {
		return err
	}
	param := t.Param
	if param == "" {
		param = "ticket"
	}
	setQuery(req, param, ticket)
	return nil
}

// Refresh returns nil: every Authorize fetches a new ticket anyway. It
// returns a *PermanentError when URL is unusable.
func (t *TicketSource) Refresh(context.Context, *http.Response) error {
	_, err := t.endpoint()
	return err
}

// endpoint parses and checks URL.
func (t *TicketSource) endpoint() (*url.URL, error) {
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &PermanentError{Err: errors.New("sse: TicketSource.URL is not an absolute http or https URL")}
	}
	return u, nil
}

// fetch asks the endpoint for one ticket, refreshing Auth once after a 401.
func (t *TicketSource) fetch(ctx context.Context, u *url.URL) (string, error) {
	for try := 0; ; try++ {
		ticket, resp, err := t.fetchOnce(ctx, u)
		if resp == nil || resp.StatusCode != http.StatusUnauthorized || t.Auth == nil || try > 0 {
			return ticket, err
		}
		if rerr := t.Auth.Refresh(ctx, resp); rerr != nil {
			return "", ticketAuthError(rerr, secretsOf(nil, u.RawQuery, u.User))
		}
	}
}

// ticketAuthError wraps an error of the ticket endpoint's own AuthSource.
func ticketAuthError(err error, secrets []string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	out := wrapScrubbed("ticket endpoint credentials", err, secrets)
	if isPermanent(err) {
		return &PermanentError{Err: out}
	}
	return out
}

// fetchOnce sends one ticket request. On a refusal it returns the response
// (body closed) so that fetch can refresh Auth.
func (t *TicketSource) fetchOnce(ctx context.Context, u *url.URL) (string, *http.Response, error) {
	if err := insecureError(u, t.AllowPlainHTTP, "set TicketSource.AllowPlainHTTP"); err != nil {
		return "", nil, err
	}
	method := t.Method
	if method == "" {
		method = http.MethodPost
	}
	s := &sent{own: http.Header{"Accept": {"application/json"}}}
	req, err := http.NewRequestWithContext(withSent(ctx, s), method, u.String(), nil)
	if err != nil {
		return "", nil, &PermanentError{Err: errors.New("sse: TicketSource.Method is not a valid method")}
	}
	req.Header.Set("Accept", "application/json")
	secrets := secretsOf(nil, u.RawQuery, u.User)
	if t.Auth != nil {
		if err := t.Auth.Authorize(ctx, req); err != nil {
			return "", nil, ticketAuthError(err, secrets)
		}
		if err := wireError(req.Header, req.URL.RawQuery, "; nothing was sent"); err != nil {
			return "", nil, &PermanentError{Err: fmt.Errorf("sse: ticket endpoint credentials: %w", err)}
		}
		if !slices.Equal(req.Header["Accept"], s.own["Accept"]) {
			delete(s.own, "Accept")
		}
		other := req.Header.Clone()
		delete(other, "Accept")
		secrets = append(secrets, secretsOf(other, req.URL.RawQuery, req.URL.User)...)
	}
	where := redactURL(u)
	resp, err := CredentialClient(t.HTTPClient, t.AllowPlainHTTP).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", nil, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		out := wrapScrubbed("ticket request to "+where, err, secrets)
		if isPermanent(err) {
			out = &PermanentError{Err: out}
		}
		return "", nil, out
	}
	defer resp.Body.Close()
	limit := t.MaxSize
	if limit <= 0 {
		limit = ticketMaxSize
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if ctx.Err() != nil {
			return "", nil, ctx.Err()
		}
		return "", nil, wrapScrubbed("ticket answer from "+where, err, secrets)
	}
	if c := resp.StatusCode; c != http.StatusOK {
		msg := fmt.Sprintf("sse: ticket endpoint %s answered %d %s", where, c, http.StatusText(c))
		if c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests {
			return "", resp, &PermanentError{Err: errors.New(msg)}
		}
		return "", resp, errors.New(msg)
	}
	if int64(len(body)) > limit {
		return "", nil, fmt.Errorf("sse: ticket answer from %s exceeds %d bytes", where, limit)
	}
	field := t.Field
	if field == "" {
		field = "ticket"
	}
	var obj map[string]json.RawMessage
	var ticket string
	if json.Unmarshal(body, &obj) != nil || obj[field] == nil ||
		json.NewDecoder(bytes.NewReader(obj[field])).Decode(&ticket) != nil || ticket == "" {
		return "", nil, fmt.Errorf("sse: ticket answer from %s is not a JSON object with a string field %q", where, truncate(field, 64))
	}
	if hasCtl(ticket) {
		return "", nil, &PermanentError{Err: fmt.Errorf("sse: ticket from %s holds a control character", where)}
	}
	return ticket, nil, nil
}
