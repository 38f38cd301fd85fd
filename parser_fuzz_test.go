package sse

// This file holds the Parser's two property fuzz targets. FuzzParser
// compares the Parser with the reference parser (helpers_parser_test.go)
// for every way of splitting the reads, and checks that small limits hold;
// FuzzRoundtrip encodes events, parses them back and expects them
// unchanged, as csv.FuzzRoundtrip does.

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

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
			require.ErrorIs(t, lw.err, ErrEventTooLarge, "limited run ended with %v", lw.err)
			require.ErrorAs(t, lw.err, &pe, "limited run ended with %v", lw.err)
			require.LessOrEqual(t, len(lw.events), len(whole.events), "limited events are not a prefix of the unlimited ones")
			require.Equal(t, nilIfEmpty(whole.events[:len(lw.events)]), nilIfEmpty(lw.events), "limited events are not a prefix of the unlimited ones")
			if pe.What == "line" {
				require.Greater(t, longestRawLine(in), maxLine, "line limit %d reported, longest line is %d", maxLine, longestRawLine(in))
			}
		}
		for _, ev := range lw.events {
			size := len(ev.Data) + 1 + len(ev.ID)
			if ev.Type != "message" {
				size += len(ev.Type)
			}
			require.LessOrEqual(t, size, maxEvent, "event of %d bytes passed the %d-byte limit: %q", size, maxEvent, ev)
		}
		// The data block may exceed maxEvent by the rounding of
		// strings.Builder.Grow to a size class (at most 16 bytes here).
		for _, p := range parsers {
			require.LessOrEqual(t, len(p.buf), max(maxReadBuf, maxLine+1), "read buffer exceeds the limits %d/%d", maxLine, maxEvent)
			require.LessOrEqual(t, p.block.Cap(), maxEvent+16, "data block exceeds the limits %d/%d", maxLine, maxEvent)
			require.LessOrEqual(t, len(p.typ), maxEvent, "type exceeds the limits %d/%d", maxLine, maxEvent)
			require.LessOrEqual(t, len(p.id), maxEvent, "id exceeds the limits %d/%d", maxLine, maxEvent)
			require.LessOrEqual(t, cap(p.dec), 6*maxLine+64, "decoding buffer exceeds the limits %d/%d", maxLine, maxEvent)
		}
	})
}

// encodeEvents writes events as an event stream the simple way, with the
// given line end, a comment before each event and an optional BOM.
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
