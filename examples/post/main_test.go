package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRun serves a chat-completion stream that first answers 503: the
// program must retry with the same JSON body and API key, and print the
// streamed answer.
func TestRun(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		var req request
		// The handler runs on the server's goroutine: assert, never require.
		assert.Equal(t, http.MethodPost, r.Method, "call %d: method", n)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"), "call %d: Content-Type", n)
		assert.Equal(t, "Bearer key-canary", r.Header.Get("Authorization"), "call %d: Authorization", n)
		err := json.NewDecoder(r.Body).Decode(&req)
		assert.NoError(t, err, "call %d: body %+v", n, req)
		assert.Equal(t, "tiny", req.Model, "call %d: body %+v", n, req)
		assert.True(t, req.Stream, "call %d: body %+v", n, req)
		if assert.Len(t, req.Messages, 1, "call %d: body %+v", n, req) {
			assert.Equal(t, "hello", req.Messages[0].Content, "call %d: body %+v", n, req)
		}
		if n == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		for _, piece := range []string{"Hello", ", ", "world", "!"} {
			b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"delta": map[string]string{"content": piece}}}})
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	defer srv.Close()

	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	t.Setenv("SSE_API_KEY", "key-canary")
	for name, v := range map[string]string{"url": srv.URL + "/v1/chat", "model": "tiny", "prompt": "hello"} {
		require.NoError(t, flag.Set(name, v))
	}
	err := run()
	require.NoError(t, err, "run: %v", err)
	assert.Equal(t, "Hello, world!\n", out.String(), "output %q, want %q", out.String(), "Hello, world!\n")
	n := calls.Load()
	assert.Equal(t, int32(2), n, "%d calls, want 2 (a 503, then the stream)", n)
}

// TestRunBadKey checks that a refused API key is a clean error without
// the key.
func TestRunBadKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()

	t.Setenv("SSE_API_KEY", "bad-canary")
	require.NoError(t, flag.Set("url", srv.URL))
	err := run()
	require.Error(t, err, "run: %v; want a 401 error", err)
	require.Contains(t, err.Error(), "401", "run: %v; want a 401 error", err)
	assert.NotContains(t, err.Error(), "bad-canary", "the error shows the key: %v", err)
}

// TestRunEndsWithoutDone checks that the program ends when the server ends
// the stream without a [DONE] event, and that the POST is sent once.
func TestRunEndsWithoutDone(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"delta": map[string]string{"content": "Hello"}}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
	}))
	defer srv.Close()

	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	require.NoError(t, flag.Set("url", srv.URL))
	err := run()
	require.NoError(t, err, "run: %v", err)
	assert.Equal(t, "Hello\n", out.String(), "output %q, want %q (printed once: the POST is not sent again)", out.String(), "Hello\n")
	n := calls.Load()
	assert.Equal(t, int32(1), n, "%d calls, want 1", n)
}

// TestRunShowsAPIError checks that a 400's JSON error message is shown.
func TestRunShowsAPIError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"message":"model tiny does not exist"}}`)
	}))
	defer srv.Close()
	require.NoError(t, flag.Set("url", srv.URL))
	err := run()
	require.Error(t, err, "run: %v; want the 400 and the API's message", err)
	require.Contains(t, err.Error(), "400", "run: %v; want the 400 and the API's message", err)
	require.Contains(t, err.Error(), "model tiny does not exist", "run: %v; want the 400 and the API's message", err)
}
