package sse_test

// This file holds the helpers shared by the chaos and load tests: servers
// and transports closed at the end of a test, a client that retries at
// once, a context bounded by the test, and the live heap.

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/ssekit/sse"
)

// newServer starts an httptest server that is closed at the end of t.
func newServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// noKeepAliveTransport returns a transport without keep-alive, so that the
// proxy's connection numbers are request numbers; its idle connections
// are closed at the end of t.
func noKeepAliveTransport(t testing.TB) *http.Transport {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// fastRetryClient retries after about a millisecond.
func fastRetryClient(tr http.RoundTripper) *sse.Client {
	return &sse.Client{
		HTTPClient:    &http.Client{Transport: tr},
		RetryDelay:    time.Millisecond,
		MinRetryDelay: time.Millisecond,
		MaxRetryDelay: 5 * time.Millisecond,
		IdleTimeout:   30 * time.Second,
	}
}

// testContext returns a context that ends with t, or after ten minutes, so that
// a client that never gives up cannot hang the suite (the full sizes under
// -race on a loaded 2-core machine take minutes).
func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// liveHeap returns the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
