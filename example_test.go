package sse_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssekit/sse"
	"golang.org/x/oauth2"
)

// fastRetry is the reconnection delay the examples use so that they run
// quickly; real programs keep the defaults (1s, never below 500ms).
const fastRetry = 10 * time.Millisecond

func ExampleClient_Connect() {
	// A server that sends two events, closes the stream, sends one more
	// after the client resumes with Last-Event-ID, then answers 204 to
	// say that the stream is over.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Last-Event-ID") {
		case "":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: 1\ndata: hello\n\nid: 2\nevent: greeting\ndata: multi\ndata: line\n\n")
		case "2":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: 3\ndata: resumed\n\n")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()

	c := &sse.Client{RetryDelay: fastRetry, MinRetryDelay: fastRetry}
	s, err := c.Connect(context.Background(), srv.URL)
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer s.Close()
	for ev := range s.Events() {
		fmt.Printf("id=%s type=%s data=%q\n", ev.ID, ev.Type, ev.Data)
	}
	fmt.Println("ended, Err() =", s.Err())
	// Output:
	// id=1 type=message data="hello"
	// id=2 type=greeting data="multi\nline"
	// id=3 type=message data="resumed"
	// ended, Err() = <nil>
}

func ExampleClient_Do() {
	// An LLM-style streaming API: POST a JSON request, read the answer as
	// a stream of JSON chunks ended by "[DONE]".
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Prompt string }
		if r.Method != http.MethodPost || r.Header.Get("X-API-Key") != "demo-key" ||
			json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, word := range strings.Fields("You said: " + in.Prompt) {
			b, _ := json.Marshal(map[string]string{"delta": word + " "})
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()

	body := `{"prompt": "hello there"}`
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL, strings.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", "demo-key")

	var c sse.Client
	s, err := c.Do(req)
	if err != nil {
		fmt.Println("do:", err)
		return
	}
	defer s.Close()
	var answer strings.Builder
	for ev := range s.Events() {
		if ev.Data == "[DONE]" {
			break // the answer is complete; Close ends the stream
		}
		var chunk struct{ Delta string }
		if err := json.Unmarshal([]byte(ev.Data), &chunk); err != nil {
			fmt.Println(err)
			return
		}
		answer.WriteString(chunk.Delta)
	}
	fmt.Println(strings.TrimSpace(answer.String()))
	// Output:
	// You said: hello there
}

func ExampleNewParser() {
	stream := "retry: 3000\n" +
		": a comment, ignored\n" +
		"id: 7\n" +
		"event: update\n" +
		"data: {\"x\": 1}\n" +
		"\n" +
		"data: first line\n" +
		"data: second line\n" +
		"\n" +
		"data: an event without its blank line is dropped"

	p := sse.NewParser(strings.NewReader(stream))
	for {
		ev, err := p.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("type=%s id=%s data=%q\n", ev.Type, ev.ID, ev.Data)
	}
	retry, ok := p.Retry()
	fmt.Println("retry:", retry, ok)
	// Output:
	// type=update id=7 data="{\"x\": 1}"
	// type=message id=7 data="first line\nsecond line"
	// retry: 3s true
}

// listTokenSource is an oauth2.TokenSource that hands out the tokens in its list,
// one per call, and counts the calls.
type listTokenSource struct {
	mu    sync.Mutex
	list  []string
	calls int
}

func (ts *listTokenSource) Token() (*oauth2.Token, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.calls >= len(ts.list) {
		return nil, errors.New("no more tokens")
	}
	tok := ts.list[ts.calls]
	ts.calls++
	return &oauth2.Token{AccessToken: tok, Expiry: time.Now().Add(time.Hour)}, nil
}

func ExampleBearer() {
	// The server accepts only the token "fresh"; the first token the
	// source hands out has been revoked.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer fresh" {
			fmt.Println("server: 401 for", strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Last-Event-ID") != "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1\ndata: authorized\n\n")
	}))
	defer srv.Close()

	// In a program, ts would be a source that asks a token endpoint anew
	// on every call, for example one calling
	// clientcredentials.Config.Token(ctx).
	ts := &listTokenSource{list: []string{"revoked", "fresh"}}
	c := &sse.Client{Auth: sse.Bearer(ts), RetryDelay: fastRetry, MinRetryDelay: fastRetry}
	s, err := c.Connect(context.Background(), srv.URL)
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer s.Close()
	for ev := range s.Events() {
		fmt.Println("event:", ev.Data)
	}
	fmt.Println("token source calls:", ts.calls, "err:", s.Err())
	// Output:
	// server: 401 for revoked
	// event: authorized
	// token source calls: 2 err: <nil>
}

