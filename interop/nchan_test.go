package interop

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekit/sse"
)

// nchanID is the form of Nchan's message ids: the message time in Unix
// seconds, a colon, and a counter within that second.
var nchanID = regexp.MustCompile(`^[0-9]{10}:[0-9]+$`)

// authReq is what the Nchan authorizer saw of one subscriber request.
type authReq struct {
	Authorization string
	Cookie        string
	Token         string // the token= query parameter of the original URI
	LastEventID   string
	Status        int
}

// authorizer is the endpoint nchan_authorize_request points to. A request is
// allowed (200) when it carries a valid bearer token, session cookie or
// token= query parameter; a credential listed in forbidden gets 403; any
// other request gets 401.
type authorizer struct {
	mu        sync.Mutex
	valid     map[string]bool // bearer tokens, session cookie values and query tokens
	forbidden map[string]bool
	seen      []authReq
}

func (a *authorizer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	orig, _ := url.Parse(r.Header.Get("X-Original-URI"))
	ar := authReq{
		Authorization: r.Header.Get("Authorization"),
		Cookie:        r.Header.Get("Cookie"),
		LastEventID:   r.Header.Get("Last-Event-ID"),
	}
	if orig != nil {
		ar.Token = orig.Query().Get("token")
	}
	var creds []string
	if tok, ok := strings.CutPrefix(ar.Authorization, "Bearer "); ok {
		creds = append(creds, tok)
	}
	if ar.Token != "" {
		creds = append(creds, ar.Token)
	}
	if ck, err := r.Cookie("session"); err == nil {
		creds = append(creds, ck.Value)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ar.Status = http.StatusUnauthorized
	for _, c := range creds {
		switch {
		case a.forbidden[c]:
			ar.Status = http.StatusForbidden
		case a.valid[c] && ar.Status != http.StatusForbidden:
			ar.Status = http.StatusOK
		}
	}
	a.seen = append(a.seen, ar)
	w.WriteHeader(ar.Status)
}

func (a *authorizer) allow(cred string) {
	a.mu.Lock()
	a.valid[cred] = true
	a.mu.Unlock()
}

func (a *authorizer) forbid(cred string) {
	a.mu.Lock()
	a.forbidden[cred] = true
	a.mu.Unlock()
}

func (a *authorizer) requests() []authReq {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]authReq(nil), a.seen...)
}

// nchan is one nginx with the Nchan module, its Redis, and its authorizer.
type nchan struct {
	t      *testing.T
	nginx  string
	dir    string
	port   int
	base   string
	proc   *proc
	auth   *authorizer
	pubCli *http.Client
}

const nchanConf = `load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
user root;
daemon off;
master_process on;
worker_processes 1;
worker_shutdown_timeout 1s;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log notice;
events { worker_connections 256; }
http {
	access_log {{dir}}/access.log;
	client_body_temp_path {{dir}}/body;
	proxy_temp_path {{dir}}/proxy;
	fastcgi_temp_path {{dir}}/fastcgi;
	uwsgi_temp_path {{dir}}/uwsgi;
	scgi_temp_path {{dir}}/scgi;
	upstream redis_store { nchan_redis_server "redis://127.0.0.1:{{redis}}"; }
	server {
		listen 127.0.0.1:{{port}};
		location ~ ^/sub/(\w+)$ {
			nchan_subscriber eventsource;
			nchan_channel_id $1;
			nchan_subscriber_first_message oldest;
			nchan_authorize_request /auth;
			nchan_redis_pass redis_store;
			nchan_message_buffer_length 100;
			nchan_message_timeout 10m;
		}
		location = /auth {
			internal;
			proxy_pass http://{{authaddr}}/auth;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header X-Original-URI $request_uri;
		}
		location ~ ^/pub/(\w+)$ {
			nchan_publisher;
			nchan_channel_id $1;
			nchan_redis_pass redis_store;
			nchan_message_buffer_length 100;
			nchan_message_timeout 10m;
		}
	}
}
`

// startNchan starts Redis, the authorizer and nginx, each on its own free
// port on 127.0.0.1.
func startNchan(t *testing.T) *nchan {
	t.Helper()
	nginx := requireBin(t, "nginx", "nginx")
	redis := requireBin(t, "redis-server", "redis-server")
	if _, err := os.Stat("/usr/lib/nginx/modules/ngx_nchan_module.so"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the Nchan module is not installed (Debian package libnginx-mod-nchan); interop/run installs it")
		}
		t.Skip("the Nchan module is not installed (Debian package libnginx-mod-nchan); run interop/run to install it")
	}
	dir := t.TempDir()

	redisPort := freePort(t)
	rp := startProc(t, redis, []string{"--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes"}, nil)
	waitPort(t, redisPort, rp)

	a := &authorizer{valid: map[string]bool{}, forbidden: map[string]bool{}}
	as := httptest.NewServer(a)
	t.Cleanup(as.Close)

	n := &nchan{t: t, nginx: nginx, dir: dir, port: freePort(t), auth: a, pubCli: &http.Client{Timeout: 5 * time.Second}}
	n.base = fmt.Sprintf("http://127.0.0.1:%d", n.port)
	conf := strings.NewReplacer("{{dir}}", dir, "{{redis}}", strconv.Itoa(redisPort),
		"{{port}}", strconv.Itoa(n.port), "{{authaddr}}", as.Listener.Addr().String()).Replace(nchanConf)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644))
	n.start()
	return n
}

