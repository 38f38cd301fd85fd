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

// TestRun reads four events over two connections: each must buy its own
// ticket, and no ticket may be presented twice.
func TestRun(t *testing.T) {
	auth := authserver.New(authserver.Options{Interval: 5 * time.Millisecond, Events: 2, Retry: 10 * time.Millisecond})
	srv := httptest.NewServer(auth)
	defer srv.Close()
	tok, _ := auth.IssueToken()

	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	t.Setenv("SSE_TOKEN", tok)
	setFlags(t, map[string]string{"url": srv.URL + "/events/ticket", "ticket-url": srv.URL + "/ticket", "n": "4"})
	if err := run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := "id=1 type=message data=event 1\nid=2 type=message data=event 2\n" +
		"id=3 type=message data=event 3\nid=4 type=message data=event 4\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if st := auth.Stats(); st.TicketsIssued != 2 || st.StreamsOpened != 2 || st.TicketReplays != 0 {
		t.Errorf("stats %+v: want 2 tickets, 2 streams, no replay", st)
	}
}

// TestRunRefused checks that a ticket endpoint refusing the bearer token
// ends the program with an error that does not show the token.
func TestRunRefused(t *testing.T) {
	auth := authserver.New(authserver.Options{})
	srv := httptest.NewServer(auth)
	defer srv.Close()

	t.Setenv("SSE_TOKEN", "revoked-canary")
	setFlags(t, map[string]string{"url": srv.URL + "/events/ticket", "ticket-url": srv.URL + "/ticket", "n": "1"})
	err := run()
	if err == nil {
		t.Fatal("run succeeded with a refused token")
	}
	if strings.Contains(err.Error(), "revoked-canary") {
		t.Errorf("the error shows the token: %v", err)
	}
	if auth.Stats().StreamsOpened != 0 {
		t.Error("a stream opened without a ticket")
	}
}
