package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	ld "github.com/launchdarkly/eventsource"
	r3 "github.com/r3labs/sse/v2"
	gosse "github.com/tmaxmax/go-sse"
	backoffv1 "gopkg.in/cenkalti/backoff.v1"
)

// client reads one whole stream from url through a library's public client
// API, stopping at the end of the stream without reconnecting.
type client struct {
	name     string
	baseline bool
	run      func(ctx context.Context, url string, hc *http.Client, w *Workload, s *sink) error
}

func clients() []client {
	return append(sdkClients(), []client{
		{name: "go-sse", run: e2eGoSSE},
		{name: "r3labs", run: e2eR3labs},
		{name: "launchdarkly", run: e2eLaunchDarkly},
		{name: "net-http", baseline: true, run: e2eRaw},
	}...)
}

func e2eGoSSE(ctx context.Context, url string, hc *http.Client, _ *Workload, s *sink) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	c := &gosse.Client{HTTPClient: hc, Backoff: gosse.Backoff{MaxRetries: -1}}
	conn := c.NewConnection(req)
	conn.SubscribeToAll(func(e gosse.Event) { s.add(e.Type, e.Data, e.LastEventID) })
	err = conn.Connect()
	// With retries off, the end of the stream is reported as a lost
	// connection wrapping io.EOF.
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func e2eR3labs(ctx context.Context, url string, hc *http.Client, _ *Workload, s *sink) error {
	c := r3.NewClient(url)
	c.Connection = hc
	c.ReconnectStrategy = &backoffv1.StopBackOff{}
	return c.SubscribeRawWithContext(ctx, func(m *r3.Event) {
		if s.check == nil {
			s.n++
			s.bytes += len(m.Data)
			return
		}
		s.add(string(m.Event), string(m.Data), string(m.ID))
	})
}

func e2eLaunchDarkly(ctx context.Context, url string, hc *http.Client, _ *Workload, s *sink) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	var streamErr error
	st, err := ld.SubscribeWithRequestAndOptions(req,
		ld.StreamOptionHTTPClient(hc),
		ld.StreamOptionErrorHandler(func(err error) ld.StreamErrorHandlerResult {
			if err != io.EOF {
				streamErr = err
			}
			return ld.StreamErrorHandlerResult{CloseNow: true}
		}))
	if err != nil {
		return err
	}
	// Events is closed after the error handler closed the stream at EOF.
	for ev := range st.Events {
		if s.check == nil {
			s.n++
			s.bytes += len(ev.Data())
			continue
		}
		s.add(ev.Event(), ev.Data(), ev.(ld.EventWithLastID).LastEventID())
	}
	st.Close()
	return streamErr
}

// e2eRaw is the baseline: the response body copied to io.Discard.
func e2eRaw(ctx context.Context, url string, hc *http.Client, w *Workload, s *sink) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if n != int64(len(w.Stream)) {
		return fmt.Errorf("net-http: %d bytes, want %d", n, len(w.Stream))
	}
	s.n, s.bytes = len(w.Events), w.DataBytes
	return nil
}

// streamHandler serves w.Stream as an event stream in 32 KiB writes, each
// flushed, then ends the response.
func streamHandler(w *Workload) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/event-stream")
		rw.Header().Set("Cache-Control", "no-cache")
		rw.WriteHeader(http.StatusOK)
		f := rw.(http.Flusher)
		for b := w.Stream; len(b) > 0; {
			n := min(len(b), 32<<10)
			if _, err := rw.Write(b[:n]); err != nil {
				return
			}
			f.Flush()
			b = b[n:]
		}
	})
}

// BenchmarkE2E reads the small workload (100k events) and the 1kib one
// (20k events of about 1 KiB of JSON) from an httptest server on loopback through each library's public client API: events/s,
// ns/event, allocs/event and B/event (the server's few allocations per
// 32 KiB write are included for every library alike). Correctness is
// verified once per library, untimed, as in BenchmarkParse.
func BenchmarkE2E(b *testing.B) {
	for _, w := range allWorkloads()[:2] {
		srv := httptest.NewServer(streamHandler(w))
		benchE2E(b, w, srv.URL)
		srv.Close()
	}
}

// benchE2E runs BenchmarkE2E's rows for one workload served at url.
func benchE2E(b *testing.B, w *Workload, url string) {
	for _, c := range clients() {
		name := "workload=" + w.Name + "/lib=" + c.name
		b.Run(name, func(b *testing.B) {
			hc := &http.Client{Transport: &http.Transport{}}
			defer hc.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			d := decoder{name: c.name, run: func(r io.Reader, w *Workload, s *sink) error {
				return c.run(ctx, url, hc, w, s)
			}}
			v := verifyOnce(b, b.Name(), d, Readers()[0], w)
			if v.dnf != "" {
				b.Skipf("DNF %s: %s", name, v.dnf)
			}
			if v.bad > 0 {
				b.Logf("MIS-DECODED %s: %d bad events; %s", name, v.bad, v.first)
			}
			b.SetBytes(int64(len(w.Stream)))
			runtime.GC()
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			for range b.N {
				s := sink{}
				err := c.run(ctx, url, hc, w, &s)
				if v.bad == 0 && (err != nil || s.n != len(w.Events) || s.bytes != w.DataBytes) {
					b.Fatalf("timed run differs from the verified one: %d events, %d bytes, err %v", s.n, s.bytes, err)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			reportPerEvent(b, len(w.Events), &ms0, &ms1)
			b.ReportMetric(float64(b.N)*float64(len(w.Events))/b.Elapsed().Seconds(), "events/s")
			if v.bad > 0 {
				b.ReportMetric(float64(v.bad), "bad-events")
			}
		})
	}
}
