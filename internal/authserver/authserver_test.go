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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
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
	bad := do(t, "POST", ts.URL+"/token", nil, url.Values{"grant_type": {"client_credentials"}, "client_id": {"id"}, "client_secret": {"bad"}})
	require.Equal(t, 401, bad.StatusCode, "bad secret: %d", bad.StatusCode)
	r := do(t, "POST", ts.URL+"/token", nil, url.Values{"grant_type": {"client_credentials"}, "client_id": {"id"}, "client_secret": {"sec"}})
	m := decode(t, r)
	tok, _ := m["access_token"].(string)
	rt, _ := m["refresh_token"].(string)
	require.Equal(t, 200, r.StatusCode, "token answer %d %v", r.StatusCode, m)
	require.NotEqual(t, "", tok, "token answer %d %v", r.StatusCode, m)
	require.NotEqual(t, "", rt, "token answer %d %v", r.StatusCode, m)
	require.Equal(t, "Bearer", m["token_type"], "token answer %d %v", r.StatusCode, m)
	r = do(t, "POST", ts.URL+"/token", nil, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"id"}, "client_secret": {"sec"}})
	m = decode(t, r)
	require.Equal(t, 200, r.StatusCode, "refresh: %d %v", r.StatusCode, m)
	require.NotEqual(t, tok, m["access_token"], "refresh: %d %v", r.StatusCode, m)
	// Refresh tokens rotate: the old one is spent.
	r = do(t, "POST", ts.URL+"/token", nil, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"id"}, "client_secret": {"sec"}})
	require.Equal(t, 400, r.StatusCode, "reused refresh token: %d", r.StatusCode)
	got := s.Stats().TokensIssued
	require.Equal(t, 2, got, "TokensIssued %d", got)
}

