package sse

// This file holds the test that the Parser's zero-copy event strings stay
// valid while it reads on, and the varied stream it reads for that.

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// variedStream returns a stream of about size bytes that mixes every
// kind of line the Parser treats differently: single-line and multi-line
// data, custom and "message" types, new, repeated and reset ids, comments,
// retry lines, LF, CRLF and CR line ends, invalid UTF-8, and long lines
// that outgrow the read buffer.
func variedStream(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	eols := []string{"\n", "\r\n", "\r"}
	for i := 0; b.Len() < size; i++ {
		eol := eols[r.IntN(len(eols))]
		if r.IntN(4) == 0 {
			fmt.Fprintf(&b, ": ping %d%s", i, eol)
		}
		switch r.IntN(5) {
		case 0:
			fmt.Fprintf(&b, "id: %d%s", i, eol)
		case 1:
			b.WriteString("id" + eol) // reset
		}
		switch r.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "event: type-%d%s", r.IntN(3), eol)
		case 1:
			b.WriteString("event: message" + eol)
		}
		if r.IntN(20) == 0 {
			fmt.Fprintf(&b, "retry: %d%s", r.IntN(5000), eol)
		}
		lines := 1 + r.IntN(3)
		if r.IntN(3) == 0 {
			lines = 0 // an event without data, or an id-only block
		}
		for range lines {
			n := r.IntN(200)
			if r.IntN(50) == 0 {
				n = 10_000 + r.IntN(150_000) // longer than a read buffer
			}
			v := []byte(strings.Repeat(string(rune('a'+i%26)), n))
			if n > 0 && r.IntN(10) == 0 {
				v[r.IntN(n)] = 0xFF // invalid UTF-8: decoded, so copied
			}
			fmt.Fprintf(&b, "data: %s%s", v, eol)
		}
		b.WriteString(eol)
	}
	return b.Bytes()
}

// TestParserStringsStayValid holds on to every event and comment of a
// multi-megabyte stream until the end and only then compares them with the
// reference parser's: the strings point into read buffers and data blocks
// that the Parser keeps reading into and replacing, so any byte written
// twice would show up here.
func TestParserStringsStayValid(t *testing.T) {
	t.Parallel()
	size := 8 << 20
	if testing.Short() {
		size = 2 << 20
	}
	in := variedStream(7, size)
	ref := referenceParse(in)
	want := parseResult{events: ref.events, lastID: ref.lastID, retry: ref.retry, comments: ref.comments, err: io.EOF}
	require.Greater(t, len(ref.events), 300, "events in the stream")
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(in) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(in)) },
		"7 bytes":  func() io.Reader { return &patternReader{data: in} },
		"random":   func() io.Reader { return &patternReader{data: in, pattern: []byte{22, 1, 0, 9, 17, 3, 14}} },
		"4 KiB":    func() io.Reader { return &pieceReader{events: [][]byte{in}, n: 4096} },
		"data err": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(in)) },
	}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := parseAll(r(), nil)
			// Allocate and scribble over freed memory, so that a string
			// pointing into memory the Parser let go of would change.
			runtime.GC()
			for range 64 {
				b := make([]byte, 128<<10)
				for i := range b {
					b[i] = '#'
				}
				runtime.KeepAlive(b)
			}
			requireSameResult(t, "reference vs "+name, want, got)
		})
	}
}
