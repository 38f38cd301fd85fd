package sse

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// This file holds the Parser's fuzz targets and the slow reference parser
// they compare it with. The reference follows the WHATWG text step by step
// and shares no code with parser.go: decode the whole stream, drop one BOM,
// cut lines, interpret each line.

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

// requireSameResult reports whether two runs agree: events, state and error kind.
func requireSameResult(t *testing.T, what string, want, got parseResult) {
	t.Helper()
	if !equalEvents(want.events, got.events) {
		t.Fatalf("%s: events differ:\nwant %q\ngot  %q", what, want.events, got.events)
	}
	if want.lastID != got.lastID || want.retry != got.retry {
		t.Fatalf("%s: state differs: want id %q retry %v, got id %q retry %v", what, want.lastID, want.retry, got.lastID, got.retry)
	}
	if !equalStrings(want.comments, got.comments) {
		t.Fatalf("%s: comments differ:\nwant %q\ngot  %q", what, want.comments, got.comments)
	}
	if errKind(want.err) != errKind(got.err) {
		t.Fatalf("%s: errors differ: want %v, got %v", what, want.err, got.err)
	}
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

func equalEvents(a, b []Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// longestRawLine returns the longest line of in, in raw bytes after the
// BOM, counting a final unterminated line too.
func longestRawLine(in []byte) int {
	in = bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
	longest, cur := 0, 0
	for _, c := range in {
		if c == '\r' || c == '\n' {
			cur = 0
			continue
		}
		cur++
		longest = max(longest, cur)
	}
	return longest
}

func FuzzParser(f *testing.F) {
	for i, tc := range conformanceCases {
		f.Add([]byte(tc.in), []byte{byte(i), 3, 0, 1, 22})
	}
	f.Add([]byte("data: "+strings.Repeat("x", 300)+"\r\n\r\n"), []byte{5})
	f.Add([]byte("id: "+strings.Repeat("i", 100)+"\ndata\n\nevent: "+strings.Repeat("e", 100)+"\ndata\n\n"), []byte{1, 2})
	f.Fuzz(func(t *testing.T, in, pattern []byte) {
		if len(in) > 1<<16 {
			return
		}
		t.Logf("input %q, pattern %v", in, pattern)
		ref := referenceParse(in)
		whole := parseAll(bytes.NewReader(in), nil)
		requireSameResult(t, "reference vs whole", parseResult{events: ref.events, lastID: ref.lastID, retry: ref.retry, comments: ref.comments, err: io.EOF}, whole)
		requireSameResult(t, "whole vs chunked", whole, parseAll(&patternReader{data: in, pattern: pattern}, nil))
		if len(in) < 4096 {
			requireSameResult(t, "whole vs one byte", whole, parseAll(&patternReader{data: in, pattern: []byte{1}}, nil))
		}

		// Small limits taken from the pattern.
		maxLine, maxEvent := 16, 32
		if len(pattern) > 0 {
			maxLine = 1 + int(pattern[0])%80
			maxEvent = 1 + int(pattern[len(pattern)-1])%160
		}
		var parsers []*Parser
		limited := func(p *Parser) {
			p.SetLimits(maxLine, maxEvent)
			parsers = append(parsers, p)
		}
		lw := parseAll(bytes.NewReader(in), limited)
		lc := parseAll(&patternReader{data: in, pattern: pattern}, limited)
		requireSameResult(t, "limited whole vs chunked", lw, lc)
		if lw.err == io.EOF {
			requireSameResult(t, "limited vs reference", whole, lw)
		} else {
			var pe *ParseError
			if !errors.Is(lw.err, ErrEventTooLarge) || !errors.As(lw.err, &pe) {
				t.Fatalf("limited run ended with %v", lw.err)
			}
			if len(lw.events) > len(whole.events) || !equalEvents(lw.events, whole.events[:len(lw.events)]) {
				t.Fatalf("limited events are not a prefix of the unlimited ones:\n%q\n%q", lw.events, whole.events)
			}
			if pe.What == "line" && longestRawLine(in) <= maxLine {
				t.Fatalf("line limit %d reported, longest line is %d", maxLine, longestRawLine(in))
			}
		}
		for _, ev := range lw.events {
			size := len(ev.Data) + 1 + len(ev.ID)
			if ev.Type != "message" {
				size += len(ev.Type)
			}
			if size > maxEvent {
				t.Fatalf("event of %d bytes passed the %d-byte limit: %q", size, maxEvent, ev)
			}
		}
		// The data block may exceed maxEvent by the rounding of
		// strings.Builder.Grow to a size class (at most 16 bytes here).
		for _, p := range parsers {
			if len(p.buf) > max(maxReadBuf, maxLine+1) || p.block.Cap() > maxEvent+16 ||
				len(p.typ) > maxEvent || len(p.id) > maxEvent || cap(p.dec) > 6*maxLine+64 {
				t.Fatalf("buffers exceed the limits %d/%d: buf %d data %d type %d id %d dec %d",
					maxLine, maxEvent, len(p.buf), p.block.Cap(), len(p.typ), len(p.id), cap(p.dec))
			}
		}
	})
}

// encodeEvents writes events as an event stream the simple way, with the given
// line end, a comment before each event and an optional BOM.
func encodeEvents(events []Event, retry time.Duration, eol string, bom bool) []byte {
	var b bytes.Buffer
	if bom {
		b.WriteString("\uFEFF")
	}
	if retry >= 0 {
		b.WriteString("retry: " + strconv.FormatInt(int64(retry/time.Millisecond), 10) + eol)
	}
	for _, ev := range events {
		b.WriteString(": comment" + eol)
		if ev.Type != "message" {
			b.WriteString("event: " + ev.Type + eol)
		}
		b.WriteString("id: " + ev.ID + eol)
		for _, line := range strings.Split(ev.Data, "\n") {
			b.WriteString("data: " + line + eol)
		}
		b.WriteString(eol)
	}
	return b.Bytes()
}

// sanitizeField makes s something SSE can carry in a field value: valid UTF-8
// without the characters in cut.
func sanitizeField(s, cut string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(cut, r) {
			return -1
		}
		return r
	}, s)
}