func TestBearerEventsExpire(t *testing.T) {
	c := newClock()
	s, ts := start(t, Options{Now: c.Now, TokenTTL: time.Minute, Interval: time.Millisecond})
	tok, _ := s.IssueToken()
	unknown := do(t, "GET", ts.URL+"/events/bearer", bearer("nope"), nil)
	require.Equal(t, 401, unknown.StatusCode, "unknown token: %d %q", unknown.StatusCode, unknown.Header.Get("WWW-Authenticate"))
	require.Contains(t, unknown.Header.Get("WWW-Authenticate"), "invalid_token", "unknown token: %d %q", unknown.StatusCode, unknown.Header.Get("WWW-Authenticate"))
	h := bearer(tok)
	h.Set("Last-Event-ID", "41")
	r := do(t, "GET", ts.URL+"/events/bearer", h, nil)
	require.Equal(t, 200, r.StatusCode, "open: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	require.Equal(t, "text/event-stream", r.Header.Get("Content-Type"), "open: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	got := readEvents(t, r, 2)
	require.Equal(t, "id: 42|data: event 42,id: 43|data: event 43", strings.Join(got, ","), "events %q, want 42 and 43 after Last-Event-ID 41", got)
	c.Advance(2 * time.Minute)
	// Events already written before the clock moved may come first.
	var last string
	for _, e := range readEvents(t, r, 100) {
		last = e
		if strings.HasPrefix(e, "event: ") {
			break
		}
	}
	require.Equal(t, "event: auth_expired|data: credentials expired", last, "last block %q, want the auth_expired event", last)
	rest, _ := io.ReadAll(r.Body)
	require.Len(t, rest, 0, "stream went on after auth_expired: %q", rest)
	r = do(t, "GET", ts.URL+"/events/bearer", bearer(tok), nil)
	require.Equal(t, 401, r.StatusCode, "expired token: %d", r.StatusCode)
	st := s.Stats()
	require.Equal(t, 1, st.Expired, "stats %+v", st)
	require.Equal(t, 1, st.StreamsOpened, "stats %+v", st)
	require.Equal(t, 2, st.Rejected, "stats %+v", st)
}

func TestCookieSession(t *testing.T) {
	s, ts := start(t, Options{Password: "pw", Events: 1, Interval: time.Millisecond})
	bad := do(t, "POST", ts.URL+"/login", nil, url.Values{"password": {"bad"}})
	require.Equal(t, 401, bad.StatusCode, "bad password: %d", bad.StatusCode)
	r := do(t, "POST", ts.URL+"/login", nil, url.Values{"password": {"pw"}})
	cookies := r.Cookies()
	require.Equal(t, 204, r.StatusCode, "login: %d %v", r.StatusCode, cookies)
	require.Len(t, cookies, 1, "login: %d %v", r.StatusCode, cookies)
	require.True(t, cookies[0].HttpOnly, "login: %d %v", r.StatusCode, cookies)
	h := http.Header{"Cookie": {cookies[0].Name + "=" + cookies[0].Value}}
	r = do(t, "GET", ts.URL+"/events/cookie", h, nil)
	got := readEvents(t, r, 5)
	require.Len(t, got, 1, "events %q, want one (Events: 1)", got)
	require.Equal(t, "id: 1|data: event 1", got[0], "events %q, want one (Events: 1)", got)
	s.Revoke(cookies[0].Value)
	r = do(t, "GET", ts.URL+"/events/cookie", h, nil)
	require.Equal(t, 401, r.StatusCode, "revoked session: %d", r.StatusCode)
}

func TestTicketOneTime(t *testing.T) {
	s, ts := start(t, Options{Events: 1, Interval: time.Millisecond})
	r := do(t, "POST", ts.URL+"/ticket", nil, nil)
	require.Equal(t, 401, r.StatusCode, "ticket without credentials: %d", r.StatusCode)
	tok, _ := s.IssueToken()
	ticket, _ := decode(t, do(t, "POST", ts.URL+"/ticket", bearer(tok), nil))["ticket"].(string)
	require.NotEqual(t, "", ticket, "no ticket")
	// Many concurrent uses of one ticket: exactly one stream opens.
	const n = 10
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(ts.URL + "/events/ticket?ticket=" + url.QueryEscape(ticket))
			if !assert.NoError(t, err) {
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
	require.Equal(t, int32(1), ok.Load(), "%d streams opened with one ticket, %d replays counted", ok.Load(), s.Stats().TicketReplays)
	require.Equal(t, n-1, s.Stats().TicketReplays, "%d streams opened with one ticket, %d replays counted", ok.Load(), s.Stats().TicketReplays)
}

func TestQueryToken(t *testing.T) {
	c := newClock()
	s, ts := start(t, Options{Now: c.Now, QueryTokenTTL: time.Hour, Events: 1, Interval: time.Millisecond})
	tok, _ := s.IssueToken()
	m := decode(t, do(t, "GET", ts.URL+"/query-token", bearer(tok), nil))
	qt, _ := m["token"].(string)
	require.NotEqual(t, "", qt, "query token answer %v, want a token living 60 s (capped)", m)
	require.Equal(t, float64(60), m["expires_in"], "query token answer %v, want a token living 60 s (capped)", m)
	r := do(t, "GET", ts.URL+"/events/token?token="+url.QueryEscape(qt), nil, nil)
	require.Equal(t, 200, r.StatusCode, "fresh token: %d", r.StatusCode)
	// Tampered: flip the payload.
	tampered := "x" + qt[1:]
	r = do(t, "GET", ts.URL+"/events/token?token="+url.QueryEscape(tampered), nil, nil)
	require.Equal(t, 401, r.StatusCode, "tampered token: %d", r.StatusCode)
	c.Advance(61 * time.Second)
	r = do(t, "GET", ts.URL+"/events/token?token="+url.QueryEscape(qt), nil, nil)
	require.Equal(t, 401, r.StatusCode, "expired token: %d", r.StatusCode)
}
