package main

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRun runs the program twice against a server that numbers its events
// after the request's Last-Event-ID: the second run must resume where the
// first stopped.
func TestRun(t *testing.T) {
	var (
		mu  sync.Mutex
		ids []string // Last-Event-ID of each request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last := r.Header.Get("Last-Event-ID")
		mu.Lock()
		ids = append(ids, last)
		mu.Unlock()
		n, _ := strconv.Atoi(last)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := n + 1; i <= n+10; i++ {
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
		}
	}))
	defer srv.Close()

	state := filepath.Join(t.TempDir(), "last-event-id")
	for name, v := range map[string]string{"url": srv.URL, "state": state, "n": "3"} {
		require.NoError(t, flag.Set(name, v))
	}
	t.Cleanup(func() { stdout = os.Stdout })
	for i, want := range []string{
		"id=1 data=event 1\nid=2 data=event 2\nid=3 data=event 3\n",
		"resuming after event 3\nid=4 data=event 4\nid=5 data=event 5\nid=6 data=event 6\n",
	} {
		var out bytes.Buffer
		stdout = &out
		err := run()
		require.NoError(t, err, "run %d: %v", i+1, err)
		assert.Equal(t, want, out.String(), "run %d printed:\n%s\nwant:\n%s", i+1, out.String(), want)
	}
	b, err := os.ReadFile(state)
	assert.NoError(t, err, "state file holds %q (%v), want \"6\\n\"", b, err)
	assert.Equal(t, "6\n", string(b), "state file holds %q (%v), want \"6\\n\"", b, err)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"", "3"}, ids, "requests carried Last-Event-ID %q, want [\"\" \"3\"]", ids)
	entries, _ := os.ReadDir(filepath.Dir(state))
	assert.Len(t, entries, 1, "%d files in the state directory, want 1 (no temporary file left)", len(entries))
}
