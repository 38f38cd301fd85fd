package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssekit/sse/internal/authserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// bin is the ssecat binary, built once for the whole test binary.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ssecat-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "ssecat")
	// Built without -race even when the tests run with it: the binary is
	// the thing under test end to end, and a race build is slow.
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// result is how one ssecat run ended.
type result struct {
	stdout, stderr string
	code           int
}

// canaries are secret values that no test may ever see in ssecat's output.
var canaries = []string{"tok-canary-7f3a", "secret-canary-91b2", "cookie-canary-c0de", "header-canary-5e5e"}

// ssecat runs the binary with args and the environment env (nothing else
// of the test's environment that starts with SSE_), and checks that no
// canary appears in its output.
func ssecat(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else {
		require.NoError(t, err, "running ssecat")
	}
	checkCanaries(t, r)
	return r
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSE_") {
			env = append(env, kv)
		}
	}
	return env
}

func checkCanaries(t *testing.T, r result) {
	t.Helper()
	noSecret(t, r, canaries...)
}

func noSecret(t *testing.T, r result, secrets ...string) {
	t.Helper()
	for _, c := range secrets {
		require.NotEqual(t, "", c, "empty secret")
		assert.NotContains(t, r.stdout, c, "a secret (%s) was printed:\nstdout: %s\nstderr: %s", c, r.stdout, r.stderr)
		assert.NotContains(t, r.stderr, c, "a secret (%s) was printed:\nstdout: %s\nstderr: %s", c, r.stdout, r.stderr)
	}
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	require.Equal(t, code, r.code, "exit status %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
}

// oneErrorLine checks that stderr ends with exactly one "ssecat: " line
// matching re.
func oneErrorLine(t *testing.T, stderr string, re string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	assert.True(t, strings.HasPrefix(last, "ssecat: "), "last stderr line %q does not match %q\nstderr: %s", last, re, stderr)
	assert.Regexp(t, re, last, "last stderr line %q does not match %q\nstderr: %s", last, re, stderr)
}

// numbered serves events "id: N", "data: event N" after the request's
// Last-Event-ID, perConn per connection, and answers 204 once Last-Event-ID
// reaches end. check, if set, vets each request (false: 401).
func numbered(perConn, end int, check func(r *http.Request) bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if check != nil && !check(r) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		n, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
		if n >= end {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 10\n\n")
		for i := n + 1; i <= min(n+perConn, end); i++ {
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
		}
	}
}

func TestRawOutputAndReconnect(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		switch r.Header.Get("Last-Event-ID") {
		case "":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "retry: 10\n\n: comment\n\nid: 1\nevent: greeting\ndata: hello\ndata: world\n\ndata: same id\n\n")
		case "1":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: 2\ndata: resumed\n\n")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()

	r := ssecat(t, nil, srv.URL+"/events")
	wantCode(t, r, 0)
	want := "id: 1\nevent: greeting\ndata: hello\ndata: world\n\ndata: same id\n\nid: 2\ndata: resumed\n\n"
	assert.Equal(t, want, r.stdout, "stdout:\n%q\nwant:\n%q", r.stdout, want)
	for _, line := range []string{"ssecat: connected to " + srv.URL + "/events", "ssecat: stream ended; reconnecting in", "ssecat: the server ended the stream"} {
		assert.Contains(t, r.stderr, line, "stderr lacks %q:\n%s", line, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, ",1,2", strings.Join(ids, ","), "Last-Event-ID of the requests: %q, want [\"\" 1 2]", ids)
}

func TestJSONAndDataOutput(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Last-Event-ID") != "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 10\nid: a<1>\nevent: tick\ndata: {\"n\": 1}\n\ndata: two\ndata: lines\n\n")
	}))
	defer srv.Close()

	r := ssecat(t, nil, "-q", "-o", "json", srv.URL)
	wantCode(t, r, 0)
	assert.Equal(t, "", r.stderr, "-q, yet stderr: %q", r.stderr)
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	var got []map[string]string
	for sc.Scan() {
		var m map[string]string
		err := json.Unmarshal(sc.Bytes(), &m)
		require.NoError(t, err, "line %q is not a JSON object: %v", sc.Text(), err)
		got = append(got, m)
	}
	want := []map[string]string{
		{"type": "tick", "data": `{"n": 1}`, "id": "a<1>"},
		{"type": "message", "data": "two\nlines", "id": "a<1>"},
	}
	assert.Equal(t, fmt.Sprint(want), fmt.Sprint(got), "json lines %v, want %v", got, want)
	assert.Contains(t, r.stdout, `"id":"a<1>"`, "HTML characters were escaped: %s", r.stdout)

	r = ssecat(t, nil, srv.URL, "-o", "data", "-q") // flags after the URL
	wantCode(t, r, 0)
	assert.Equal(t, "{\"n\": 1}\ntwo\nlines\n", r.stdout, "-o data printed")
}

