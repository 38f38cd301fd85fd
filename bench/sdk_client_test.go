package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	sse "github.com/ssekit/sse"
)

// sdkClients returns the SDK's entry for BenchmarkE2E.
func sdkClients() []client { return []client{{name: "sdk", run: e2eSDK}} }

// sdkIdlers returns the SDK's entry for BenchmarkIdle.
func sdkIdlers() []idler { return []idler{{name: "sdk", open: idleSDK}} }

// e2eSDK reads events until it has as many as the workload holds, then
// closes the stream (the SDK would otherwise reconnect at the end of the
// stream, as an SSE client should).
func e2eSDK(ctx context.Context, url string, hc *http.Client, w *Workload, s *sink) error {
	st, err := (&sse.Client{HTTPClient: hc}).Connect(ctx, url)
	if err != nil {
		return err
	}
	for ev := range st.Events() {
		s.add(ev.Type, ev.Data, ev.ID)
		if s.n == len(w.Events) {
			break
		}
	}
	_ = st.Close()
	return st.Err()
}

func idleSDK(ctx context.Context, url string, hc *http.Client) (func(), <-chan struct{}, error) {
	st, err := (&sse.Client{HTTPClient: hc}).Connect(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	ready, done := make(chan error, 1), make(chan struct{})
	go func() { // the application's consumer
		defer close(done)
		first := true
		for range st.Events() {
			if first {
				first = false
				ready <- nil
			}
		}
		if first {
			ready <- errors.Join(fmt.Errorf("sdk: stream ended before the first event"), st.Err())
		}
	}()
	return func() { _ = st.Close() }, done, <-ready
}
