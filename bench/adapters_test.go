package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	ld "github.com/launchdarkly/eventsource"
	r3 "github.com/r3labs/sse/v2"
	sse "github.com/ssekit/sse"
	gosse "github.com/tmaxmax/go-sse"
	backoffv1 "gopkg.in/cenkalti/backoff.v1"
)

// maxEvent is the event/buffer limit given to every library that has one:
// large enough for the 1 MiB workload, so that no library fails on its
// defaults (go-sse and r3labs default to 64 KiB).
const maxEvent = 4 << 20

// sink receives every decoded event. In the timed loops check is nil and
// only the count and the data length are kept, so that a library pays for
// no conversion it would not do for a real caller.
type sink struct {
	check func(i int, e Event)
	n     int
	bytes int
}

func (s *sink) add(typ, data, id string) {
	if s.check != nil {
		if typ == "" {
			typ = "message" // go-sse and r3labs leave an unnamed type empty
		}
		s.check(s.n, Event{Type: typ, Data: data, ID: id})
	}
	s.n++
	s.bytes += len(data)
}

// decoder parses a whole stream from r with one library's public API.
type decoder struct {
	name string
	// peer is false for the SDK and the baselines.
	peer     bool
	baseline bool
	run      func(r io.Reader, w *Workload, s *sink) error
}

func decoders() []decoder {
	return []decoder{
		{name: "sdk", run: runSDK},
		{name: "go-sse", peer: true, run: runGoSSE},
		{name: "r3labs", peer: true, run: runR3labs},
		{name: "launchdarkly", peer: true, run: runLaunchDarkly},
		{name: "indexbyte", baseline: true, run: runIndexByte},
		{name: "scan-utf8", baseline: true, run: runScanUTF8},
		{name: "copy", baseline: true, run: runCopy},
	}
}

func runSDK(r io.Reader, _ *Workload, s *sink) error {
	p := sse.NewParser(r)
	for {
		ev, err := p.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.add(ev.Type, ev.Data, ev.ID)
	}
}

// runGoSSE uses go-sse's Read iterator, its public stream parser.
func runGoSSE(r io.Reader, _ *Workload, s *sink) error {
	for ev, err := range gosse.Read(r, &gosse.ReadConfig{MaxEventSize: maxEvent}) {
		if err != nil {
			return err
		}
		s.add(ev.Type, ev.Data, ev.LastEventID)
	}
	return nil
}

// runR3labs drives r3labs' Client over a RoundTripper that answers with r:
// the library's field decoding (processEvent) is unexported, so its client
// (EventStreamReader, the read-loop goroutine and processEvent) is the only
// public path from bytes to decoded events. No network is involved.
func runR3labs(r io.Reader, _ *Workload, s *sink) error {
	c := r3.NewClient("http://bench.invalid/stream", r3.ClientMaxBufferSize(maxEvent))
	c.Connection = &http.Client{Transport: bodyTransport{r}}
	c.ReconnectStrategy = &backoffv1.StopBackOff{}
	return c.SubscribeRawWithContext(context.Background(), func(m *r3.Event) {
		if s.check == nil {
			s.n++
			s.bytes += len(m.Data)
			return
		}
		s.add(string(m.Event), string(m.Data), string(m.ID))
	})
}

// bodyTransport answers every request with 200 and body r, without I/O.
type bodyTransport struct{ r io.Reader }

func (t bodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK,
		Status:     "200 OK",
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/event-stream"}},
		Body:          io.NopCloser(t.r),
		ContentLength: -1,
		Request:       req,
	}, nil
}

func runLaunchDarkly(r io.Reader, _ *Workload, s *sink) error {
	d := ld.NewDecoder(r)
	for {
		ev, err := d.Decode()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if s.check == nil {
			s.n++
			s.bytes += len(ev.Data())
			continue
		}
		s.add(ev.Event(), ev.Data(), ev.(ld.EventWithLastID).LastEventID())
	}
}

// runIndexByte is the physical limit of any line-based parser: read the
// stream into a buffer and find every line feed with bytes.IndexByte.
// It counts lines, not events; the benchmark checks the line count.
func runIndexByte(r io.Reader, w *Workload, s *sink) error {
	buf := indexBuf[:]
	lines := 0
	for {
		n, err := r.Read(buf)
		b := buf[:n]
		for {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				break
			}
			lines++
			b = b[i+1:]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if want := bytes.Count(w.Stream, []byte{'\n'}); lines != want {
		return fmt.Errorf("indexbyte: %d lines, want %d", lines, want)
	}
	s.n, s.bytes = len(w.Events), w.DataBytes
	return nil
}

var indexBuf [64 << 10]byte

// runScanUTF8 is the least work a conformant parser must do: find every
// line feed with bytes.IndexByte, as runIndexByte does, and check every
// byte with utf8.Valid. Each read is validated in one call up to its last
// complete character; the bytes of a character cut by the end of a read (at
// most 3) are carried over to the next. It counts lines, not events; the
// benchmark checks the line count.
func runScanUTF8(r io.Reader, w *Workload, s *sink) error {
	buf := scanBuf[:]
	lines, carry := 0, 0
	for {
		n, err := r.Read(buf[carry:])
		b := buf[carry : carry+n]
		for {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				break
			}
			lines++
			b = b[i+1:]
		}
		v := buf[:carry+n]
		k := len(v)
		i := len(v) - 1
		for i > 0 && len(v)-i < utf8.UTFMax && !utf8.RuneStart(v[i]) {
			i--
		}
		if i >= 0 && !utf8.FullRune(v[i:]) {
			k = i
		}
		if !utf8.Valid(v[:k]) {
			return errors.New("scan-utf8: invalid UTF-8")
		}
		carry = copy(buf, v[k:])
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if carry > 0 {
		return errors.New("scan-utf8: stream ends inside a character")
	}
	if want := bytes.Count(w.Stream, []byte{'\n'}); lines != want {
		return fmt.Errorf("scan-utf8: %d lines, want %d", lines, want)
	}
	s.n, s.bytes = len(w.Events), w.DataBytes
	return nil
}

var scanBuf [64 << 10]byte

// runCopy is the cost of moving the bytes at all: io.Copy to io.Discard.
func runCopy(r io.Reader, w *Workload, s *sink) error {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	if n != int64(len(w.Stream)) {
		return errors.New("copy: short")
	}
	s.n, s.bytes = len(w.Events), w.DataBytes
	return nil
}
