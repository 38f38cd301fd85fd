package main

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
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

// TestRun logs in, reads two events, has the server revoke the session
// (the server then sends auth_expired and closes), and reads two more
// events after the program has logged in again and resumed.
func TestRun(t *testing.T) {
	auth := authserver.New(authserver.Options{Password: "pw-canary", Interval: 5 * time.Millisecond, Retry: 10 * time.Millisecond})
	var revoked atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// After the first stream has sent event 2, revoke its session.
		if r.URL.Path == "/events/cookie" && !revoked.Swap(true) {
			c, err := r.Cookie("session")
			if !assert.NoError(t, err, "no session cookie") {
				return
			}
			auth.ServeHTTP(&revoker{ResponseWriter: w, after: "id: 2\n", revoke: func() { auth.Revoke(c.Value) }}, r)
			return
		}
		auth.ServeHTTP(w, r)
	}))
	defer srv.Close()

	var out bytes.Buffer
	stdout = &out
	t.Cleanup(func() { stdout = os.Stdout })
	t.Setenv("SSE_PASSWORD", "pw-canary")
	setFlags(t, map[string]string{"url": srv.URL + "/events/cookie", "login-url": srv.URL + "/login", "n": "4"})
	err := run()
	require.NoError(t, err, "run: %v", err)
	want := "id=1 type=message data=event 1\nid=2 type=message data=event 2\n" +
		"id=3 type=message data=event 3\nid=4 type=message data=event 4\n"
	assert.Equal(t, want, out.String(), "output:\n%s\nwant:\n%s", out.String(), want)
	st := auth.Stats()
	assert.Equal(t, 2, st.Logins, "stats %+v: want 2 logins and 1 stream ended by expiry", st)
	assert.Equal(t, 1, st.Expired, "stats %+v: want 2 logins and 1 stream ended by expiry", st)
}

// revoker calls revoke once a write starting with after has gone out.
type revoker struct {
	http.ResponseWriter
	after  string
	revoke func()
}

func (rw *revoker) Write(p []byte) (int, error) {
	n, err := rw.ResponseWriter.Write(p)
	if strings.HasPrefix(string(p), rw.after) {
		rw.revoke()
	}
	return n, err
}

func (rw *revoker) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// TestRunWrongPassword checks that a refused login is a clean error that
// does not show the password.
func TestRunWrongPassword(t *testing.T) {
	srv := httptest.NewServer(authserver.New(authserver.Options{Password: "right"}))
	defer srv.Close()

	t.Setenv("SSE_PASSWORD", "wrong-canary")
	setFlags(t, map[string]string{"url": srv.URL + "/events/cookie", "login-url": srv.URL + "/login", "n": "1"})
	err := run()
	require.Error(t, err, "run: %v; want a 401 error", err)
	require.Contains(t, err.Error(), "401", "run: %v; want a 401 error", err)
	assert.NotContains(t, err.Error(), "wrong-canary", "the error shows the password: %v", err)
}