func TestMethodHeadersBody(t *testing.T) {
	t.Parallel()
	type seen struct{ method, ctype, body string }
	var mu sync.Mutex
	var reqs []seen
	var xa [][]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, seen{r.Method, r.Header.Get("Content-Type"), string(b)})
		xa = append(xa, r.Header.Values("X-A"))
		mu.Unlock()
		if r.Header.Get("Last-Event-ID") != "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 10\nid: 1\ndata: ok\n\n")
	}))
	defer srv.Close()

	body := filepath.Join(t.TempDir(), "body.json")
	require.NoError(t, os.WriteFile(body, []byte(`{"from":"file"}`), 0o600))
	r := ssecat(t, nil, "-q", "-d", "@"+body, "-H", "X-A: 1", "-H", "X-A: 2", srv.URL)
	wantCode(t, r, 0)
	r = ssecat(t, nil, "-q", "-X", "PUT", "-d", "plain", "-H", "Content-Type: text/plain", srv.URL)
	wantCode(t, r, 0)

	mu.Lock()
	defer mu.Unlock()
	want := []seen{
		{"POST", "application/json", `{"from":"file"}`},                // finite: ends when the server ends it
		{"PUT", "text/plain", "plain"}, {"PUT", "text/plain", "plain"}, // idempotent: resumed, body re-sent
	}
	assert.Equal(t, fmt.Sprint(want), fmt.Sprint(reqs), "requests %v, want %v (a POST sent once, a PUT's body re-sent on the reconnect)", reqs, want)
	assert.Equal(t, "[1 2]", fmt.Sprint(xa[0]), "X-A values %q, want [1 2]", xa[0])
}

func TestBodyFromStdin(t *testing.T) {
	t.Parallel()
	got := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	cmd := exec.Command(bin, "-q", "-d", "@-", srv.URL)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(`{"from":"stdin"}`)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "ssecat: %v\n%s", err, out)
	b := <-got
	assert.Equal(t, `{"from":"stdin"}`, b, "body %q", b)
}

func TestLastEventID(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(numbered(3, 43, nil))
	defer srv.Close()
	r := ssecat(t, nil, "-q", "-o", "data", "--last-event-id", "40", srv.URL)
	wantCode(t, r, 0)
	assert.Equal(t, "event 41\nevent 42\nevent 43\n", r.stdout, "stdout %q, want events 41 to 43", r.stdout)
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	good := func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+canaries[0] }
	srv := httptest.NewServer(numbered(3, 3, good))
	defer srv.Close()

	// From the environment, and from the flag.
	for _, tc := range []struct {
		env  []string
		args []string
	}{
		{[]string{"SSE_TOKEN=" + canaries[0]}, []string{"-o", "data", srv.URL}},
		{nil, []string{"-o", "data", "-token", canaries[0], srv.URL}},
	} {
		r := ssecat(t, tc.env, tc.args...)
		wantCode(t, r, 0)
		assert.Equal(t, "event 1\nevent 2\nevent 3\n", r.stdout, "stdout %q", r.stdout)
	}
}

