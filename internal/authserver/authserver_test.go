package authserver

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// clock is a settable clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func start(t *testing.T, o Options) (*Server, *httptest.Server) {
	t.Helper()
	s := New(o)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func do(t *testing.T, method, u string, h http.Header, form url.Values) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// readEvents reads n blocks of an event stream, each as its lines joined by "|".
func readEvents(t *testing.T, resp *http.Response, n int) []string {
	t.Helper()
	sc := bufio.NewScanner(resp.Body)
	var out []string
	var cur []string
	for len(out) < n && sc.Scan() {
		if sc.Text() == "" {
			if len(cur) > 0 {
				out = append(out, strings.Join(cur, "|"))
			}
			cur = nil
			continue
		}
		cur = append(cur, sc.Text())
	}
	return out
}

func TestTokenEndpoint(t *testing.T) {
	s, ts := start(t, Options{ClientID: "id", ClientSecret: "sec"})
	if r := do(t, "POST", ts.URL+"/token", nil, url.Values{"grant_type": {"client_credentials"}, "client_id": {"id"}, "client_secret": {"bad"}}); r.StatusCode != 401 {
		t.Fatalf("bad secret: %d", r.StatusCode)
	}
	r := do(t, "POST", ts.URL+"/token", nil, url.Values{"grant_type": {"client_credentials"}, "client_id": {"id"}, "client_secret": {"sec"}})
	m := decode(t, r)
	tok, _ := m["access_token"].(string)
	rt, _ := m["refresh_token"].(string)
	if r.StatusCode != 200 || tok == "" || rt == "" || m["token_type"] != "Bearer" {
		t.Fatalf("token answer %d %v", r.StatusCode, m)
	}
	r = do(t, "POST", ts.URL+"/token", nil, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"id"}, "client_secret": {"sec"}})
	if m := decode(t, r); r.StatusCode != 200 || m["access_token"] == tok {
		t.Fatalf("refresh: %d %v", r.StatusCode, m)
	}
	// Refresh tokens rotate: the old one is spent.
	if r := do(t, "POST", ts.URL+"/token", nil, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"id"}, "client_secret": {"sec"}}); r.StatusCode != 400 {
		t.Fatalf("reused refresh token: %d", r.StatusCode)
	}
	if got := s.Stats().TokensIssued; got != 2 {
		t.Fatalf("TokensIssued %d", got)
	}
}

func TestBearerEventsExpire(t *testing.T) {
	c := newClock()
	s, ts := start(t, Options{Now: c.Now, TokenTTL: time.Minute, Interval: time.Millisecond})
	tok, _ := s.IssueToken()
	if r := do(t, "GET", ts.URL+"/events/bearer", bearer("nope"), nil); r.StatusCode != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("unknown token: %d %q", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	h := bearer(tok)
	h.Set("Last-Event-ID", "41")
	r := do(t, "GET", ts.URL+"/events/bearer", h, nil)
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("open: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if got := readEvents(t, r, 2); strings.Join(got, ",") != "id: 42|data: event 42,id: 43|data: event 43" {
		t.Fatalf("events %q, want 42 and 43 after Last-Event-ID 41", got)
	}
	c.Advance(2 * time.Minute)
	// Events already written before the clock moved may come first.
	var last string
	for _, e := range readEvents(t, r, 100) {
		last = e
		if strings.HasPrefix(e, "event: ") {
			break
		}
	}
	if last != "event: auth_expired|data: credentials expired" {
		t.Fatalf("last block %q, want the auth_expired event", last)
	}
	if rest, _ := io.ReadAll(r.Body); len(rest) != 0 {
		t.Fatalf("stream went on after auth_expired: %q", rest)
	}
	if r := do(t, "GET", ts.URL+"/events/bearer", bearer(tok), nil); r.StatusCode != 401 {
		t.Fatalf("expired token: %d", r.StatusCode)
	}
	if st := s.Stats(); st.Expired != 1 || st.StreamsOpened != 1 || st.Rejected != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCookieSession(t *testing.T) {
	s, ts := start(t, Options{Password: "pw", Events: 1, Interval: time.Millisecond})
	if r := do(t, "POST", ts.URL+"/login", nil, url.Values{"password": {"bad"}}); r.StatusCode != 401 {
		t.Fatalf("bad password: %d", r.StatusCode)
	}
	r := do(t, "POST", ts.URL+"/login", nil, url.Values{"password": {"pw"}})
	cookies := r.Cookies()
	if r.StatusCode != 204 || len(cookies) != 1 || !cookies[0].HttpOnly {
		t.Fatalf("login: %d %v", r.StatusCode, cookies)
	}
	h := http.Header{"Cookie": {cookies[0].Name + "=" + cookies[0].Value}}
	r = do(t, "GET", ts.URL+"/events/cookie", h, nil)
	if got := readEvents(t, r, 5); len(got) != 1 || got[0] != "id: 1|data: event 1" {
		t.Fatalf("events %q, want one (Events: 1)", got)
	}
	s.Revoke(cookies[0].Value)
	if r := do(t, "GET", ts.URL+"/events/cookie", h, nil); r.StatusCode != 401 {
		t.Fatalf("revoked session: %d", r.StatusCode)
	}
}

func TestTicketOneTime(t *testing.T) {
	s, ts := start(t, Options{Events: 1, Interval: time.Millisecond})
	if r := do(t, "POST", ts.URL+"/ticket", nil, nil); r.StatusCode != 401 {
		t.Fatalf("ticket without credentials: %d", r.StatusCode)
	}
	tok, _ := s.IssueToken()
	ticket, _ := decode(t, do(t, "POST", ts.URL+"/ticket", bearer(tok), nil))["ticket"].(string)
	if ticket == "" {
		t.Fatal("no ticket")
	}
	// Many concurrent uses of one ticket: exactly one stream opens.
	const n = 10
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(ts.URL + "/events/ticket?ticket=" + url.QueryEscape(ticket))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode == 200 {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || s.Stats().TicketReplays != n-1 {
		t.Fatalf("%d streams opened with one ticket, %d replays counted", ok.Load(), s.Stats().TicketReplays)
	}
}

func TestQueryToken(t *testing.T) {
	c := newClock()
	s, ts := start(t, Options{Now: c.Now, QueryTokenTTL: time.Hour, Events: 1, Interval: time.Millisecond})
	tok, _ := s.IssueToken()
	m := decode(t, do(t, "GET", ts.URL+"/query-token", bearer(tok), nil))
	qt, _ := m["token"].(string)
	if qt == "" || m["expires_in"] != float64(60) {
		t.Fatalf("query token answer %v, want a token living 60 s (capped)", m)
	}
	if r := do(t, "GET", ts.URL+"/events/token?token="+url.QueryEscape(qt), nil, nil); r.StatusCode != 200 {
		t.Fatalf("fresh token: %d", r.StatusCode)
	}
	// Tampered: flip the payload.
	tampered := "x" + qt[1:]
	if r := do(t, "GET", ts.URL+"/events/token?token="+url.QueryEscape(tampered), nil, nil); r.StatusCode != 401 {
		t.Fatalf("tampered token: %d", r.StatusCode)
	}
	c.Advance(61 * time.Second)
	if r := do(t, "GET", ts.URL+"/events/token?token="+url.QueryEscape(qt), nil, nil); r.StatusCode != 401 {
		t.Fatalf("expired token: %d", r.StatusCode)
	}
}
