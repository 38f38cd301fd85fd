package interop

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekit/sse"
)

// mcpServer is node/mcp.js: the official TypeScript MCP SDK behind express
// with requireBearerAuth.
type mcpServer struct {
	t    *testing.T
	base string
	proc *proc
}

func startMCP(t *testing.T) *mcpServer {
	t.Helper()
	node := requireNodeModules(t, "@modelcontextprotocol/sdk")
	port := freePort(t)
	m := &mcpServer{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	m.proc = startProc(t, node, []string{"node/mcp.js", strconv.Itoa(port)}, nil)
	waitPort(t, port, m.proc)
	return m
}

// mcpRequest is one request the MCP server saw, with the status it answered.
type mcpRequest struct {
	Method        string
	Path          string
	Authorization string
	LastEventID   string
	SessionID     string
	RPC           string
	Status        int
}

type mcpStats struct {
	Requests []mcpRequest
	ToolRuns map[string]int
}

func (m *mcpServer) stats() mcpStats {
	m.t.Helper()
	var s mcpStats
	require.NoError(m.t, decodeJSONString(httpDo(m.t, http.MethodGet, m.base+"/admin/stats", "", http.StatusOK), &s))
	return s
}

// requests returns the requests to path.
func (s mcpStats) requests(path string) []mcpRequest {
	var out []mcpRequest
	for _, r := range s.Requests {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// rpcMessage is a JSON-RPC message as the tests need it.
type rpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      *int            `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

func rpcCall(id int, method string, params any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	return string(b)
}

func rpcNotify(method string) string {
	return `{"jsonrpc":"2.0","method":"` + method + `"}`
}

var initParams = map[string]any{
	"protocolVersion": "2025-11-25",
	"capabilities":    map[string]any{},
	"clientInfo":      map[string]any{"name": "ssekit-interop", "version": "1"},
}

// toolText returns the text of a tools/call result's first content item.
func toolText(t *testing.T, result json.RawMessage) string {
	t.Helper()
	var r struct {
		Content []struct{ Text string }
	}
	require.NoError(t, json.Unmarshal(result, &r))
	require.NotEmpty(t, r.Content)
	return r.Content[0].Text
}

func parseRPC(t *testing.T, ev sse.Event) rpcMessage {
	t.Helper()
	var msg rpcMessage
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &msg), "event data %q", ev.Data)
	return msg
}

func TestMCPLegacySSE(t *testing.T) {
	m := startMCP(t)
	c, _ := fastClient(sse.Bearer(&tokenSeq{tokens: []string{"good"}}))
	s, err := c.Connect(t.Context(), m.base+"/sse")
	require.NoError(t, err)
	defer s.Close()

	ep := collect(t, s, 1, 5*time.Second)[0]
	require.Equal(t, "endpoint", ep.Type)
	require.True(t, strings.HasPrefix(ep.Data, "/messages?sessionId="), "endpoint %q", ep.Data)

	post := func(body string) {
		httpDo(t, http.MethodPost, m.base+ep.Data, body, http.StatusAccepted,
			"Authorization", "Bearer good", "Content-Type", "application/json")
	}
	post(rpcCall(1, "initialize", initParams))
	ev := collect(t, s, 1, 5*time.Second)[0]
	require.Equal(t, "message", ev.Type)
	msg := parseRPC(t, ev)
	require.Equal(t, 1, *msg.ID)
	require.Contains(t, string(msg.Result), `"name":"ssekit-interop"`)

	post(rpcNotify("notifications/initialized"))
	post(rpcCall(2, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "hi"}}))
	ev = collect(t, s, 1, 5*time.Second)[0]
	require.Equal(t, "message", ev.Type)
	msg = parseRPC(t, ev)
	require.Equal(t, 2, *msg.ID)
	require.Equal(t, "hi", toolText(t, msg.Result))

	st := m.stats()
	require.Equal(t, 1, st.ToolRuns["echo"])
	require.Len(t, st.requests("/sse"), 1, "one GET, no reconnect")
	require.Len(t, st.requests("/messages"), 3)
}

func TestMCPLegacySSESsecat(t *testing.T) {
	m := startMCP(t)
	res := runSsecat(t, []string{"SSE_TOKEN=good"}, 1, "-q", m.base+"/sse")
	require.Equal(t, 0, res.Exit, "stderr: %s", res.Stderr)
	require.Len(t, res.Events, 1)
	require.Equal(t, "endpoint", res.Events[0].Type)
	require.True(t, strings.HasPrefix(res.Events[0].Data, "/messages?sessionId="))
	reqs := m.stats().requests("/sse")
	require.Len(t, reqs, 1)
	require.Equal(t, "Bearer good", reqs[0].Authorization)

	t.Run("missing scope", func(t *testing.T) {
		res := runSsecat(t, []string{"SSE_TOKEN=noscope"}, -1, m.base+"/sse")
		require.Equal(t, 1, res.Exit)
		require.Contains(t, res.Stderr, "403")
		require.NotContains(t, res.Stderr, "noscope")
	})
}

// mcpInitRequest is a Streamable HTTP initialize POST.
func (m *mcpServer) initRequest(t *testing.T) *http.Request {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, m.base+"/mcp", strings.NewReader(rpcCall(1, "initialize", initParams)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	return req
}

func TestMCPMissingScopeIs403(t *testing.T) {
	m := startMCP(t)
	for _, path := range []string{"/mcp", "/sse"} {
		t.Run(path, func(t *testing.T) {
			before := len(m.stats().requests(path))
			ts := &tokenSeq{tokens: []string{"noscope"}}
			c, at := fastClient(sse.Bearer(ts))
			var err error
			if path == "/mcp" {
				_, err = c.Do(m.initRequest(t))
			} else {
				_, err = c.Connect(t.Context(), m.base+path)
			}
			var pe *sse.PermanentError
			require.ErrorAs(t, err, &pe)
			var st *sse.StatusError
			require.ErrorAs(t, err, &st)
			require.Equal(t, http.StatusForbidden, st.Code)
			reqs := m.stats().requests(path)[before:]
			require.Len(t, reqs, 1, "final at once: no retry, no refresh")
			require.Equal(t, http.StatusForbidden, reqs[0].Status)
			require.Equal(t, 1, ts.Calls())
			all := at.all()
			require.True(t, all[len(all)-1].Final)
		})
	}
}

func TestMCPMissingTokenIs401(t *testing.T) {
	m := startMCP(t)
	for _, path := range []string{"/mcp", "/sse"} {
		t.Run(path, func(t *testing.T) {
			before := len(m.stats().requests(path))
			c, _ := fastClient(nil)
			var err error
			if path == "/mcp" {
				_, err = c.Do(m.initRequest(t))
			} else {
				_, err = c.Connect(t.Context(), m.base+path)
			}
			var ae *sse.AuthError
			require.ErrorAs(t, err, &ae)
			var pe *sse.PermanentError
			require.ErrorAs(t, err, &pe)
			reqs := m.stats().requests(path)[before:]
			require.Len(t, reqs, 1, "no credentials to refresh: one request")
			require.Equal(t, http.StatusUnauthorized, reqs[0].Status)
			require.Empty(t, reqs[0].Authorization)
		})
	}
	t.Run("invalid token is refreshed once", func(t *testing.T) {
		before := len(m.stats().requests("/sse"))
		ts := &tokenSeq{tokens: []string{"revoked", "good"}}
		c, _ := fastClient(sse.Bearer(ts))
		s, err := c.Connect(t.Context(), m.base+"/sse")
		require.NoError(t, err)
		defer s.Close()
		require.Equal(t, "endpoint", collect(t, s, 1, 5*time.Second)[0].Type)
		reqs := m.stats().requests("/sse")[before:]
		require.Len(t, reqs, 2)
		require.Equal(t, []string{"Bearer revoked", "Bearer good"}, []string{reqs[0].Authorization, reqs[1].Authorization})
		require.Equal(t, http.StatusUnauthorized, reqs[0].Status)
	})
}