func (n *nchan) start() {
	n.t.Helper()
	n.proc = startProc(n.t, n.nginx, []string{"-p", n.dir, "-c", filepath.Join(n.dir, "nginx.conf"), "-e", filepath.Join(n.dir, "error.log")}, nil)
	waitPort(n.t, n.port, n.proc)
	n.waitRedis()
}

// waitRedis waits until the worker has connected to Redis: until then,
// publishing fails.
func (n *nchan) waitRedis() {
	n.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := n.pubCli.Get(n.base + "/pub/probe")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	n.t.Fatalf("nchan publisher not ready after 10s; error.log:\n%s", b)
}

// publish posts one message to channel ch and returns the id Nchan gave it.
func (n *nchan) publish(ch, data string) string {
	n.t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.base+"/pub/"+ch, strings.NewReader(data))
	require.NoError(n.t, err)
	req.Header.Set("Accept", "text/json")
	resp, err := n.pubCli.Do(req)
	require.NoError(n.t, err)
	defer resp.Body.Close()
	require.Contains(n.t, []int{http.StatusCreated, http.StatusAccepted}, resp.StatusCode, "publish to %s", ch)
	var info struct {
		LastMessageID string `json:"last_message_id"`
	}
	require.NoError(n.t, decodeJSON(resp.Body, &info))
	require.Regexp(n.t, nchanID, info.LastMessageID)
	return info.LastMessageID
}

func (n *nchan) sub(ch string) string { return n.base + "/sub/" + ch }

// subscribers waits until Nchan counts want subscribers on channel ch.
func (n *nchan) subscribers(ch string, want int) {
	n.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got int
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, n.base+"/pub/"+ch, nil)
		req.Header.Set("Accept", "text/json")
		resp, err := n.pubCli.Do(req)
		if err == nil {
			var info struct {
				Subscribers int `json:"subscribers"`
			}
			decodeJSON(resp.Body, &info)
			resp.Body.Close()
			got = info.Subscribers
			if got == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("channel %s has %d subscribers, want %d", ch, got, want)
}

func TestNchanBearerRefreshOn401(t *testing.T) {
	n := startNchan(t)
	n.auth.allow("fresh")
	ts := &tokenSeq{tokens: []string{"stale", "fresh"}}
	c, _ := fastClient(sse.Bearer(ts))
	s, err := c.Connect(t.Context(), n.sub("bearer"))
	require.NoError(t, err)
	defer s.Close()
	n.subscribers("bearer", 1)
	id1 := n.publish("bearer", "one")
	id2 := n.publish("bearer", "two")
	evs := collect(t, s, 2, 5*time.Second)
	require.Equal(t, []string{"one", "two"}, datas(evs))
	require.Equal(t, []string{id1, id2}, []string{evs[0].ID, evs[1].ID})
	reqs := n.auth.requests()
	require.Len(t, reqs, 2, "authorizer requests")
	require.Equal(t, "Bearer stale", reqs[0].Authorization)
	require.Equal(t, http.StatusUnauthorized, reqs[0].Status)
	require.Equal(t, "Bearer fresh", reqs[1].Authorization)
	require.Equal(t, http.StatusOK, reqs[1].Status)
	require.Equal(t, 2, ts.Calls(), "token fetches: one, then one refresh after the 401")
}

func TestNchanCookiesRelogin(t *testing.T) {
	n := startNchan(t)
	n.auth.allow("session-2")
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	u, _ := url.Parse(n.base + "/")
	jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: "session-1"}}) // expired server-side
	var logins int
	relogin := func(context.Context) error {
		logins++
		jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: fmt.Sprintf("session-%d", logins+1)}})
		return nil
	}
	c, _ := fastClient(sse.SessionCookies(jar, relogin))
	s, err := c.Connect(t.Context(), n.sub("cookie"))
	require.NoError(t, err)
	defer s.Close()
	n.subscribers("cookie", 1)
	n.publish("cookie", "hello")
	require.Equal(t, []string{"hello"}, datas(collect(t, s, 1, 5*time.Second)))
	reqs := n.auth.requests()
	require.Len(t, reqs, 2)
	require.Equal(t, "session=session-1", reqs[0].Cookie)
	require.Equal(t, http.StatusUnauthorized, reqs[0].Status)
	require.Equal(t, "session=session-2", reqs[1].Cookie)
	require.Equal(t, http.StatusOK, reqs[1].Status)
	require.Equal(t, 1, logins)
}

