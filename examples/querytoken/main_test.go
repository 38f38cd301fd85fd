package main

import (
	"bytes"
	"flag"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ssekit/sse/internal/authserver"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func setFlags(t *testing.T, flags map[string]string) {
	t.Helper()
	for name, v := range flags {
		if err := flag.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRun reads four events over two connections, each with a token of
// its own.
func TestRun(t *testing.T) {
	auth := authserver.New(authserver.Options{Interval: 5 * time.Millisecond, Events: 2, Retry: 10 * time.Millisecond})
	srv := httptest.NewServer(auth)
	defer srv.Close()
	tok, _ := auth.IssueToken()

	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	t.Setenv("SSE_TOKEN", tok)
	setFlags(t, map[string]string{"url": srv.URL + "/events/token", "token-url": srv.URL + "/query-token", "n": "4"})
	if err := run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := "id=1 type=message data=event 1\nid=2 type=message data=event 2\n" +
		"id=3 type=message data=event 3\nid=4 type=message data=event 4\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if st := auth.Stats(); st.QueryTokensIssued != 2 || st.StreamsOpened != 2 {
		t.Errorf("stats %+v: want 2 query tokens and 2 streams", st)
	}
}

// TestRunRefused checks that a refused bearer token is a clean error that
// does not show the token.
func TestRunRefused(t *testing.T) {
	srv := httptest.NewServer(authserver.New(authserver.Options{}))
	defer srv.Close()

	t.Setenv("SSE_TOKEN", "revoked-canary")
	setFlags(t, map[string]string{"url": srv.URL + "/events/token", "token-url": srv.URL + "/query-token", "n": "1"})
	err := run()
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("run: %v; want an error with the endpoint's 401", err)
	}
	if strings.Contains(err.Error(), "revoked-canary") {
		t.Errorf("the error shows the token: %v", err)
	}
}