func TestRefusedTokenIsPermanent(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()

	r := ssecat(t, []string{"SSE_TOKEN=" + canaries[0]}, srv.URL+"/events?key="+canaries[3])
	wantCode(t, r, 1)
	oneErrorLine(t, r.stderr, `401 Unauthorized`)
	assert.Contains(t, r.stderr, "key=REDACTED", "the URL's query is not redacted: %s", r.stderr)
	n := calls.Load()
	assert.Equal(t, int32(1), n, "%d requests, want 1", n)
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	auth := authserver.New(authserver.Options{ClientID: "cli", ClientSecret: canaries[1], Interval: time.Millisecond, Events: 2, Retry: 10 * time.Millisecond})
	var scopes atomic.Value
	scopes.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			_ = r.ParseForm()
			scopes.Store(r.PostForm.Get("scope"))
		}
		if r.Header.Get("Last-Event-ID") == "4" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		auth.ServeHTTP(w, r)
	}))
	defer srv.Close()

	env := []string{"SSE_CLIENT_SECRET=" + canaries[1]}
	r := ssecat(t, env, "-o", "data", "-token-url", srv.URL+"/token", "-client-id", "cli",
		"-scope", "events.read", "-scope", "events.write", srv.URL+"/events/bearer")
	wantCode(t, r, 0)
	assert.Equal(t, "event 1\nevent 2\nevent 3\nevent 4\n", r.stdout, "stdout %q", r.stdout)
	s := scopes.Load()
	assert.Equal(t, "events.read events.write", s, "scope %q", s)
	st := auth.Stats()
	assert.Equal(t, 1, st.TokensIssued, "stats %+v: want one token for two streams", st)
	assert.Equal(t, 2, st.StreamsOpened, "stats %+v: want one token for two streams", st)

	// A wrong secret: the token endpoint's 401 is permanent.
	r = ssecat(t, []string{"SSE_CLIENT_SECRET=" + canaries[2]}, "-token-url", srv.URL+"/token", "-client-id", "cli", srv.URL+"/events/bearer")
	wantCode(t, r, 1)
	oneErrorLine(t, r.stderr, `token endpoint answered 401`)
	assert.Equal(t, 2, auth.Stats().StreamsOpened, "a stream opened with a refused secret")
}

// writeCookieFile writes a Netscape cookie file holding the session
// cookie for 127.0.0.1.
func writeCookieFile(t *testing.T, value string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cookies.txt")
	content := "# Netscape HTTP Cookie File\n\n" +
		"127.0.0.1\tFALSE\t/\tFALSE\t0\tother\tx\n" +
		"#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t" + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + "\tsession\t" + value + "\n" +
		"127.0.0.1\tFALSE\t/\tFALSE\t1000\texpired\tgone\n" +
		"example.com\tTRUE\t/\tFALSE\t0\telsewhere\tno\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestCookiesAndTicket(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var cookieHeaders []string
	auth := authserver.New(authserver.Options{Interval: time.Millisecond, Events: 2, Retry: 10 * time.Millisecond})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/events/") {
			mu.Lock()
			cookieHeaders = append(cookieHeaders, r.Header.Get("Cookie"))
			mu.Unlock()
		}
		if r.Header.Get("Last-Event-ID") == "2" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		auth.ServeHTTP(w, r)
	}))
	defer srv.Close()

	// Log in to get a session, the way a browser would have.
	resp, err := http.Post(srv.URL+"/login", "application/x-www-form-urlencoded", strings.NewReader("password=x"))
	require.NoError(t, err)
	resp.Body.Close()
	var session string
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			session = c.Value
		}
	}
	file := writeCookieFile(t, session)

	r := ssecat(t, nil, "-o", "data", "-cookies", file, srv.URL+"/events/cookie")
	wantCode(t, r, 0)
	noSecret(t, r, session)
	assert.Equal(t, "event 1\nevent 2\n", r.stdout, "cookie stream: stdout %q", r.stdout)
	mu.Lock()
	if assert.NotEmpty(t, cookieHeaders, "Cookie header %q, want the file's two live cookies for 127.0.0.1", cookieHeaders) {
		assert.Equal(t, "other=x; session="+session, cookieHeaders[0], "Cookie header %q, want the file's two live cookies for 127.0.0.1", cookieHeaders)
	}
	cookieHeaders = nil
	mu.Unlock()

	// With -ticket-url, the cookies buy tickets and the stream gets only
	// the ticket.
	r = ssecat(t, nil, "-o", "data", "-cookies", file, "-ticket-url", srv.URL+"/ticket", srv.URL+"/events/ticket")
	wantCode(t, r, 0)
	noSecret(t, r, session)
	assert.Equal(t, "event 1\nevent 2\n", r.stdout, "ticket stream: stdout %q", r.stdout)
	st := auth.Stats()
	assert.Equal(t, 2, st.TicketsIssued, "stats %+v: want 2 tickets (the stream and the 204), no replay", st)
	assert.Equal(t, 0, st.TicketReplays, "stats %+v: want 2 tickets (the stream and the 204), no replay", st)
	mu.Lock()
	defer mu.Unlock()
	for _, h := range cookieHeaders {
		assert.Equal(t, "", h, "the ticket stream got cookies: %q", h)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no URL", nil, []string{"-q"}, "no URL given"},
		{"two URLs", nil, []string{"http://127.0.0.1/a", "http://127.0.0.1/b"}, "one URL expected"},
		{"relative URL", nil, []string{"/events"}, "absolute http or https URL"},
		{"bad scheme", nil, []string{"ftp://127.0.0.1/?token=" + canaries[0]}, "absolute http or https URL"},
		{"bad output", nil, []string{"-o", "xml", "http://127.0.0.1/"}, "-o must be"},
		{"unknown flag", nil, []string{"-nope", "http://127.0.0.1/"}, "flag provided but not defined"},
		{"header without colon", nil, []string{"-H", "Authorization Bearer " + canaries[3], "http://127.0.0.1/"}, "-H argument 1 is not"},
		{"header with bad name", nil, []string{"-H", "X-Ok: 1", "-H", "Bad Name: " + canaries[3], "http://127.0.0.1/"}, "-H argument 2 is not"},
		{"token and token-url", []string{"SSE_TOKEN=" + canaries[0]}, []string{"-token-url", "http://127.0.0.1/token", "-client-id", "c", "http://127.0.0.1/"}, "cannot be used with a bearer token"},
		{"token-url without client", nil, []string{"-token-url", "http://127.0.0.1/token", "http://127.0.0.1/"}, "needs -client-id"},
		{"client-id alone", nil, []string{"-client-id", "c", "http://127.0.0.1/"}, "need -token-url"},
		{"negative retries", nil, []string{"-max-retries", "-1", "http://127.0.0.1/"}, "must not be negative"},
		{"bad duration", nil, []string{"-idle-timeout", "soon", "http://127.0.0.1/"}, "invalid value"},
		{"control in id", nil, []string{"-last-event-id", "a\nb", "http://127.0.0.1/"}, "control character"},
		{"missing body file", nil, []string{"-d", "@/nonexistent/body", "http://127.0.0.1/"}, "cannot read the body"},
		{"bad cookie file", nil, []string{"-cookies", "/nonexistent/cookies", "http://127.0.0.1/"}, "-cookies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := ssecat(t, tc.env, tc.args...)
			wantCode(t, r, 2)
			assert.Contains(t, r.stderr, tc.want, "stderr lacks %q:\n%s", tc.want, r.stderr)
			assert.Equal(t, "", r.stdout, "stdout %q", r.stdout)
		})
	}
}

