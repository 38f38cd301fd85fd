package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	ld "github.com/launchdarkly/eventsource"
	r3 "github.com/r3labs/sse/v2"
	gosse "github.com/tmaxmax/go-sse"
	backoffv1 "gopkg.in/cenkalti/backoff.v1"
)

// idleServerEnv makes the test binary act as the idle-stream server: the
// server runs in a child process so that its goroutines and buffers do not
// count against the clients being measured.
const idleServerEnv = "SSEBENCH_IDLE_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(idleServerEnv) == "1" {
		idleServerMain()
		return
	}
	os.Exit(m.Run())
}

// idleServerMain serves, on 127.0.0.1, event streams that send one event
// and then nothing until the client goes away. It prints its address and
// exits when its stdin is closed (the parent ended or died).
func idleServerMain() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "id: 1\ndata: ready\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})}
	go func() { _ = srv.Serve(ln) }()
	fmt.Println(ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	os.Exit(0)
}

// startIdleServer runs the child server and returns its URL and a stop
// function.
func startIdleServer(b *testing.B) (string, func()) {
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), idleServerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = stdin.Close()
		_ = cmd.Wait()
		b.Fatalf("idle server: %v", err)
	}
	return "http://" + strings.TrimSpace(line) + "/", func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}
}

// idler opens one idle stream through a library's public client API. It
// returns after the stream delivered its first event (or failed); a
// consumer goroutine, as an application would have, keeps receiving.
// stop ends the stream; done is closed once every goroutine the stream
// and its consumer started has finished with it.
type idler struct {
	name string
	open func(ctx context.Context, url string, hc *http.Client) (stop func(), done <-chan struct{}, err error)
}

func idlers() []idler {
	return append([]idler{{name: "net-http", open: idleRaw}}, append(sdkIdlers(), []idler{
		{name: "go-sse", open: idleGoSSE},
		{name: "r3labs", open: idleR3labs},
		{name: "launchdarkly", open: idleLaunchDarkly},
	}...)...)
}

// idleRaw is the baseline: a consumer goroutine reading the body into a
// 4 KiB buffer, the least any SSE reader can hold.
func idleRaw(ctx context.Context, url string, hc *http.Client) (func(), <-chan struct{}, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	ready, done := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		buf := make([]byte, 4096)
		first := true
		for {
			n, err := resp.Body.Read(buf)
			if first && (n > 0 || err != nil) {
				first = false
				ready <- err
			}
			if err != nil {
				return
			}
		}
	}()
	return cancel, done, <-ready
}

func idleGoSSE(ctx context.Context, url string, hc *http.Client) (func(), <-chan struct{}, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	c := &gosse.Client{HTTPClient: hc, Backoff: gosse.Backoff{MaxRetries: -1}}
	conn := c.NewConnection(req)
	ready, done := make(chan error, 1), make(chan struct{})
	var once sync.Once
	conn.SubscribeToAll(func(gosse.Event) { once.Do(func() { ready <- nil }) })
	go func() { // go-sse's Connect blocks its caller: this is the consumer
		defer close(done)
		err := conn.Connect()
		once.Do(func() { ready <- err })
	}()
	return cancel, done, <-ready
}

func idleR3labs(ctx context.Context, url string, hc *http.Client) (func(), <-chan struct{}, error) {
	ctx, cancel := context.WithCancel(ctx)
	c := r3.NewClient(url)
	c.Connection = hc
	c.ReconnectStrategy = &backoffv1.StopBackOff{}
	ready, done := make(chan error, 1), make(chan struct{})
	var once sync.Once
	go func() { // SubscribeWithContext blocks its caller: this is the consumer
		defer close(done)
		err := c.SubscribeRawWithContext(ctx, func(*r3.Event) { once.Do(func() { ready <- nil }) })
		once.Do(func() { ready <- err })
	}()
	return cancel, done, <-ready
}

func idleLaunchDarkly(ctx context.Context, url string, hc *http.Client) (func(), <-chan struct{}, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	st, err := ld.SubscribeWithRequestAndOptions(req,
		ld.StreamOptionHTTPClient(hc),
		ld.StreamOptionErrorHandler(func(error) ld.StreamErrorHandlerResult {
			return ld.StreamErrorHandlerResult{CloseNow: true}
		}))
	if err != nil {
		return nil, nil, err
	}
	ready, done := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(done)
		first := true
		for range st.Events { // closed once the stream goroutine has ended
			if first {
				first = false
				ready <- nil
			}
		}
		if first {
			ready <- fmt.Errorf("launchdarkly: stream closed before the first event")
		}
	}()
	return st.Close, done, <-ready
}

// idleStreams is how many idle streams each library holds open at once.
func idleStreams() int {
	if smoke() {
		return 100
	}
	return 1000
}

// BenchmarkIdle opens idleStreams() streams per library to a server in a
// child process, each with the one consumer goroutine an application would
// have, and reports, per stream, the heap plus stack in use (after a GC)
// and the goroutines, both relative to the same process before the
// streams were opened. net-http is the baseline: a raw request whose body
// a goroutine reads into a 4 KiB buffer. ns/op is the time to open, measure
// and close them all, and means little.
func BenchmarkIdle(b *testing.B) {
	url, stop := startIdleServer(b)
	defer stop()
	k := idleStreams()
	for _, id := range idlers() {
		b.Run(fmt.Sprintf("streams=%d/lib=%s", k, id.name), func(b *testing.B) {
			var heap, stack, gor float64
			for range b.N {
				h, s, g := idleOnce(b, id, url, k)
				heap += h
				stack += s
				gor += g
			}
			n := float64(b.N)
			b.ReportMetric(heap/n, "heap-B/stream")
			b.ReportMetric(stack/n, "stack-B/stream")
			b.ReportMetric((heap+stack)/n, "B/stream")
			b.ReportMetric(gor/n, "goroutines/stream")
		})
	}
}

func idleOnce(b *testing.B, id idler, url string, k int) (heap, stack, goroutines float64) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	settle := func() (runtime.MemStats, int) {
		var ms runtime.MemStats
		for range 3 {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return ms, runtime.NumGoroutine()
	}
	ms0, g0 := settle()

	type opened struct {
		stop func()
		done <-chan struct{}
	}
	streams := make([]opened, k)
	errs := make(chan error, k)
	sem := make(chan struct{}, 32) // bounded dialling, no SYN storm
	var wg sync.WaitGroup
	for i := range k {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			stop, done, err := id.open(ctx, url, hc)
			if err != nil {
				errs <- err
			}
			streams[i] = opened{stop, done}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	var first error
	for err := range errs {
		if first == nil {
			first = err
		}
		failed++
	}

	ms1, g1 := settle()

	for _, s := range streams {
		if s.stop != nil {
			s.stop()
		}
	}
	for _, s := range streams {
		if s.done != nil {
			select {
			case <-s.done:
			case <-ctx.Done():
				b.Fatalf("%s: a stream did not end after stop", id.name)
			}
		}
	}
	if failed > 0 {
		b.Fatalf("%s: %d of %d streams failed to open; first: %v", id.name, failed, k, first)
	}
	// Streams is still referenced here, so what it holds counted in ms1.
	runtime.KeepAlive(streams)
	heap = (float64(ms1.HeapAlloc) - float64(ms0.HeapAlloc)) / float64(k)
	stack = (float64(ms1.StackInuse) - float64(ms0.StackInuse)) / float64(k)
	goroutines = float64(g1-g0) / float64(k)
	return heap, stack, goroutines
}
