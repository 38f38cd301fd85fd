package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	sse "github.com/ssekit/sse"
)

// sdkClients returns the SDK's entries for BenchmarkE2E: the channel form
// (Connect + Stream.Events) and the pull form (Client.Events).
func sdkClients() []client {
	return []client{{name: "sdk", run: e2eSDK}, {name: "sdk-pull", run: e2eSDKPull}}
}

// sdkIdlers returns the SDK's entries for BenchmarkIdle.
func sdkIdlers() []idler {
	return []idler{{name: "sdk", open: idleSDK}, {name: "sdk-pull", open: idleSDKPull}}
}

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

// e2eSDKPull is e2eSDK with the pull form: the loop runs in this
// goroutine, and breaking out of it closes the connection.
func e2eSDKPull(ctx context.Context, url string, hc *http.Client, w *Workload, s *sink) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for ev, err := range (&sse.Client{HTTPClient: hc}).Events(req) {
		if err != nil {
			return err
		}
		s.add(ev.Type, ev.Data, ev.ID)
		if s.n == len(w.Events) {
			break
		}
	}
	return nil
}

// idleSDKPull holds an idle stream with the pull form: the application's
// one goroutine ranges over the events, and the SDK adds none.
func idleSDKPull(ctx context.Context, url string, hc *http.Client) (func(), <-chan struct{}, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	ready, done := make(chan error, 1), make(chan struct{})
	go func() { // the application's consumer
		defer close(done)
		first := true
		for _, err := range (&sse.Client{HTTPClient: hc}).Events(req) {
			if err != nil {
				break
			}
			if first {
				first = false
				ready <- nil
			}
		}
		if first {
			ready <- errors.New("sdk-pull: stream ended before the first event")
		}
	}()
	return cancel, done, <-ready
}
