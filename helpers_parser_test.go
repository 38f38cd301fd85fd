package sse

// This file holds the helpers the Parser's tests share: the slow reference
// parser they compare it with, which follows the WHATWG text step by step
// and shares no code with parser.go (decode the whole stream, drop one BOM,
// cut lines, interpret each line); a run of the Parser collected into a
// parseResult, and the check that two results agree; and readers that
// deliver a stream in pieces.

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// noRetry marks a case whose stream sets no valid retry: value.
const noRetry = time.Duration(-1)

// parseResult is everything a Parser reported for one stream.
type parseResult struct {
	events   []Event
	lastID   string
	retry    time.Duration
	comments []string
	err      error
}

// parseAll parses r to the end and collects the results. setup, if not nil,
// runs before the first Next.
func parseAll(r io.Reader, setup func(*Parser)) parseResult {
	p := NewParser(r)
	if setup != nil {
		setup(p)
	}
	var res parseResult
	p.OnComment(func(c string) { res.comments = append(res.comments, c) })
	for {
		ev, err := p.Next()
		if err != nil {
			res.err = err
			break
		}
		res.events = append(res.events, ev)
	}
	res.lastID = p.LastEventID()
	res.retry = noRetry
	if d, ok := p.Retry(); ok {
		res.retry = d
	}
	return res
}

// requireSameResult fails the test unless two runs agree: events, state
// and error kind.
func requireSameResult(t *testing.T, what string, want, got parseResult) {
	t.Helper()
	require.Equal(t, nilIfEmpty(want.events), nilIfEmpty(got.events), "%s: events differ", what)
	require.Equal(t, want.lastID, got.lastID, "%s: last event ID differs", what)
	require.Equal(t, want.retry, got.retry, "%s: retry differs", what)
	require.Equal(t, nilIfEmpty(want.comments), nilIfEmpty(got.comments), "%s: comments differ", what)
	require.Equal(t, errKind(want.err), errKind(got.err), "%s: errors differ: want %v, got %v", what, want.err, got.err)
}

// nilIfEmpty returns s, or nil when s is empty, so that require.Equal
// takes an empty and a nil list of events or comments as the same.
func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}

// errKind describes an error without the parts that depend on how the
// stream was split into reads (ParseError.Offset).
func errKind(err error) string {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe.What + "/" + strconv.Itoa(pe.Limit) + "/" + strconv.FormatBool(errors.Is(err, ErrEventTooLarge))
	}
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// referenceDecode decodes b as the WHATWG Encoding standard's UTF-8 decoder
// does, written as its state machine (bytes needed, bytes seen, lower and
// upper boundary), one U+FFFD per error.
func referenceDecode(b []byte) string {
	var out strings.Builder
	needed, seen := 0, 0
	var cp rune
	lower, upper := byte(0x80), byte(0xBF)
	for i := 0; i < len(b); i++ {
		c := b[i]
		if needed == 0 {
			switch {
			case c <= 0x7F:
				out.WriteByte(c)
			case c >= 0xC2 && c <= 0xDF:
				needed, cp = 1, rune(c&0x1F)
			case c >= 0xE0 && c <= 0xEF:
				if c == 0xE0 {
					lower = 0xA0
				}
				if c == 0xED {
					upper = 0x9F
				}
				needed, cp = 2, rune(c&0xF)
			case c >= 0xF0 && c <= 0xF4:
				if c == 0xF0 {
					lower = 0x90
				}
				if c == 0xF4 {
					upper = 0x8F
				}
				needed, cp = 3, rune(c&0x7)
			default:
				out.WriteRune(utf8.RuneError)
			}
			continue
		}
		if c < lower || c > upper {
			// Error: reset, emit U+FFFD and process c again.
			needed, seen, cp = 0, 0, 0
			lower, upper = 0x80, 0xBF
			out.WriteRune(utf8.RuneError)
			i--
			continue
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | rune(c&0x3F)
		seen++
		if seen == needed {
			out.WriteRune(cp)
			needed, seen, cp = 0, 0, 0
		}
	}
	if needed != 0 {
		out.WriteRune(utf8.RuneError)
	}
	return out.String()
}

// referenceResult is what the reference parser reports.
type referenceResult struct {
	events   []Event
	lastID   string
	retry    time.Duration // noRetry when none
	comments []string
}

// referenceParse interprets a whole event stream, without limits.
func referenceParse(in []byte) referenceResult {
	text := referenceDecode(in)
	text = strings.TrimPrefix(text, "\uFEFF")

	// Cut lines: CRLF, LF or CR ends a line; what follows the last line
	// end is not a line.
	var lines []string
	cur := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\r':
			lines = append(lines, text[cur:i])
			if i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			cur = i + 1
		case '\n':
			lines = append(lines, text[cur:i])
			cur = i + 1
		}
	}

	res := referenceResult{retry: noRetry}
	var data []string // the data buffer, one entry per data line
	eventType, lastIDBuffer := "", ""
	for _, line := range lines {
		if line == "" {
			// Dispatch.
			res.lastID = lastIDBuffer
			if len(data) == 0 {
				eventType = ""
				continue
			}
			// Each line was appended with a LF; the final one is removed.
			ev := Event{Type: "message", Data: strings.Join(data, "\n"), ID: res.lastID}
			if eventType != "" {
				ev.Type = eventType
			}
			res.events = append(res.events, ev)
			data, eventType = nil, ""
			continue
		}
		if strings.HasPrefix(line, ":") {
			res.comments = append(res.comments, strings.TrimPrefix(line[1:], " "))
			continue
		}
		field, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "event":
			eventType = value
		case "data":
			data = append(data, value)
		case "id":
			if !strings.Contains(value, "\x00") {
				lastIDBuffer = value
			}
		case "retry":
			allDigits := value != ""
			for _, r := range value {
				if r < '0' || r > '9' {
					allDigits = false
				}
			}
			if allDigits {
				ms, err := strconv.ParseInt(value, 10, 64)
				if err != nil || ms > int64(1<<63-1)/int64(time.Millisecond) {
					res.retry = time.Duration(1<<63 - 1)
				} else {
					res.retry = time.Duration(ms) * time.Millisecond
				}
			}
		}
	}
	return res
}

// patternReader delivers data in chunks whose sizes come from pattern; a
// zero in the pattern makes one Read return 0, nil.
type patternReader struct {
	data    []byte
	pattern []byte
	i       int
	empty   bool // the last Read returned nothing
}

func (r *patternReader) Read(b []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	size := 7
	if len(r.pattern) > 0 {
		size = int(r.pattern[r.i%len(r.pattern)]) % 23
		r.i++
	}
	if size == 0 && !r.empty {
		r.empty = true
		return 0, nil
	}
	r.empty = false
	size = max(size, 1)
	n := copy(b[:min(len(b), size)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// pieceReader returns its events in pieces of at most n bytes, never
// one that spans two events.
type pieceReader struct {
	events [][]byte
	n      int
}

func (r *pieceReader) Read(b []byte) (int, error) {
	if len(r.events) > 0 && len(r.events[0]) == 0 {
		r.events = r.events[1:]
	}
	if len(r.events) == 0 {
		return 0, io.EOF
	}
	c := copy(b[:min(len(b), r.n)], r.events[0])
	r.events[0] = r.events[0][c:]
	return c, nil
}