func TestMalformedCookieFileKeepsValueSecret(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cookies.txt")
	require.NoError(t, os.WriteFile(path, []byte("127.0.0.1\tFALSE\t/\tFALSE\tsoon\tsession\t"+canaries[2]+"\n"), 0o600))
	r := ssecat(t, nil, "-cookies", path, "http://127.0.0.1:1/")
	wantCode(t, r, 2)
	oneErrorLine(t, r.stderr, `-cookies: line 1 is not a Netscape cookie line`)
}

func TestPermanentErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/forbidden":
			w.WriteHeader(http.StatusForbidden)
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>")
		}
	}))
	defer srv.Close()

	r := ssecat(t, nil, srv.URL+"/forbidden?token="+canaries[0])
	wantCode(t, r, 1)
	oneErrorLine(t, r.stderr, `^ssecat: http://127\.0\.0\.1:\d+/forbidden\?token=REDACTED: 403 Forbidden$`)

	// A password in the URL's user info is not printed either.
	r = ssecat(t, nil, strings.Replace(srv.URL, "http://", "http://user:"+canaries[1]+"@", 1)+"/forbidden")
	wantCode(t, r, 1)
	oneErrorLine(t, r.stderr, `403 Forbidden$`)

	r = ssecat(t, nil, "-q", srv.URL+"/html")
	wantCode(t, r, 1)
	n := strings.Count(r.stderr, "\n")
	assert.Equal(t, 1, n, "-q: %d stderr lines, want only the error: %q", n, r.stderr)
	oneErrorLine(t, r.stderr, `Content-Type "text/html" is not text/event-stream`)
}

func TestMaxRetries(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	r := ssecat(t, nil, "-max-retries", "2", srv.URL)
	wantCode(t, r, 1)
	oneErrorLine(t, r.stderr, `gave up after 2 failed attempts: .*503 Service Unavailable`)
	assert.Contains(t, r.stderr, "503 Service Unavailable; retrying in", "stderr does not show the retry:\n%s", r.stderr)
	n := calls.Load()
	assert.Equal(t, int32(2), n, "%d attempts, want 2", n)
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "retry: 10\nid: 1\ndata: then silence\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // silent until the client gives up on it
	}))
	defer srv.Close()

	r := ssecat(t, nil, "-o", "data", "-idle-timeout", "200ms", srv.URL)
	wantCode(t, r, 0)
	assert.Equal(t, "then silence\n", r.stdout, "stdout %q", r.stdout)
	assert.Contains(t, r.stderr, "no bytes received within the idle timeout); reconnecting in", "stderr does not show the idle reconnect:\n%s", r.stderr)
}

