// Package bench measures github.com/ssekit/sse against other Go SSE
// libraries. It lives in a module of its own so that the other libraries
// never enter the SDK's go.mod; see README.md for the results and the
// command that reproduces them.
//
// This file holds the deterministic workload generators shared by the
// benchmarks; the benchmarks themselves are in the _test.go files.
package bench

import (
	"bytes"
	"io"
	"strconv"
	"strings"
)

// Event is the decoded form every library's output is compared against.
type Event struct {
	Type string // "message" when the stream named none
	Data string
	ID   string // last event ID in force at dispatch
}

// Workload is one generated event stream and the events it must decode to.
type Workload struct {
	Name   string
	Stream []byte
	Events []Event
	// DataBytes is the sum of len(Data) over Events, a cheap check for the
	// timed loops.
	DataBytes int
}

// rng is a small deterministic generator (SplitMix64), so the workloads are
// identical on every machine and Go version.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func (r *rng) word(sb *strings.Builder, n int) {
	for range n {
		sb.WriteByte(alnum[r.intn(len(alnum))])
	}
}

var actions = [...]string{"click", "view", "scroll", "purchase", "login", "logout"}

// Small returns 100k small JSON events (about 80 bytes each), each with an
// id and no event type. crlf selects CRLF line ends instead of LF.
func Small(crlf bool) *Workload { return small(100_000, crlf) }

func small(n int, crlf bool) *Workload {
	name, nl := "small", "\n"
	if crlf {
		name, nl = "small-crlf", "\r\n"
	}
	r := rng(1)
	w := &Workload{Name: name, Events: make([]Event, 0, n)}
	var s bytes.Buffer
	var sb strings.Builder
	for i := range n {
		sb.Reset()
		sb.WriteString(`{"seq":`)
		sb.WriteString(strconv.Itoa(i))
		sb.WriteString(`,"user":"u`)
		sb.WriteString(strconv.Itoa(10000 + r.intn(90000)))
		sb.WriteString(`","action":"`)
		sb.WriteString(actions[r.intn(len(actions))])
		sb.WriteString(`","ts":`)
		sb.WriteString(strconv.Itoa(1_700_000_000_000 + i*37))
		sb.WriteString(`,"ok":true}`)
		id := strconv.Itoa(i + 1)
		data := sb.String()
		s.WriteString("id: " + id + nl + "data: " + data + nl + nl)
		w.add(Event{Type: "message", Data: data, ID: id})
	}
	w.Stream = s.Bytes()
	return w
}

// KiB returns 20k events of about 1 KiB of JSON each, with the type
// "update" and an id.
func KiB() *Workload { return kib(20_000) }

func kib(n int) *Workload {
	r := rng(2)
	w := &Workload{Name: "1kib", Events: make([]Event, 0, n)}
	var s bytes.Buffer
	var sb strings.Builder
	for i := range n {
		sb.Reset()
		sb.WriteString(`{"seq":`)
		sb.WriteString(strconv.Itoa(i))
		sb.WriteString(`,"items":[`)
		for j := 0; sb.Len() < 1000; j++ {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(`{"k":"`)
			r.word(&sb, 12)
			sb.WriteString(`","v":`)
			sb.WriteString(strconv.Itoa(r.intn(1_000_000)))
			sb.WriteByte('}')
		}
		sb.WriteString(`]}`)
		id := "evt-" + strconv.Itoa(i+1)
		data := sb.String()
		s.WriteString("event: update\nid: " + id + "\ndata: " + data + "\n\n")
		w.add(Event{Type: "update", Data: data, ID: id})
	}
	w.Stream = s.Bytes()
	return w
}

// MultiLine returns 20k events of 20 data lines of 40 bytes, without id or
// type.
func MultiLine() *Workload { return multiLine(20_000) }

func multiLine(n int) *Workload {
	r := rng(3)
	w := &Workload{Name: "multiline", Events: make([]Event, 0, n)}
	var s bytes.Buffer
	var sb, line strings.Builder
	for range n {
		sb.Reset()
		for j := range 20 {
			line.Reset()
			line.WriteString(`  "field`)
			line.WriteString(strconv.Itoa(10 + j))
			line.WriteString(`": "`)
			r.word(&line, 40-line.Len()-2)
			line.WriteString(`",`)
			s.WriteString("data: " + line.String() + "\n")
			if j > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(line.String())
		}
		s.WriteString("\n")
		w.add(Event{Type: "message", Data: sb.String()})
	}
	w.Stream = s.Bytes()
	return w
}

// Large returns 50 events whose data is a single line of 1 MiB, each with
// an id.
func Large() *Workload { return large(50) }

func large(n int) *Workload {
	r := rng(4)
	w := &Workload{Name: "1mib", Events: make([]Event, 0, n)}
	var s bytes.Buffer
	// One random body, varied per event by a prefix and a rotation, keeps
	// generation fast while every event is different.
	var body strings.Builder
	for body.Len() < 1<<20 {
		body.WriteString(`{"k":"`)
		r.word(&body, 24)
		body.WriteString(`"},`)
	}
	base := body.String()[:1<<20-32]
	for i := range n {
		rot := r.intn(len(base))
		head := `[` + strconv.Itoa(i) + `,"` + strings.Repeat("x", 24-len(strconv.Itoa(i))) + `",`
		data := head + base[rot:] + base[:rot]
		data += strings.Repeat(" ", 1<<20-len(data)-1) + "]"
		id := strconv.Itoa(i + 1)
		s.WriteString("id: " + id + "\ndata: " + data + "\n\n")
		w.add(Event{Type: "message", Data: data, ID: id})
	}
	w.Stream = s.Bytes()
	return w
}

func (w *Workload) add(e Event) {
	w.Events = append(w.Events, e)
	w.DataBytes += len(e.Data)
}

// All returns every parse workload, in table order. div > 1 divides the
// number of events of each (for quick smoke runs).
func All(div int) []*Workload {
	div = max(div, 1)
	return []*Workload{
		small(100_000/div, false),
		kib(20_000 / div),
		multiLine(20_000 / div),
		large(max(50/div, 2)),
		small(100_000/div, true),
	}
}

// ChunkReader returns at most N bytes per Read, as a network connection
// that delivers data in small pieces would.
type ChunkReader struct {
	B []byte
	N int
}

// Read implements io.Reader.
func (c *ChunkReader) Read(p []byte) (int, error) {
	if len(c.B) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.N, len(c.B))
	copy(p, c.B[:n])
	c.B = c.B[n:]
	return n, nil
}

// Reader is one way of feeding a stream to a parser.
type Reader struct {
	Name string
	New  func(b []byte) io.Reader
}

// Readers returns the ways every workload is fed: a bytes.Reader, and
// readers that return 4 KiB and 7-byte chunks.
func Readers() []Reader {
	return []Reader{
		{"bytes", func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"4k", func(b []byte) io.Reader { return &ChunkReader{B: b, N: 4096} }},
		{"7b", func(b []byte) io.Reader { return &ChunkReader{B: b, N: 7} }},
	}
}