func FuzzRoundtrip(f *testing.F) {
	f.Add([]byte("add\x1f{\"a\":1}\x1f1\x1e\x1fline1\nline2\x1f\x1eping\x1f\x1f7"), uint16(3000))
	f.Add([]byte("message\x1f data with leading space\x1f \x1e\x1f\r\n\r\x1fid"), uint16(0))
	f.Add([]byte("\x1f\xff\xfe\x1f\x00\x1e\x1f\x1f"), uint16(65535))
	f.Fuzz(func(t *testing.T, raw []byte, retryMS uint16) {
		var events []Event
		for _, part := range bytes.Split(raw, []byte{0x1e}) {
			fields := bytes.SplitN(part, []byte{0x1f}, 3)
			for len(fields) < 3 {
				fields = append(fields, nil)
			}
			ev := Event{
				Type: sanitizeField(string(fields[0]), "\r\n"),
				Data: sanitizeField(string(fields[1]), ""),
				ID:   sanitizeField(string(fields[2]), "\r\n\x00"),
			}
			ev.Data = strings.ReplaceAll(strings.ReplaceAll(ev.Data, "\r\n", "\n"), "\r", "\n")
			if ev.Type == "" {
				ev.Type = "message"
			}
			events = append(events, ev)
		}
		retry := time.Duration(-1)
		if retryMS%5 != 0 {
			retry = time.Duration(retryMS) * time.Millisecond
		}
		eol := []string{"\n", "\r\n", "\r"}[len(raw)%3]
		stream := encodeEvents(events, retry, eol, retryMS%2 == 0)
		t.Logf("stream %q", stream)

		want := parseResult{events: events, lastID: events[len(events)-1].ID, retry: retry, err: io.EOF}
		for range events {
			want.comments = append(want.comments, "comment")
		}
		if retry < 0 {
			want.retry = noRetry
		}
		requireSameResult(t, "roundtrip", want, parseAll(bytes.NewReader(stream), nil))
		requireSameResult(t, "roundtrip chunked", want, parseAll(&patternReader{data: stream, pattern: raw}, nil))
	})
}