// TestSignals checks that SIGINT and SIGTERM end a live stream with exit
// status 0, after the events so far were printed.
func TestSignals(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1\ndata: first\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close) // after the parallel subtests

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "-o", "data", srv.URL)
			cmd.Env = append(cleanEnv(), "SSE_TOKEN="+canaries[0])
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			line, err := bufio.NewReader(out).ReadString('\n')
			assert.NoError(t, err, "first line %q (%v)", line, err)
			assert.Equal(t, "first\n", line, "first line %q (%v)", line, err)
			require.NoError(t, cmd.Process.Signal(sig))
			rest, _ := io.ReadAll(out)
			err = cmd.Wait()
			assert.NoError(t, err, "after %v: %v, want exit status 0\nstderr: %s", sig, err, stderr.String())
			assert.Contains(t, stderr.String(), "ssecat: interrupted", "stderr %q", stderr.String())
			checkCanaries(t, result{stdout: line + string(rest), stderr: stderr.String()})
		})
	}
}

// TestInterruptWhileRetrying checks that SIGINT during the backoff before
// the first connection ends ssecat at once with exit status 0.
func TestInterruptWhileRetrying(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, srv.URL)
	cmd.Env = cleanEnv()
	errPipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	rd := bufio.NewReader(errPipe)
	line, err := rd.ReadString('\n')
	assert.NoError(t, err, "first stderr line %q (%v)", line, err)
	assert.Contains(t, line, "503 Service Unavailable; retrying in 30s", "first stderr line %q (%v)", line, err)
	start := time.Now()
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	rest, _ := io.ReadAll(rd)
	err = cmd.Wait()
	assert.NoError(t, err, "after SIGINT: %v, want exit status 0\nstderr: %s%s", err, line, rest)
	d := time.Since(start)
	assert.LessOrEqual(t, d, 10*time.Second, "ssecat took %v to stop", d)
}

// TestAuthExpiredWithFixedToken checks that an auth_expired event with a
// fixed -token says what happened: the token expired and cannot be
// refreshed; no 401 is claimed.
func TestAuthExpiredWithFixedToken(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1\ndata: hi\n\nevent: auth_expired\ndata: x\n\n")
	}))
	defer srv.Close()

	r := ssecat(t, []string{"SSE_TOKEN=" + canaries[0]}, "-o", "data", srv.URL)
	wantCode(t, r, 1)
	assert.Equal(t, "hi\n", r.stdout, "stdout %q", r.stdout)
	oneErrorLine(t, r.stderr, "the server sent auth_expired")
	for _, want := range []string{"cannot be refreshed", "-token or SSE_TOKEN"} {
		assert.Contains(t, r.stderr, want, "stderr lacks %q:\n%s", want, r.stderr)
	}
	assert.NotContains(t, r.stderr, "401", "stderr speaks of a 401 or of the SDK's fields:\n%s", r.stderr)
	assert.NotContains(t, r.stderr, "Client.", "stderr speaks of a 401 or of the SDK's fields:\n%s", r.stderr)
	n := calls.Load()
	assert.Equal(t, int32(1), n, "%d connections, want 1", n)
}

// TestMessagesSpeakOfFlags drives the SDK errors whose text names a Client
// field and checks that ssecat's stderr names its flags instead, so that
// flagWords keeps up with the SDK's wording.
func TestMessagesSpeakOfFlags(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: 1\ndata: partial\n\n")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the -d stream breaks mid-way
	}))
	defer srv.Close()

	r := ssecat(t, nil, srv.URL)
	wantCode(t, r, 1)
	oneErrorLine(t, r.stderr, "no credentials were given; pass -token")
	assert.NotContains(t, r.stderr, "Client.")

	r = ssecat(t, nil, "-o", "data", "-d", `{"q":1}`, srv.URL)
	wantCode(t, r, 1)
	assert.Equal(t, "partial\n", r.stdout)
	oneErrorLine(t, r.stderr, `not sent again \(a -d stream is finite\)`)
	assert.NotContains(t, r.stderr, "Client.")
}
