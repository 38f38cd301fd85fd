package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

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
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			r.Header.Get("Authorization") != "Bearer key-canary" {
			t.Errorf("call %d: %s with Content-Type %q, Authorization %q", n, r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"))
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "tiny" || !req.Stream ||
			len(req.Messages) != 1 || req.Messages[0].Content != "hello" {
			t.Errorf("call %d: body %+v (%v)", n, req, err)
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
		if err := flag.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if out.String() != "Hello, world!\n" {
		t.Errorf("output %q, want %q", out.String(), "Hello, world!\n")
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2 (a 503, then the stream)", n)
	}
}

// TestRunBadKey checks that a refused API key is a clean error without
// the key.
func TestRunBadKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()

	t.Setenv("SSE_API_KEY", "bad-canary")
	if err := flag.Set("url", srv.URL); err != nil {
		t.Fatal(err)
	}
	err := run()
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("run: %v; want a 401 error", err)
	}
	if strings.Contains(err.Error(), "bad-canary") {
		t.Errorf("the error shows the key: %v", err)
	}
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
	if err := flag.Set("url", srv.URL); err != nil {
		t.Fatal(err)
	}
	if err := run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if out.String() != "Hello\n" {
		t.Errorf("output %q, want %q (printed once: the POST is not sent again)", out.String(), "Hello\n")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

// TestRunShowsAPIError checks that a 400's JSON error message is shown.
func TestRunShowsAPIError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"message":"model tiny does not exist"}}`)
	}))
	defer srv.Close()
	if err := flag.Set("url", srv.URL); err != nil {
		t.Fatal(err)
	}
	err := run()
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "model tiny does not exist") {
		t.Fatalf("run: %v; want the 400 and the API's message", err)
	}
}
