package main

import (
	"bytes"
	"flag"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/ssekit/sse/internal/authserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func setFlags(t *testing.T, flags map[string]string) {
	t.Helper()
	for name, v := range flags {
		require.NoError(t, flag.Set(name, v))
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
	err := run()
	require.NoError(t, err, "run: %v", err)
	want := "id=1 type=message data=event 1\nid=2 type=message data=event 2\n" +
		"id=3 type=message data=event 3\nid=4 type=message data=event 4\n"
	assert.Equal(t, want, out.String(), "output:\n%s\nwant:\n%s", out.String(), want)
	st := auth.Stats()
	assert.Equal(t, 2, st.QueryTokensIssued, "stats %+v: want 2 query tokens and 2 streams", st)
	assert.Equal(t, 2, st.StreamsOpened, "stats %+v: want 2 query tokens and 2 streams", st)
}

// TestRunRefused checks that a refused bearer token is a clean error that
// does not show the token.
func TestRunRefused(t *testing.T) {
	srv := httptest.NewServer(authserver.New(authserver.Options{}))
	defer srv.Close()

	t.Setenv("SSE_TOKEN", "revoked-canary")
	setFlags(t, map[string]string{"url": srv.URL + "/events/token", "token-url": srv.URL + "/query-token", "n": "1"})
	err := run()
	require.Error(t, err, "run: %v; want an error with the endpoint's 401", err)
	require.Contains(t, err.Error(), "401", "run: %v; want an error with the endpoint's 401", err)
	assert.NotContains(t, err.Error(), "revoked-canary", "the error shows the token: %v", err)
}