func TestNchanQueryToken(t *testing.T) {
	n := startNchan(t)
	n.auth.allow("q-1")
	n.auth.allow("q-2")
	var mu sync.Mutex
	var minted int
	qt := sse.QueryToken("token", func(context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		minted++
		return fmt.Sprintf("q-%d", minted), nil
	})
	c, _ := fastClient(qt)
	s, err := c.Connect(t.Context(), n.sub("query"))
	require.NoError(t, err)
	defer s.Close()
	n.subscribers("query", 1)
	n.publish("query", "a")
	require.Equal(t, []string{"a"}, datas(collect(t, s, 1, 5*time.Second)))
	// A reload ends the stream: the next attempt mints a new token.
	require.NoError(t, n.proc.cmd.Process.Signal(syscall.SIGHUP))
	waitFor(t, 10*time.Second, func() bool { return len(n.auth.requests()) == 2 })
	n.subscribers("query", 1)
	n.publish("query", "b")
	require.Equal(t, []string{"b"}, datas(collect(t, s, 1, 5*time.Second)))
	reqs := n.auth.requests()
	require.Equal(t, []string{"q-1", "q-2"}, []string{reqs[0].Token, reqs[1].Token})
	require.Empty(t, reqs[0].Authorization)
}

func TestNchanAuthorizer401And403(t *testing.T) {
	n := startNchan(t)
	n.auth.forbid("banned")

	t.Run("401 twice is an AuthError", func(t *testing.T) {
		before := len(n.auth.requests())
		ts := &tokenSeq{tokens: []string{"bad-1", "bad-2"}}
		c, _ := fastClient(sse.Bearer(ts))
		_, err := c.Connect(t.Context(), n.sub("denied"))
		var ae *sse.AuthError
		require.ErrorAs(t, err, &ae)
		var st *sse.StatusError
		require.ErrorAs(t, err, &st)
		require.Equal(t, http.StatusUnauthorized, st.Code)
		var pe *sse.PermanentError
		require.ErrorAs(t, err, &pe)
		reqs := n.auth.requests()[before:]
		require.Len(t, reqs, 2, "one refresh after the first 401, then final")
		require.Equal(t, "Bearer bad-1", reqs[0].Authorization)
		require.Equal(t, "Bearer bad-2", reqs[1].Authorization)
		require.NotContains(t, err.Error(), "bad-")
	})
	t.Run("403 is permanent at once", func(t *testing.T) {
		before := len(n.auth.requests())
		ts := &tokenSeq{tokens: []string{"banned"}}
		c, _ := fastClient(sse.Bearer(ts))
		_, err := c.Connect(t.Context(), n.sub("denied"))
		var pe *sse.PermanentError
		require.ErrorAs(t, err, &pe)
		var st *sse.StatusError
		require.ErrorAs(t, err, &st)
		require.Equal(t, http.StatusForbidden, st.Code)
		require.Len(t, n.auth.requests()[before:], 1, "no retry after a 403")
		require.Equal(t, 1, ts.Calls())
	})
}

func TestNchanIDsAsLastEventID(t *testing.T) {
	n := startNchan(t)
	n.auth.allow("t")
	c, _ := fastClient(sse.Bearer(&tokenSeq{tokens: []string{"t"}}))
	s, err := c.Connect(t.Context(), n.sub("ids"))
	require.NoError(t, err)
	defer s.Close()
	n.subscribers("ids", 1)
	var want []string
	for i := range 3 {
		want = append(want, n.publish("ids", fmt.Sprint("m", i)))
	}
	evs := collect(t, s, 3, 5*time.Second)
	for i, ev := range evs {
		require.Regexp(t, nchanID, ev.ID)
		require.Equal(t, want[i], ev.ID)
	}
	require.Equal(t, want[2], s.LastEventID())
	s.Reconnect()
	waitFor(t, 5*time.Second, func() bool { return len(n.auth.requests()) == 2 })
	require.Equal(t, "", n.auth.requests()[0].LastEventID)
	require.Equal(t, want[2], n.auth.requests()[1].LastEventID, "the Nchan id goes back verbatim")
	n.subscribers("ids", 1)
	id := n.publish("ids", "after")
	ev := collect(t, s, 1, 5*time.Second)[0]
	require.Equal(t, "after", ev.Data, "nothing replayed twice")
	require.Equal(t, id, ev.ID)
}