func ExampleTicketSource() {
	// The ticket endpoint sells one-time tickets to holders of an API key;
	// the stream takes each ticket once.
	var (
		mu      sync.Mutex
		next    int
		unused  = map[string]bool{}
		streams int
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ticket", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != "demo-key" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		next++
		t := fmt.Sprintf("ticket-%d", next)
		unused[t] = true
		mu.Unlock()
		fmt.Fprintf(w, `{"ticket": %q}`, t)
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		t := r.URL.Query().Get("ticket")
		mu.Lock()
		ok := unused[t]
		delete(unused, t)
		streams++
		n := streams
		mu.Unlock()
		switch {
		case !ok:
			w.WriteHeader(http.StatusUnauthorized)
		case n > 2:
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "id: %d\ndata: stream %d opened with %s\n\n", n, n, t)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ts := &sse.TicketSource{
		URL:  srv.URL + "/ticket",
		Auth: sse.StaticHeaders(http.Header{"X-API-Key": {"demo-key"}}), // the endpoint's own credentials
	}
	c := &sse.Client{Auth: ts, RetryDelay: fastRetry, MinRetryDelay: fastRetry}
	s, err := c.Connect(context.Background(), srv.URL+"/events")
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer s.Close()
	for ev := range s.Events() {
		fmt.Println(ev.Data)
	}
	fmt.Println("err:", s.Err())
	// Output:
	// stream 1 opened with ticket-1
	// stream 2 opened with ticket-2
	// err: <nil>
}

func ExampleQueryToken() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("access_token") != "short-lived" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: token accepted\n\n")
	}))
	defer srv.Close()

	// token would normally fetch a short-lived token from an endpoint; it
	// is called before every attempt.
	token := func(ctx context.Context) (string, error) { return "short-lived", nil }
	c := &sse.Client{Auth: sse.QueryToken("access_token", token)}
	s, err := c.Connect(context.Background(), srv.URL)
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer s.Close()
	fmt.Println((<-s.Events()).Data)
	// Output:
	// token accepted
}

func ExampleStatusError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()

	var c sse.Client
	_, err := c.Connect(context.Background(), srv.URL+"/events?token=secret")
	var st *sse.StatusError
	var perm *sse.PermanentError
	if errors.As(err, &st) && errors.As(err, &perm) {
		fmt.Println("permanent, status", st.Code)
	}
	// The query value is redacted from the error.
	fmt.Println(strings.Replace(err.Error(), srv.URL, "http://HOST", 1))
	// Output:
	// permanent, status 403
	// sse: http://HOST/events?token=REDACTED: 403 Forbidden
}

func ExampleSessionCookies() {
	// A server with a login form and a session cookie. It ends the first
	// session mid-stream with an auth_expired event; the SessionCookies source
	// then logs in again and the stream resumes after event 1.
	var (
		mu      sync.Mutex
		logins  int
		current string
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		logins++
		current = fmt.Sprintf("session-%d", logins)
		http.SetCookie(w, &http.Cookie{Name: "session", Value: current, Path: "/"})
		mu.Unlock()
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("session")
		mu.Lock()
		ok := err == nil && c.Value == current
		mu.Unlock()
		switch {
		case !ok:
			w.WriteHeader(http.StatusUnauthorized)
		case r.Header.Get("Last-Event-ID") == "":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: 1\ndata: event 1\n\nevent: auth_expired\ndata: session over\n\n")
		case r.Header.Get("Last-Event-ID") == "1":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: 2\ndata: event 2\n\n")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	jar, err := cookiejar.New(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	var relogins atomic.Int32
	login := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/login", nil)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Jar: jar}).Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		relogins.Add(1) // runs on the Stream's goroutine: count, do not print
		return nil
	}
	if err := login(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	c := &sse.Client{Auth: sse.SessionCookies(jar, login), RetryDelay: fastRetry, MinRetryDelay: fastRetry}
	s, err := c.Connect(context.Background(), srv.URL+"/events")
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer s.Close()
	for ev := range s.Events() {
		fmt.Println(ev.Data)
	}
	fmt.Println("logins:", relogins.Load(), "err:", s.Err())
	// Output:
	// event 1
	// event 2
	// logins: 2 err: <nil>
}

func ExampleClient_Events() {
	// An MCP-style tool call: the POST's stream is closed by the server
	// after the first event (its polling mode), and the client resumes it
	// with a GET that carries Last-Event-ID and the session header.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		switch {
		case r.Method == http.MethodPost:
			w.Header().Set("Mcp-Session-Id", "s-1")
			fmt.Fprint(w, "id: 1\ndata: working\n\n")
		case r.Header.Get("Mcp-Session-Id") == "s-1" && r.Header.Get("Last-Event-ID") == "1":
			fmt.Fprint(w, "id: 2\nevent: result\ndata: 42\n\n")
		default:
			http.Error(w, "unexpected request", http.StatusBadRequest)
		}
	}))
	defer srv.Close()

	c := &sse.Client{
		RetryDelay: fastRetry, MinRetryDelay: fastRetry,
		Resume: func(ctx context.Context, lastEventID string) (*http.Request, error) {
			if lastEventID == "2" {
				return nil, nil // the result arrived: the stream is done
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if err == nil {
				req.Header.Set("Mcp-Session-Id", "s-1")
			}
			return req, err
		},
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL, strings.NewReader(`{"method":"tools/call"}`))
	for ev, err := range c.Events(req) {
		if err != nil {
			fmt.Println("stream failed:", err)
			return
		}
		fmt.Printf("id=%s type=%s data=%s\n", ev.ID, ev.Type, ev.Data)
	}
	fmt.Println("done")
	// Output:
	// id=1 type=message data=working
	// id=2 type=result data=42
	// done
}
