package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sseConn is one connection the test's SSE server accepted.
type sseConn struct {
	header http.Header
	method string
	send   chan string
}

// callback is one callback the service posted.
type callback struct {
	path string
	msg  message
}

// TestServiceStream drives one stream through the service as the harness
// does: create it, read the callbacks (comments and events in stream order,
// numbered from 1), restart it, close it.
func TestServiceStream(t *testing.T) {
	conns := make(chan sseConn, 4)
	sseSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := sseConn{header: r.Header.Clone(), method: r.Method, send: make(chan string, 4)}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		conns <- c
		for {
			select {
			case s := <-c.send:
				_, _ = io.WriteString(w, s)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(sseSrv.Close)

	callbacks := make(chan callback, 16)
	cbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		callbacks <- callback{path: r.URL.Path, msg: m}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(cbSrv.Close)

	svcURL := startService(t) // stops before the servers above: its cleanup runs first
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.Transport.(*http.Transport).CloseIdleConnections()

	// The status resource lists the capabilities.
	resp, err := hc.Get(svcURL + "/")
	require.NoError(t, err)
	var status struct {
		Capabilities []string `json:"capabilities"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&status))
	resp.Body.Close()
	require.Contains(t, status.Capabilities, "comments")
	require.Contains(t, status.Capabilities, "restart")

	// Streams and callbacks go to loopback hosts only.
	resp = postJSON(t, hc, svcURL+"/", map[string]any{"streamUrl": "http://example.com/", "callbackUrl": cbSrv.URL})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	resp = postJSON(t, hc, svcURL+"/", map[string]any{
		"streamUrl":      sseSrv.URL,
		"callbackUrl":    cbSrv.URL + "/cb",
		"initialDelayMs": 0,
		"lastEventId":    "seed",
		"headers":        map[string]string{"x-test": "yes"},
	})
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	streamRes := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(streamRes, svcURL+"/streams/"), streamRes)

	c1 := awaitConn(t, conns)
	require.Equal(t, http.MethodGet, c1.method)
	require.Equal(t, "seed", c1.header.Get("Last-Event-ID"))
	require.Equal(t, "yes", c1.header.Get("X-Test"))

	// Comments and events in one write come back in stream order.
	c1.send <- ":hello\nid: 1\ndata: one\n\n: between\nevent: greet\ndata: two\n\n"
	requireCallback(t, callbacks, "/cb/1", message{Kind: "comment", Comment: "hello"})
	requireCallback(t, callbacks, "/cb/2", message{Kind: "event", Event: &eventMessage{Type: "message", Data: "one", ID: "1"}})
	requireCallback(t, callbacks, "/cb/3", message{Kind: "comment", Comment: "between"})
	requireCallback(t, callbacks, "/cb/4", message{Kind: "event", Event: &eventMessage{Type: "greet", Data: "two", ID: "1"}})

	// restart cuts the connection; the client reconnects with the last
	// event ID and reports no error for the cut.
	resp = postJSON(t, hc, streamRes, map[string]any{"command": "restart"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	c2 := awaitConn(t, conns)
	require.Equal(t, "1", c2.header.Get("Last-Event-ID"))
	c2.send <- "data: three\n\n"
	requireCallback(t, callbacks, "/cb/5", message{Kind: "event", Event: &eventMessage{Type: "message", Data: "three", ID: "1"}})

	resp = postJSON(t, hc, streamRes, map[string]any{"command": "dance"})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	require.Equal(t, http.StatusNoContent, doDelete(t, hc, streamRes))
	require.Equal(t, http.StatusNotFound, doDelete(t, hc, streamRes))
	resp = postJSON(t, hc, streamRes, map[string]any{"command": "restart"})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	select {
	case cb := <-callbacks:
		require.Fail(t, fmt.Sprintf("unexpected callback %s: %+v", cb.path, cb.msg))
	default:
	}
}

// startService runs the service on 127.0.0.1 until the test ends.
func startService(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	svc := newService(ln.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return svc.base
}

func postJSON(t *testing.T, hc *http.Client, url string, body any) *http.Response {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp, err := hc.Post(url, "application/json", strings.NewReader(string(b)))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func doDelete(t *testing.T, hc *http.Client, url string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, url, nil)
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func awaitConn(t *testing.T, conns <-chan sseConn) sseConn {
	t.Helper()
	select {
	case c := <-conns:
		return c
	case <-time.After(5 * time.Second):
		require.Fail(t, "no connection to the SSE server")
		return sseConn{}
	}
}

func requireCallback(t *testing.T, callbacks <-chan callback, path string, want message) {
	t.Helper()
	select {
	case cb := <-callbacks:
		require.Equal(t, path, cb.path)
		require.Equal(t, want, cb.msg)
	case <-time.After(5 * time.Second):
		require.Fail(t, fmt.Sprintf("no callback %s", path))
	}
}

// TestServiceQuit: DELETE / stops the service, as the harness's
// -stop-service-at-end asks.
func TestServiceQuit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	svc := newService(ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- svc.serve(context.Background(), ln) }()
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.Transport.(*http.Transport).CloseIdleConnections()
	require.Equal(t, http.StatusNoContent, doDelete(t, hc, svc.base+"/"))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		require.Fail(t, "the service did not stop")
	}
}