func TestNchanLastEventIDReplaysMissed(t *testing.T) {
	n := startNchan(t)
	n.auth.allow("t")
	var ids []string
	for i := range 5 {
		ids = append(ids, n.publish("replay", fmt.Sprint("m", i)))
	}
	c, _ := fastClient(sse.Bearer(&tokenSeq{tokens: []string{"t"}}))
	c.LastEventID = ids[1] // the consumer handled m0 and m1 before it stopped
	s, err := c.Connect(t.Context(), n.sub("replay"))
	require.NoError(t, err)
	defer s.Close()
	evs := collect(t, s, 3, 5*time.Second)
	require.Equal(t, []string{"m2", "m3", "m4"}, datas(evs))
	require.Equal(t, ids[2:], []string{evs[0].ID, evs[1].ID, evs[2].ID})
	n.publish("replay", "live")
	require.Equal(t, []string{"live"}, datas(collect(t, s, 1, 5*time.Second)), "no message replayed twice")
	require.Equal(t, ids[1], n.auth.requests()[0].LastEventID)
}

// nchanResume publishes while the server goes away, then checks that the
// subscriber got every message exactly once, in order.
func nchanResume(t *testing.T, disrupt func(n *nchan)) {
	n := startNchan(t)
	n.auth.allow("t")
	c, at := fastClient(sse.Bearer(&tokenSeq{tokens: []string{"t"}}))
	s, err := c.Connect(t.Context(), n.sub("resume"))
	require.NoError(t, err)
	defer s.Close()
	n.subscribers("resume", 1)
	var want []string
	for i := range 3 {
		want = append(want, fmt.Sprint("before-", i))
		n.publish("resume", want[i])
	}
	got := collect(t, s, 3, 5*time.Second)
	lastBefore := got[2].ID
	disrupt(n)
	for i := range 3 { // published before the client is back
		want = append(want, fmt.Sprint("during-", i))
		n.publish("resume", want[len(want)-1])
	}
	n.subscribers("resume", 1)
	want = append(want, "after")
	n.publish("resume", "after")
	got = append(got, collect(t, s, 4, 10*time.Second)...)
	require.Equal(t, want, datas(got), "every message exactly once, in order")
	seen := map[string]bool{}
	for _, ev := range got {
		require.False(t, seen[ev.ID], "duplicate id %s", ev.ID)
		seen[ev.ID] = true
	}
	reqs := n.auth.requests()
	require.GreaterOrEqual(t, len(reqs), 2)
	require.Equal(t, lastBefore, reqs[1].LastEventID, "resumed with the last id seen")
	opened := 0
	for _, a := range at.all() {
		if !a.Ended && a.Err == nil {
			require.Equal(t, http.StatusOK, a.StatusCode)
			opened++
		}
	}
	require.Equal(t, 2, opened, "one reconnect")
}

func TestNchanResumeAfterReload(t *testing.T) {
	nchanResume(t, func(n *nchan) {
		// nginx -s reload, by PID: the old worker ends its subscribers
		// with ":410: 410 Gone" and a clean end of stream.
		require.NoError(t, n.proc.cmd.Process.Signal(syscall.SIGHUP))
		waitFor(t, 10*time.Second, func() bool { return len(n.auth.requests()) >= 2 })
	})
}

func TestNchanResumeAfterRestartWithRedis(t *testing.T) {
	nchanResume(t, func(n *nchan) {
		n.proc.stop(syscall.SIGQUIT)
		n.start() // same port, same Redis: the messages are still there
	})
}

func TestNchanSsecat(t *testing.T) {
	n := startNchan(t)
	n.auth.allow("cat-token")
	id0 := n.publish("cat", "old")
	id1 := n.publish("cat", "one")
	id2 := n.publish("cat", "two")
	res := runSsecat(t, []string{"SSE_TOKEN=cat-token"}, 2, "-q", "-last-event-id", id0, n.sub("cat"))
	require.Equal(t, 0, res.Exit, "stderr: %s", res.Stderr)
	require.Equal(t, []jsonEvent{{Type: "message", Data: "one", ID: id1}, {Type: "message", Data: "two", ID: id2}}, res.Events)
	reqs := n.auth.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "Bearer cat-token", reqs[0].Authorization)
	require.Equal(t, id0, reqs[0].LastEventID)
	require.NotContains(t, res.Stderr, "cat-token")

	t.Run("403", func(t *testing.T) {
		n.auth.forbid("banned")
		res := runSsecat(t, nil, -1, "-token", "banned", n.sub("cat"))
		require.Equal(t, 1, res.Exit)
		require.Contains(t, res.Stderr, "403")
		require.NotContains(t, res.Stderr, "banned")
		require.Empty(t, res.Events)
	})
}

// waitFor polls cond until it holds, failing after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
