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

// TestRun reads four events across a server-forced reconnect, with a
// token the test's own token endpoint issues; the reconnect reuses it.
func TestRun(t *testing.T) {
	auth := authserver.New(authserver.Options{
		ClientID: "example", ClientSecret: "s3cret-canary",
		Interval: 5 * time.Millisecond, Events: 2, Retry: 10 * time.Millisecond,
	})
	srv := httptest.NewServer(auth)
	defer srv.Close()

	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	t.Setenv("SSE_CLIENT_SECRET", "s3cret-canary")
	for name, v := range map[string]string{
		"url": srv.URL + "/events/bearer", "token-url": srv.URL + "/token",
		"client-id": "example", "n": "4",
	} {
		require.NoError(t, flag.Set(name, v))
	}
	err := run()
	require.NoError(t, err, "run: %v", err)
	want := "id=1 type=message data=event 1\nid=2 type=message data=event 2\n" +
		"id=3 type=message data=event 3\nid=4 type=message data=event 4\n"
	assert.Equal(t, want, out.String(), "output:\n%s\nwant:\n%s", out.String(), want)
	st := auth.Stats()
	assert.Equal(t, 1, st.TokensIssued, "stats %+v: want 1 token and 2 streams", st)
	assert.Equal(t, 2, st.StreamsOpened, "stats %+v: want 1 token and 2 streams", st)
}

// TestRunWrongSecret checks that a refused client secret ends the program
// with an error that does not show the secret.
func TestRunWrongSecret(t *testing.T) {
	auth := authserver.New(authserver.Options{ClientID: "example", ClientSecret: "right"})
	srv := httptest.NewServer(auth)
	defer srv.Close()

	t.Setenv("SSE_CLIENT_SECRET", "wrong-canary")
	for name, v := range map[string]string{
		"url": srv.URL + "/events/bearer", "token-url": srv.URL + "/token",
		"client-id": "example", "n": "1",
	} {
		require.NoError(t, flag.Set(name, v))
	}
	err := run()
	require.Error(t, err, "run succeeded with a wrong client secret")
	assert.NotContains(t, err.Error(), "wrong-canary", "the error shows the secret: %v", err)
	assert.Contains(t, err.Error(), "401", "error %q does not give the token endpoint's status", err)
}
