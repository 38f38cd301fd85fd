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
			if err != nil {
				t.Error("no session cookie")
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
	if err := run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := "id=1 type=message data=event 1\nid=2 type=message data=event 2\n" +
		"id=3 type=message data=event 3\nid=4 type=message data=event 4\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if st := auth.Stats(); st.Logins != 2 || st.Expired != 1 {
		t.Errorf("stats %+v: want 2 logins and 1 stream ended by expiry", st)
	}
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
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("run: %v; want a 401 error", err)
	}
	if strings.Contains(err.Error(), "wrong-canary") {
		t.Errorf("the error shows the password: %v", err)
	}
}
