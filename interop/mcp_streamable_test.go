package interop

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekit/sse"
)

const mcpProtocol = "2025-11-25"

// session opens a Streamable HTTP session with plain net/http (initialize,
// then notifications/initialized) and returns its Mcp-Session-Id.
func (m *mcpServer) session(t *testing.T) string {
	t.Helper()
	req := m.initRequest(t)
	req.Header.Set("Authorization", "Bearer good")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sid := resp.Header.Get("Mcp-Session-Id")
	require.NotEmpty(t, sid)
	// Read the SSE answer up to the initialize result.
	p := sse.NewParser(bufio.NewReader(resp.Body))
	for {
		ev, err := p.Next()
		require.NoError(t, err)
		if strings.Contains(ev.Data, `"id":1`) {
			break
		}
	}
	httpDo(t, http.MethodPost, m.base+"/mcp", rpcNotify("notifications/initialized"), http.StatusAccepted,
		"Authorization", "Bearer good", "Content-Type", "application/json", "Accept", "application/json, text/event-stream",
		"Mcp-Session-Id", sid, "MCP-Protocol-Version", mcpProtocol)
	return sid
}

// getRequest is the GET that opens (or, with Last-Event-ID, resumes) the
// session's notification stream.
func (m *mcpServer) getRequest(t *testing.T, sid string) *http.Request {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, m.base+"/mcp", nil)
	require.NoError(t, err)
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("MCP-Protocol-Version", mcpProtocol)
	return req
}

func (m *mcpServer) admin(t *testing.T, what, sid, text string) {
	t.Helper()
	httpDo(t, http.MethodPost, m.base+"/admin/"+what+"?session="+sid+"&text="+text, "", http.StatusOK)
}

// openGETs counts the GET /mcp requests that the server answered with 200.
func (m *mcpServer) gets(t *testing.T) []mcpRequest {
	var out []mcpRequest
	for _, r := range m.stats().requests("/mcp") {
		if r.Method == http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

// notification returns the data of a notifications/message event.
func notification(t *testing.T, ev sse.Event) string {
	t.Helper()
	msg := parseRPC(t, ev)
	require.Equal(t, "notifications/message", msg.Method)
	var p struct{ Data string }
	require.NoError(t, decodeJSONString(string(msg.Params), &p))
	return p.Data
}

// TestMCPStreamableGETResume: the GET notification stream of a Streamable
// HTTP session is resumed with Last-Event-ID after the server closes it
// (closeStandaloneSSEStream) and after its socket is dropped; notifications
// sent while it was down are replayed from the event store, none twice.
func TestMCPStreamableGETResume(t *testing.T) {
	m := startMCP(t)
	sid := m.session(t)
	c, _ := fastClient(sse.Bearer(&tokenSeq{tokens: []string{"good"}}))
	s, err := c.Do(m.getRequest(t, sid))
	require.NoError(t, err)
	defer s.Close()

	var got []sse.Event
	m.admin(t, "notify", sid, "n1")
	m.admin(t, "notify", sid, "n2")
	got = append(got, collect(t, s, 2, 5*time.Second)...)

	m.admin(t, "close-get", sid, "")
	m.admin(t, "notify", sid, "n3") // while the client is away, or just back
	waitFor(t, 5*time.Second, func() bool { return len(m.gets(t)) == 2 })
	got = append(got, collect(t, s, 1, 5*time.Second)...)
	m.admin(t, "notify", sid, "n4")
	got = append(got, collect(t, s, 1, 5*time.Second)...)

	m.admin(t, "drop-get", sid, "")
	m.admin(t, "notify", sid, "n5")
	waitFor(t, 5*time.Second, func() bool { return len(m.gets(t)) == 3 })
	got = append(got, collect(t, s, 1, 5*time.Second)...)
	m.admin(t, "notify", sid, "n6")
	got = append(got, collect(t, s, 1, 5*time.Second)...)

	var texts []string
	for _, ev := range got {
		texts = append(texts, notification(t, ev))
		require.NotEmpty(t, ev.ID)
	}
	require.Equal(t, []string{"n1", "n2", "n3", "n4", "n5", "n6"}, texts, "every notification once, in order")
	gets := m.gets(t)
	require.Len(t, gets, 3)
	require.Equal(t, []string{"", got[1].ID, got[3].ID}, []string{gets[0].LastEventID, gets[1].LastEventID, gets[2].LastEventID})
	for _, g := range gets {
		require.Equal(t, sid, g.SessionID)
		require.Equal(t, "Bearer good", g.Authorization)
	}
}
