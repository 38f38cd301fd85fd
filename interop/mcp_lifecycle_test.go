package interop

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekit/sse"
)

// TestMCPStreamableInitialize: initialize over a POST whose answer is an
// SSE stream. The stream is finite: it ends with Err() == nil when the
// server has sent the result, and the POST is sent exactly once.
func TestMCPStreamableInitialize(t *testing.T) {
	m := startMCP(t)
	c, _ := fastClient(sse.Bearer(&tokenSeq{tokens: []string{"good"}}))
	s, err := c.Do(m.initRequest(t))
	require.NoError(t, err)
	defer s.Close()
	sid := s.Header().Get("Mcp-Session-Id")
	require.NotEmpty(t, sid, "session id from the response header")

	evs := drain(t, s, 5*time.Second)
	require.NoError(t, s.Err())
	// The SDK primes a resumable stream with an event that has an id and
	// empty data (and retry: 200): a client sees it as an event with Data "".
	require.Len(t, evs, 2)
	require.Equal(t, "", evs[0].Data)
	require.NotEmpty(t, evs[0].ID)
	msg := parseRPC(t, evs[1])
	require.Equal(t, 1, *msg.ID)
	require.Contains(t, string(msg.Result), `"protocolVersion":"`+mcpProtocol+`"`)

	time.Sleep(300 * time.Millisecond) // longer than retry: 200, to catch a re-send
	posts := m.stats().requests("/mcp")
	require.Len(t, posts, 1, "the POST is not re-sent after the server ended it")
	require.Equal(t, "initialize", posts[0].RPC)
}

// TestMCPStreamableToolCallPolling: the server closes the tools/call POST
// stream at once (closeSSEStream, polling mode); the client resumes with a
// GET carrying Last-Event-ID and the session id, and the result arrives
// through it. The tool runs exactly once.
func TestMCPStreamableToolCallPolling(t *testing.T) {
	mcpToolCallResumed(t, "slow", "done 1", nil)
}

// TestMCPStreamableToolCallDroppedSocket: the POST stream's socket is
// destroyed while the tool runs; the client does not send the POST again
// but resumes with a GET, and the result arrives through it.
func TestMCPStreamableToolCallDroppedSocket(t *testing.T) {
	mcpToolCallResumed(t, "held", "released 1", func(m *mcpServer, sid string) {
		m.admin(t, "drop-post", sid, "")
		waitFor(t, 5*time.Second, func() bool { return len(m.gets(t)) >= 1 })
		httpDo(t, http.MethodPost, m.base+"/admin/release", "", http.StatusOK)
	})
}

// mcpToolCallResumed calls tool over a finite POST stream with Client.Resume
// set, runs disrupt after the priming event, and checks that the result
// (text want) arrives, that the POST was sent once and the tool ran once.
func mcpToolCallResumed(t *testing.T, tool, want string, disrupt func(m *mcpServer, sid string)) {
	m := startMCP(t)
	sid := m.session(t)
	c, at := fastClient(sse.Bearer(&tokenSeq{tokens: []string{"good"}}))
	var mu sync.Mutex
	var resumes []string
	c.Resume = func(ctx context.Context, lastEventID string) (*http.Request, error) {
		mu.Lock()
		resumes = append(resumes, lastEventID)
		mu.Unlock()
		return m.getRequest(t, sid).WithContext(ctx), nil
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, m.base+"/mcp",
		strings.NewReader(rpcCall(7, "tools/call", map[string]any{"name": tool, "arguments": map[string]any{}})))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("MCP-Protocol-Version", mcpProtocol)
	s, err := c.Do(req)
	require.NoError(t, err)
	defer s.Close()

	var result *rpcMessage
	var primingID string
	for result == nil {
		ev := collect(t, s, 1, 10*time.Second)[0]
		if ev.Data == "" { // a priming event: no message, but its id resumes
			if primingID == "" {
				primingID = ev.ID
				if disrupt != nil {
					disrupt(m, sid)
				}
			}
			continue
		}
		msg := parseRPC(t, ev)
		if msg.ID != nil && *msg.ID == 7 {
			result = &msg
		}
	}
	s.Close()
	require.Equal(t, want, toolText(t, result.Result))
	require.NotEmpty(t, primingID)

	time.Sleep(500 * time.Millisecond) // a re-sent POST would run the tool again by now
	st := m.stats()
	require.Equal(t, 1, st.ToolRuns[tool], "the tool ran exactly once")
	var posts, gets []mcpRequest
	for _, r := range st.requests("/mcp") {
		switch {
		case r.Method == http.MethodPost && r.RPC == "tools/call":
			posts = append(posts, r)
		case r.Method == http.MethodGet:
			gets = append(gets, r)
		}
	}
	require.Len(t, posts, 1, "the POST was sent once")
	require.NotEmpty(t, gets, "resumed with a GET")
	require.Equal(t, primingID, gets[0].LastEventID)
	require.Equal(t, sid, gets[0].SessionID)
	require.Equal(t, "Bearer good", gets[0].Authorization)
	mu.Lock()
	require.NotEmpty(t, resumes)
	require.Equal(t, primingID, resumes[0])
	mu.Unlock()
	for _, a := range at.all() {
		require.False(t, a.Final && a.Err != nil, "no final error: %v", a.Err)
	}
}

// TestMCPStreamableSsecat: ssecat -d sends initialize once and exits 0
// when the server ends the POST stream.
func TestMCPStreamableSsecat(t *testing.T) {
	m := startMCP(t)
	res := runSsecat(t, []string{"SSE_TOKEN=good"}, -1, "-q",
		"-H", "Accept: application/json, text/event-stream",
		"-d", rpcCall(1, "initialize", initParams), m.base+"/mcp")
	require.Equal(t, 0, res.Exit, "stderr: %s", res.Stderr)
	require.Len(t, res.Events, 2)
	require.Equal(t, "", res.Events[0].Data)
	require.Contains(t, res.Events[1].Data, `"id":1`)
	require.Len(t, m.stats().requests("/mcp"), 1, "sent once")
}

// TestMCPRefusalBody: a 403's status, headers and body reach the caller as
// fields of the error, never in its text.
func TestMCPRefusalBody(t *testing.T) {
	m := startMCP(t)
	c, at := fastClient(sse.Bearer(&tokenSeq{tokens: []string{"noscope"}}))
	_, err := c.Do(m.initRequest(t))
	var st *sse.StatusError
	require.ErrorAs(t, err, &st)
	require.Equal(t, http.StatusForbidden, st.Code)
	require.Contains(t, st.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`)
	require.Contains(t, string(st.Body), `"insufficient_scope"`)
	require.NotContains(t, err.Error(), "insufficient_scope")
	all := at.all()
	require.Equal(t, http.StatusForbidden, all[len(all)-1].StatusCode)
}
