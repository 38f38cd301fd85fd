package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/ssekit/sse"
)

// ssecatDir holds the ssecat binary built for this test run.
var ssecatDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if ssecatDir != "" {
		os.RemoveAll(ssecatDir)
	}
	os.Exit(code)
}

// requireBin returns the path of a server binary. When it is missing the
// test is skipped, except in CI (CI=true), where run installs every server
// and a missing one is a failure.
func requireBin(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (Debian package %s); interop/run installs it", name, pkg)
	}
	t.Skipf("%s is not installed (Debian package %s); run interop/run to install it", name, pkg)
	return ""
}

// requireNodeModules skips (or fails in CI) when npm ci has not run.
func requireNodeModules(t *testing.T, pkg string) string {
	t.Helper()
	node := requireBin(t, "node", "nodejs")
	if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("npm package %s is not installed; interop/run runs npm ci", pkg)
		}
		t.Skipf("npm package %s is not installed; run npm ci in interop/ (interop/run does)", pkg)
	}
	return node
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitPort waits until something accepts connections on 127.0.0.1:port.
func waitPort(t *testing.T, port int, p *proc) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if p != nil && p.exited() {
			t.Fatalf("%s exited before listening on %s; log:\n%s", p.name, addr, p.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after 15s", addr)
}

// proc is a server process started by a test. It runs in a process group
// of its own, dies with the test binary (Pdeathsig), and is stopped by PID
// in t.Cleanup. When INTEROP_PIDS names a directory, its PID is written
// there too, so that interop/run can kill it if the test binary is killed.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	pidFile string
}

func startProc(t *testing.T, name string, args []string, env []string) *proc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), filepath.Base(name)+"-*.log")
	require.NoError(t, err)
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "start %s", name)
	p := &proc{name: filepath.Base(name), cmd: cmd, logPath: logf.Name(), done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	if dir := os.Getenv("INTEROP_PIDS"); dir != "" {
		p.pidFile = filepath.Join(dir, strconv.Itoa(cmd.Process.Pid))
		os.WriteFile(p.pidFile, []byte(p.name), 0o644)
	}
	t.Cleanup(func() { p.stop(syscall.SIGTERM) })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop sends sig to the process group the test started, waits up to 5s,
// then kills the group.
func (p *proc) stop(sig syscall.Signal) {
	pid := p.cmd.Process.Pid
	if !p.exited() {
		syscall.Kill(-pid, sig)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pid, syscall.SIGKILL)
			<-p.done
		}
	}
	syscall.Kill(-pid, syscall.SIGKILL) // workers that outlived their master
	if p.pidFile != "" {
		os.Remove(p.pidFile)
	}
}

// ssecatOnce returns the ssecat binary: $SSECAT when interop/run built
// it, otherwise one built from ../cmd/ssecat once per test binary.
var ssecatOnce = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("SSECAT"); p != "" {
		return p, nil
	}
	dir, err := os.MkdirTemp("", "interop-ssecat-")
	if err != nil {
		return "", err
	}
	ssecatDir = dir
	bin := filepath.Join(dir, "ssecat")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/ssecat").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ../cmd/ssecat: %v\n%s", err, out)
	}
	return bin, nil
})

// jsonEvent is one line of ssecat -o json.
type jsonEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

// ssecatResult is what one ssecat run printed.
type ssecatResult struct {
	Events []jsonEvent
	Stderr string
	Exit   int
}

// runSsecat runs ssecat with args (plus -o json), collects want events from
// its stdout, then sends SIGTERM (or, with want < 0, waits for it to exit by
// itself) and returns what it printed. Each line of output must be JSON.
func runSsecat(t *testing.T, env []string, want int, args ...string) ssecatResult {
	t.Helper()
	bin, err := ssecatOnce()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-o", "json"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var res ssecatResult
	sc := bufio.NewScanner(stdout)
	for (want < 0 || len(res.Events) < want) && sc.Scan() {
		var ev jsonEvent
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), "ssecat printed a line that is not JSON: %q", sc.Text())
		res.Events = append(res.Events, ev)
	}
	if want >= 0 {
		cmd.Process.Signal(syscall.SIGTERM)
	}
	io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	require.NoError(t, ctx.Err(), "ssecat did not finish in time; stderr:\n%s", stderr.String())
	res.Stderr = stderr.String()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.Exit = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return res
}

// collect receives n events from s, failing the test after timeout.
func collect(t *testing.T, s *sse.Stream, n int, timeout time.Duration) []sse.Event {
	t.Helper()
	var evs []sse.Event
	deadline := time.After(timeout)
	for len(evs) < n {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("stream ended after %d of %d events: %v (got %v)", len(evs), n, s.Err(), evs)
			}
			evs = append(evs, ev)
		case <-deadline:
			t.Fatalf("got %d of %d events in %v: %v", len(evs), n, timeout, evs)
		}
	}
	return evs
}

// drain receives until the stream ends, failing after timeout.
func drain(t *testing.T, s *sse.Stream, timeout time.Duration) []sse.Event {
	t.Helper()
	var evs []sse.Event
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		case <-deadline:
			t.Fatalf("stream still open after %v (got %v)", timeout, evs)
		}
	}
}

// datas returns the Data of each event.
func datas(evs []sse.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Data
	}
	return out
}

// tokenSeq is an oauth2.TokenSource that hands out tokens in order, then
// repeats the last one, and counts the calls.
type tokenSeq struct {
	mu     sync.Mutex
	tokens []string
	calls  int
}

func (s *tokenSeq) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok := s.tokens[min(s.calls, len(s.tokens)-1)]
	s.calls++
	return &oauth2.Token{AccessToken: tok, TokenType: "Bearer"}, nil
}

func (s *tokenSeq) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// attempts records what Client.OnAttempt reports.
type attempts struct {
	mu   sync.Mutex
	list []sse.Attempt
}

func (a *attempts) on(at sse.Attempt) {
	a.mu.Lock()
	a.list = append(a.list, at)
	a.mu.Unlock()
}

func (a *attempts) all() []sse.Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]sse.Attempt(nil), a.list...)
}

// fastClient is a Client with short delays, so that reconnects in these
// tests take a fraction of a second.
func fastClient(auth sse.AuthSource) (*sse.Client, *attempts) {
	a := &attempts{}
	return &sse.Client{
		Auth:          auth,
		RetryDelay:    100 * time.Millisecond,
		MinRetryDelay: 50 * time.Millisecond,
		MaxRetryDelay: 500 * time.Millisecond,
		OnAttempt:     a.on,
	}, a
}

// httpDo sends a request and returns the response body; it fails the test
// on a transport error or a status other than want.
func httpDo(t *testing.T, method, url, body string, want int, header ...string) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, want, resp.StatusCode, "%s %s: %s", method, url, b)
	return string(b)
}

// decodeJSON decodes one JSON value from r into v.
func decodeJSON(r io.Reader, v any) error {
	return json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(v)
}

// decodeJSONString decodes the JSON text s into v.
func decodeJSONString(s string, v any) error {
	return json.Unmarshal([]byte(s), v)
}
