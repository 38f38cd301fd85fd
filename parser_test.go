package sse

// This file holds the Parser's tests: the conformance table, written from
// the WHATWG standard and the web-platform-tests, read in every split;
// state between events; read errors; the limits; allocations and the read
// buffer's size; long CRLF runs against the reference parser; and the
// parser benchmark. The shared helpers are in helpers_parser_test.go.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// conformanceCase is one conformance case: a stream and everything a
// Parser must report after reading it to the end.
type conformanceCase struct {
	name     string
	in       string
	events   []Event
	lastID   string
	retry    time.Duration // noRetry when none
	comments []string
}

// messageEvent builds an event of type "message".
func messageEvent(data, id string) Event { return Event{Type: "message", Data: data, ID: id} }

// conformanceCases is the conformance table, written from the WHATWG HTML
// standard ("interpreting an event stream") and the behaviours the
// web-platform-tests eventsource/format-* tests check. FuzzParser seeds its
// corpus from it.
var conformanceCases = []conformanceCase{
	// Stream shapes.
	{name: "empty stream", in: "", retry: noRetry},
	{name: "only blank lines", in: "\n\n\r\n\r\r", retry: noRetry},
	{name: "one event", in: "data: hello\n\n", events: []Event{messageEvent("hello", "")}, retry: noRetry},
	{name: "two events", in: "data: a\n\ndata: b\n\n", events: []Event{messageEvent("a", ""), messageEvent("b", "")}, retry: noRetry},
	{name: "extra blank lines between events", in: "data: x\n\n\n\n\ndata: y\n\n", events: []Event{messageEvent("x", ""), messageEvent("y", "")}, retry: noRetry},
	{name: "unterminated last event dropped", in: "data: a\n\ndata: b\n", events: []Event{messageEvent("a", "")}, retry: noRetry},
	{name: "unterminated last line dropped", in: "data: a\n\ndata: b", events: []Event{messageEvent("a", "")}, retry: noRetry},
	{name: "single data line without blank line", in: "data: a\n", retry: noRetry},
	{name: "last event ends at end of stream without blank line", in: "data: a\r\n\r\ndata: b\r\n", events: []Event{messageEvent("a", "")}, retry: noRetry},

	// Field and value split.
	{name: "no space after colon", in: "data:hello\n\n", events: []Event{messageEvent("hello", "")}, retry: noRetry},
	{name: "only one leading space removed", in: "data:  two\n\n", events: []Event{messageEvent(" two", "")}, retry: noRetry},
	{name: "tab is not a space", in: "data:\tx\n\n", events: []Event{messageEvent("\tx", "")}, retry: noRetry},
	{name: "trailing space kept", in: "data: x \n\n", events: []Event{messageEvent("x ", "")}, retry: noRetry},
	{name: "colon inside value", in: "data: a:b: c\n\n", events: []Event{messageEvent("a:b: c", "")}, retry: noRetry},
	{name: "value starting with colon", in: "data::x\n\n", events: []Event{messageEvent(":x", "")}, retry: noRetry},
	{name: "field without colon has empty value", in: "data\n\n", events: []Event{messageEvent("", "")}, retry: noRetry},
	{name: "data with colon and nothing after", in: "data:\n\n", events: []Event{messageEvent("", "")}, retry: noRetry},
	{name: "data colon space only", in: "data: \n\n", events: []Event{messageEvent("", "")}, retry: noRetry},
	{name: "whole line is the field when no colon", in: "data x\n\n", retry: noRetry},
	{name: "space before colon is part of the field", in: "data : x\n\n", retry: noRetry},
	{name: "leading space makes another field", in: " data: x\n\n", retry: noRetry},
	{name: "field names are case-sensitive", in: "Data: a\nDATA: b\nEvent: e\nID: 1\nRetry: 5\ndata: c\n\n", events: []Event{messageEvent("c", "")}, retry: noRetry},
	{name: "unknown fields ignored", in: "foo: bar\ndata: x\nbaz\n\n", events: []Event{messageEvent("x", "")}, retry: noRetry},
	{name: "unknown field alone dispatches nothing", in: "foo: bar\n\n", retry: noRetry},

	// Data.
	{name: "data lines joined with LF", in: "data: a\ndata: b\ndata: c\n\n", events: []Event{messageEvent("a\nb\nc", "")}, retry: noRetry},
	{name: "two empty data lines give one LF", in: "data\ndata\n\n", events: []Event{messageEvent("\n", "")}, retry: noRetry},
	{name: "empty then text data", in: "data:\ndata: x\n\n", events: []Event{messageEvent("\nx", "")}, retry: noRetry},
	{name: "wpt data field parsing", in: "data:\n\ndata\ndata\n\ndata:test", events: []Event{messageEvent("", ""), messageEvent("\n", "")}, retry: noRetry},
	{name: "NUL in data kept", in: "data: \x00\n\n", events: []Event{messageEvent("\x00", "")}, retry: noRetry},
	{name: "comment between data lines", in: "data: a\n: note\ndata: b\n\n", events: []Event{messageEvent("a\nb", "")}, retry: noRetry, comments: []string{"note"}},

	// Comments.
	{name: "comment ignored", in: ": hi\ndata: x\n\n", events: []Event{messageEvent("x", "")}, retry: noRetry, comments: []string{"hi"}},
	{name: "comment only block dispatches nothing", in: ":\n\n", retry: noRetry, comments: []string{""}},
	{name: "comment keeps extra spaces", in: ":  two\n:x\n\n", retry: noRetry, comments: []string{" two", "x"}},
	{name: "comment with colon", in: ":data: x\n\n", retry: noRetry, comments: []string{"data: x"}},
	{name: "wpt comment fest", in: "data:1\r:\x00\n:\r\ndata:2\n:" + strings.Repeat("x", 2048) + "\rdata:3\n:data:fail\r:" + strings.Repeat("x", 2048) + "\ndata:4\n\n",
		events: []Event{messageEvent("1\n2\n3\n4", "")}, retry: noRetry,
		comments: []string{"\x00", "", strings.Repeat("x", 2048), "data:fail", strings.Repeat("x", 2048)}},

	// Event type.
	{name: "custom type", in: "event: add\ndata: 1\n\n", events: []Event{{Type: "add", Data: "1"}}, retry: noRetry},
	{name: "type resets after dispatch", in: "event: add\ndata: 1\n\ndata: 2\n\n", events: []Event{{Type: "add", Data: "1"}, messageEvent("2", "")}, retry: noRetry},
	{name: "type resets at a blank line without data", in: "event: x\n\ndata: 1\n\n", events: []Event{messageEvent("1", "")}, retry: noRetry},
	{name: "empty type is message", in: "event:\ndata: d\n\n", events: []Event{messageEvent("d", "")}, retry: noRetry},
	{name: "type of one space is message", in: "event: \ndata:data\n\n", events: []Event{messageEvent("data", "")}, retry: noRetry},
	{name: "type without colon is message", in: "event\ndata: d\n\n", events: []Event{messageEvent("d", "")}, retry: noRetry},
	{name: "last type wins", in: "event: a\nevent: b\ndata\n\n", events: []Event{{Type: "b", Data: ""}}, retry: noRetry},
	{name: "type after data applies", in: "data: x\nevent: late\n\n", events: []Event{{Type: "late", Data: "x"}}, retry: noRetry},
	{name: "explicit message type", in: "event: message\ndata: x\n\n", events: []Event{messageEvent("x", "")}, retry: noRetry},
	{name: "wpt custom type then default", in: "event:test\ndata:x\n\ndata:x", events: []Event{{Type: "test", Data: "x"}}, retry: noRetry},
	{name: "same custom type twice", in: "event: t\ndata: 1\n\nevent: t\ndata: 2\n\n", events: []Event{{Type: "t", Data: "1"}, {Type: "t", Data: "2"}}, retry: noRetry},

	// Last event ID.
	{name: "id", in: "id: 1\ndata: a\n\n", events: []Event{messageEvent("a", "1")}, lastID: "1", retry: noRetry},
	{name: "id after data applies to the event", in: "data: a\nid: 5\n\n", events: []Event{messageEvent("a", "5")}, lastID: "5", retry: noRetry},
	{name: "id persists", in: "id: 1\ndata: a\n\ndata: b\n\n", events: []Event{messageEvent("a", "1"), messageEvent("b", "1")}, lastID: "1", retry: noRetry},
	{name: "id changes and persists", in: "id: 1\ndata: a\n\nid: 2\ndata: b\n\ndata: c\n\n", events: []Event{messageEvent("a", "1"), messageEvent("b", "2"), messageEvent("c", "2")}, lastID: "2", retry: noRetry},
	{name: "id without colon resets", in: "id: 1\ndata: a\n\nid\ndata: b\n\ndata: c\n\n", events: []Event{messageEvent("a", "1"), messageEvent("b", ""), messageEvent("c", "")}, retry: noRetry},
	{name: "empty id resets", in: "id: 1\ndata: a\n\nid:\ndata: b\n\n", events: []Event{messageEvent("a", "1"), messageEvent("b", "")}, retry: noRetry},
	{name: "id with NUL ignored", in: "id: 1\n\nid: a\x00b\ndata: x\n\n", events: []Event{messageEvent("x", "1")}, lastID: "1", retry: noRetry},
	{name: "id of NULs ignored", in: "id: \x00\x00\ndata: x\n\n", events: []Event{messageEvent("x", "")}, retry: noRetry},
	{name: "id-only block updates last event ID", in: "id: 7\n\n", lastID: "7", retry: noRetry},
	{name: "id-only block then event", in: "id: 7\n\ndata: x\n\n", events: []Event{messageEvent("x", "7")}, lastID: "7", retry: noRetry},
	{name: "id in unterminated event not committed", in: "data: a\nid: 1\n\nid: 2\ndata: b\n", events: []Event{messageEvent("a", "1")}, lastID: "1", retry: noRetry},
	{name: "id without blank line not committed", in: "id: 3\n", retry: noRetry},
	{name: "wpt data before final empty line", in: "retry:1000\ndata:test1\n\nid:test\ndata:test2", events: []Event{messageEvent("test1", "")}, retry: time.Second},
	{name: "id keeps inner spaces", in: "id:  x \ndata\n\n", events: []Event{messageEvent("", " x ")}, lastID: " x ", retry: noRetry},
	{name: "id with colon", in: "id: a:b\ndata\n\n", events: []Event{messageEvent("", "a:b")}, lastID: "a:b", retry: noRetry},
	{name: "id non-ASCII", in: "id: …\ndata: …\n\n", events: []Event{messageEvent("…", "…")}, lastID: "…", retry: noRetry},
	{name: "last id wins in one block", in: "id: 1\nid: 2\ndata\n\n", events: []Event{messageEvent("", "2")}, lastID: "2", retry: noRetry},
	{name: "type and id block without data", in: "event: e\nid: 3\n\ndata: x\n\n", events: []Event{messageEvent("x", "3")}, lastID: "3", retry: noRetry},

	// Retry.
	{name: "retry", in: "retry: 1500\n", retry: 1500 * time.Millisecond},
	{name: "retry zero", in: "retry: 0\n", retry: 0},
	{name: "retry leading zeros", in: "retry:007\n", retry: 7 * time.Millisecond},
	{name: "retry with letters ignored", in: "retry: 15x\n", retry: noRetry},
	{name: "wpt retry bogus keeps earlier", in: "retry:2000\nretry:1000x\ndata:x", retry: 2 * time.Second},
	{name: "retry negative ignored", in: "retry: -1\n", retry: noRetry},
	{name: "retry plus sign ignored", in: "retry: +1\n", retry: noRetry},
	{name: "retry two spaces ignored", in: "retry:  10\n", retry: noRetry},
	{name: "retry trailing space ignored", in: "retry: 10 \n", retry: noRetry},
	{name: "retry decimal ignored", in: "retry: 1.5\n", retry: noRetry},
	{name: "retry empty ignored", in: "retry\nretry:\nretry: \n", retry: noRetry},
	{name: "retry non-ASCII digit ignored", in: "retry: \u0661\n", retry: noRetry},
	{name: "retry huge clamps", in: "retry: 99999999999999999999999999\n", retry: time.Duration(math.MaxInt64)},
	{name: "retry largest exact", in: "retry: 9223372036854\n", retry: 9223372036854 * time.Millisecond},
	{name: "retry takes effect before dispatch", in: "data: a\nretry: 5\n", retry: 5 * time.Millisecond},
	{name: "retry in unterminated line ignored", in: "retry: 5\n\nretry: 6", retry: 5 * time.Millisecond},
	{name: "retry does not dispatch or change the event", in: "data: a\nretry: 9\n\n", events: []Event{messageEvent("a", "")}, retry: 9 * time.Millisecond},
	{name: "latest retry wins", in: "retry: 1\nretry: 2\n", retry: 2 * time.Millisecond},

	// Line ends.
	{name: "CRLF", in: "data: a\r\ndata: b\r\n\r\n", events: []Event{messageEvent("a\nb", "")}, retry: noRetry},
	{name: "CR", in: "data: a\rdata: b\r\r", events: []Event{messageEvent("a\nb", "")}, retry: noRetry},
	{name: "mixed line ends", in: "data: a\r\ndata: b\rdata: c\n\r\n", events: []Event{messageEvent("a\nb\nc", "")}, retry: noRetry},
	{name: "LF then CR is two line ends", in: "data: a\n\r", events: []Event{messageEvent("a", "")}, retry: noRetry},
	{name: "CR CR LF", in: "data: a\r\r\n", events: []Event{messageEvent("a", "")}, retry: noRetry},
	{name: "CR then LF then CR LF", in: "data: a\r\n\r\ndata: b\r\n\r\n", events: []Event{messageEvent("a", ""), messageEvent("b", "")}, retry: noRetry},
	{name: "CR terminated stream end", in: "data: a\r\r", events: []Event{messageEvent("a", "")}, retry: noRetry},
	{name: "CRLF blank line then LF line", in: "id: 1\r\n\r\n\ndata: x\n\n", events: []Event{messageEvent("x", "1")}, lastID: "1", retry: noRetry},
	{name: "trailing CR without blank line", in: "data: a\r", retry: noRetry},

	// Byte order mark.
	{name: "BOM skipped", in: "\xEF\xBB\xBFdata: 1\n\n", events: []Event{messageEvent("1", "")}, retry: noRetry},
	{name: "wpt BOM only once", in: "\xEF\xBB\xBFdata:1\n\n\xEF\xBB\xBFdata:2\n\ndata:3\n\n", events: []Event{messageEvent("1", ""), messageEvent("3", "")}, retry: noRetry},
	{name: "two BOMs at start", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n", retry: noRetry},
	{name: "BOM then LF", in: "\xEF\xBB\xBF\ndata: a\n\n", events: []Event{messageEvent("a", "")}, retry: noRetry},
	{name: "BOM then CR blank line", in: "\xEF\xBB\xBF\rdata: x\r\r", events: []Event{messageEvent("x", "")}, retry: noRetry},
	{name: "BOM alone", in: "\xEF\xBB\xBF", retry: noRetry},
	{name: "truncated BOM is invalid UTF-8", in: "\xEF\xBBdata: x\n\n", retry: noRetry},
	{name: "BOM inside data kept", in: "data: \xEF\xBB\xBFx\n\n", events: []Event{messageEvent("\uFEFFx", "")}, retry: noRetry},

	// UTF-8 decoding.
	{name: "wpt always UTF-8", in: "data:ok\xE2\x80\xA6\n\n", events: []Event{messageEvent("ok…", "")}, retry: noRetry},
	{name: "four-byte character", in: "data: \xF0\x9F\x98\x80\n\n", events: []Event{messageEvent("😀", "")}, retry: noRetry},
	{name: "invalid byte", in: "data: a\xFFb\n\n", events: []Event{messageEvent("a\uFFFDb", "")}, retry: noRetry},
	{name: "truncated sequence is one replacement", in: "data: a\xE2\x82b\n\n", events: []Event{messageEvent("a\uFFFDb", "")}, retry: noRetry},
	{name: "two invalid bytes", in: "data: \xFF\xFE\n\n", events: []Event{messageEvent("\uFFFD\uFFFD", "")}, retry: noRetry},
	{name: "surrogate", in: "data: \xED\xA0\x80\n\n", events: []Event{messageEvent("\uFFFD\uFFFD\uFFFD", "")}, retry: noRetry},
	{name: "highest BMP before surrogates", in: "data: \xED\x9F\xBF\n\n", events: []Event{messageEvent("\uD7FF", "")}, retry: noRetry},
	{name: "overlong two-byte", in: "data: \xC0\xAF\xC1\xBF\n\n", events: []Event{messageEvent("\uFFFD\uFFFD\uFFFD\uFFFD", "")}, retry: noRetry},
	{name: "overlong three-byte", in: "data: \xE0\x80\x80\xE0\x9F\xBF\n\n", events: []Event{messageEvent(strings.Repeat("\uFFFD", 6), "")}, retry: noRetry},
	{name: "overlong four-byte", in: "data: \xF0\x80\x80\x80\n\n", events: []Event{messageEvent(strings.Repeat("\uFFFD", 4), "")}, retry: noRetry},
	{name: "above U+10FFFF", in: "data: \xF4\x90\x80\x80\n\n", events: []Event{messageEvent(strings.Repeat("\uFFFD", 4), "")}, retry: noRetry},
	{name: "highest code point", in: "data: \xF4\x8F\xBF\xBF\n\n", events: []Event{messageEvent("\U0010FFFF", "")}, retry: noRetry},
	{name: "F5 to FF lead bytes", in: "data: \xF5\xF8\xFC\xFE\n\n", events: []Event{messageEvent(strings.Repeat("\uFFFD", 4), "")}, retry: noRetry},
	{name: "truncated four-byte at line end", in: "data: \xF0\x9F\x98\n\n", events: []Event{messageEvent("\uFFFD", "")}, retry: noRetry},
	{name: "truncated then valid", in: "data: \xF0\x9F\xC3\xA9\n\n", events: []Event{messageEvent("\uFFFDé", "")}, retry: noRetry},
	{name: "lone continuation bytes", in: "data: \x80\xBF\n\n", events: []Event{messageEvent("\uFFFD\uFFFD", "")}, retry: noRetry},
	{name: "invalid sequence cut by CR", in: "data: \xE2\x82\rdata: b\r\r", events: []Event{messageEvent("\uFFFD\nb", "")}, retry: noRetry},
	{name: "invalid byte in field name", in: "da\xFFta: x\n\n", retry: noRetry},
	{name: "invalid byte in type", in: "event: a\xFF\ndata: x\n\n", events: []Event{{Type: "a\uFFFD", Data: "x"}}, retry: noRetry},
	{name: "invalid byte in id", in: "id: \xC3\ndata: x\n\n", events: []Event{messageEvent("x", "\uFFFD")}, lastID: "\uFFFD", retry: noRetry},
	{name: "invalid byte in comment", in: ": \xE2\x82\n\n", retry: noRetry, comments: []string{"\uFFFD"}},
	{name: "invalid byte before colon", in: "data\xFF: x\n\n", retry: noRetry},

	// Everything together.
	{name: "mixed stream", in: ": hello\nretry: 3000\n\nid: 1\nevent: add\ndata: {\"a\":1}\n\nid: 2\ndata: line1\ndata: line2\n\nevent: ping\n\ndata: after\n\n",
		events: []Event{{Type: "add", Data: `{"a":1}`, ID: "1"}, messageEvent("line1\nline2", "2"), messageEvent("after", "2")},
		lastID: "2", retry: 3 * time.Second, comments: []string{"hello"}},
}

// chunkReader returns its chunks one per Read.
type chunkReader struct {
	chunks [][]byte
}

func (r *chunkReader) Read(b []byte) (int, error) {
	for len(r.chunks) > 0 && len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	return n, nil
}

// splitReaders returns readers that deliver in in different ways, each named.
func splitReaders(in string) map[string]func() io.Reader {
	m := map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(in) },
		"onebyte":  func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
		"half":     func() io.Reader { return iotest.HalfReader(strings.NewReader(in)) },
		"dataerr":  func() io.Reader { return iotest.DataErrReader(strings.NewReader(in)) },
		"onebyte+": func() io.Reader { return iotest.DataErrReader(iotest.OneByteReader(strings.NewReader(in))) },
	}
	for i := 1; i < len(in); i++ {
		m[fmt.Sprintf("split%d", i)] = func() io.Reader {
			return &chunkReader{chunks: [][]byte{[]byte(in[:i]), []byte(in[i:])}}
		}
	}
	return m
}

func TestParserConformance(t *testing.T) {
	t.Parallel()
	require.GreaterOrEqual(t, len(conformanceCases), 60)
	seen := map[string]bool{}
	for _, tc := range conformanceCases {
		require.False(t, seen[tc.name], "duplicate case name %q", tc.name)
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for how, mk := range splitReaders(tc.in) {
				res := parseAll(mk(), nil)
				require.ErrorIs(t, res.err, io.EOF, how)
				require.Equal(t, tc.events, res.events, "events, %s", how)
				require.Equal(t, tc.lastID, res.lastID, "last event ID, %s", how)
				require.Equal(t, tc.retry, res.retry, "retry, %s", how)
				require.Equal(t, tc.comments, res.comments, "comments, %s", how)
			}
		})
	}
}

// TestParserStateBetweenEvents checks LastEventID and Retry between
// events, not only at the end.
func TestParserStateBetweenEvents(t *testing.T) {
	t.Parallel()
	in := "retry: 10\nid: a\ndata: 1\n\nid\n\nretry: 20\ndata: 2\n\nid: b\nretry: x\n\ndata: 3\nid: c\n"
	p := NewParser(strings.NewReader(in))
	_, ok := p.Retry()
	require.False(t, ok)
	type step struct {
		ev    Event
		id    string
		retry time.Duration
	}
	want := []step{
		{messageEvent("1", "a"), "a", 10 * time.Millisecond},
		{messageEvent("2", ""), "", 20 * time.Millisecond},
	}
	for _, w := range want {
		ev, err := p.Next()
		require.NoError(t, err)
		require.Equal(t, w.ev, ev)
		require.Equal(t, w.id, p.LastEventID())
		d, ok := p.Retry()
		require.True(t, ok)
		require.Equal(t, w.retry, d)
	}
	_, err := p.Next()
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, "b", p.LastEventID())
	_, err = p.Next()
	require.ErrorIs(t, err, io.EOF, "sticky")
}

// singleReadReader serves data, then fails the test if Read is called again.
type singleReadReader struct {
	t    *testing.T
	data []byte
	done bool
}

func (r *singleReadReader) Read(b []byte) (int, error) {
	if r.done {
		assert.Fail(r.t, "Next read past a complete event")
		return 0, io.EOF
	}
	r.done = true
	return copy(b, r.data), nil
}

func TestParserDoesNotReadPastCompleteEvent(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"data: a\r\r", "data: a\n\n", "data: a\r\n\r\n", "data: a\r\n\r", "\xEF\xBB\xBFdata: a\r\r"} {
		p := NewParser(&singleReadReader{t: t, data: []byte(in)})
		ev, err := p.Next()
		require.NoError(t, err, "%q", in)
		require.Equal(t, messageEvent("a", ""), ev, "%q", in)
	}
}

// errAfterReader returns data and then err.
type errAfterReader struct {
	data string
	err  error
}

func (r *errAfterReader) Read(b []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(b, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestParserReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	p := NewParser(&errAfterReader{data: "id: 1\ndata: a\n\nid: 2\ndata: b\n", err: boom})
	ev, err := p.Next()
	require.NoError(t, err)
	require.Equal(t, messageEvent("a", "1"), ev)
	_, err = p.Next()
	require.Same(t, boom, err, "returned as is")
	_, err = p.Next()
	require.Same(t, boom, err, "sticky")
	require.Equal(t, "1", p.LastEventID(), "incomplete event dropped")

	// Data and an error in the same Read: the complete event still comes first.
	p = NewParser(iotest.DataErrReader(&errAfterReader{data: "data: x\n\n", err: boom}))
	ev, err = p.Next()
	require.NoError(t, err)
	require.Equal(t, messageEvent("x", ""), ev)
	_, err = p.Next()
	require.Same(t, boom, err)
}

// zeroReader returns 0, nil forever.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestParserNoProgress(t *testing.T) {
	t.Parallel()
	_, err := NewParser(zeroReader{}).Next()
	require.ErrorIs(t, err, io.ErrNoProgress)
}

func TestParserSetLimitsAfterNextPanics(t *testing.T) {
	t.Parallel()
	p := NewParser(strings.NewReader("data: x\n\n"))
	p.SetLimits(10, 10)
	_, err := p.Next()
	require.NoError(t, err)
	require.Panics(t, func() { p.SetLimits(1, 1) })
}

func TestParserHugeLimits(t *testing.T) {
	t.Parallel()
	// Limits far above what is sensible must not overflow the sizes
	// derived from them: the buffer still grows for a long line.
	in := "data: " + strings.Repeat("h", 300<<10) + "\n\n"
	p := NewParser(iotest.HalfReader(strings.NewReader(in)))
	p.SetLimits(math.MaxInt, math.MaxInt)
	ev, err := p.Next()
	require.NoError(t, err)
	require.Len(t, ev.Data, 300<<10)
}

// repeatReader produces n bytes lazily: head, then body repeated (cut at n),
// and counts what it has handed out.
type repeatReader struct {
	head []byte
	body []byte
	n    int64 // bytes left to produce
	read int64 // bytes produced so far
	pos  int   // position in body
}

func newRepeatReader(head, body string, n int64) *repeatReader {
	// Whole repetitions of body, at least 4 KiB, so that Read copies in
	// large pieces.
	body = strings.Repeat(body, (4096+len(body)-1)/len(body))
	return &repeatReader{head: []byte(head), body: []byte(body), n: n}
}

func (r *repeatReader) Read(b []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > r.n {
		b = b[:r.n]
	}
	total := 0
	for len(b) > 0 {
		var c int
		if len(r.head) > 0 {
			c = copy(b, r.head)
			r.head = r.head[c:]
		} else {
			c = copy(b, r.body[r.pos:])
			r.pos = (r.pos + c) % len(r.body)
		}
		b = b[c:]
		total += c
	}
	r.n -= int64(total)
	r.read += int64(total)
	return total, nil
}

// requireLimitError checks that err is a limit error of the given kind, that
// the parser stopped within the limit plus one read buffer, and that
// ParseError.Offset is the number of bytes read.
func requireLimitError(t *testing.T, err error, what string, limit int, read, maxRead int64) {
	t.Helper()
	require.ErrorIs(t, err, ErrEventTooLarge)
	var pe *ParseError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, what, pe.What)
	require.Equal(t, limit, pe.Limit)
	require.Equal(t, read, pe.Offset)
	require.LessOrEqual(t, read, maxRead, "bytes read")
	require.True(t, strings.HasPrefix(err.Error(), "sse: "), err.Error())
}

func TestParserLimits(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	scale := int64(1)
	if testing.Short() {
		scale = 4
	}

	t.Run("64MiB line without newline, default limits", func(t *testing.T) {
		t.Parallel()
		g := newRepeatReader("data: ", "x", 64*mib)
		p := NewParser(g)
		_, err := p.Next()
		requireLimitError(t, err, "line", DefaultMaxLineSize, g.read, DefaultMaxLineSize+maxReadBuf)
		require.Greater(t, g.read, int64(DefaultMaxLineSize))
		require.LessOrEqual(t, len(p.buf), DefaultMaxLineSize+1)
		_, err2 := p.Next()
		require.Same(t, err, err2, "sticky")
	})
	t.Run("long comment line, small limit", func(t *testing.T) {
		t.Parallel()
		g := newRepeatReader(":", "y", 64*mib)
		p := NewParser(g)
		p.SetLimits(1000, 0)
		_, err := p.Next()
		requireLimitError(t, err, "line", 1000, g.read, 1000+maxReadBuf)
	})
	t.Run("long line with CR ends, small limit", func(t *testing.T) {
		t.Parallel()
		g := newRepeatReader("data: ok\r\r:", "z", 64*mib)
		p := NewParser(g)
		p.SetLimits(200*1024, 0)
		ev, err := p.Next()
		require.NoError(t, err)
		require.Equal(t, messageEvent("ok", ""), ev)
		_, err = p.Next()
		requireLimitError(t, err, "line", 200*1024, g.read, 200*1024+maxReadBuf+11)
	})
	t.Run("line of exactly the limit passes", func(t *testing.T) {
		t.Parallel()
		for _, end := range []string{"\n", "\r", "\r\n"} {
			line := "data:" + strings.Repeat("a", 95)
			p := NewParser(iotest.OneByteReader(strings.NewReader(line + end + end)))
			p.SetLimits(100, 0)
			ev, err := p.Next()
			require.NoError(t, err)
			require.Len(t, ev.Data, 95)

			p = NewParser(strings.NewReader(line + "a" + end + end))
			p.SetLimits(100, 0)
			_, err = p.Next()
			require.ErrorIs(t, err, ErrEventTooLarge)
		}
	})
	t.Run("data value over event limit, stopped early", func(t *testing.T) {
		t.Parallel()
		g := newRepeatReader("data: ", "d", 64*mib)
		p := NewParser(g)
		p.SetLimits(0, mib)
		_, err := p.Next()
		requireLimitError(t, err, "event", mib, g.read, mib+maxReadBuf+6)
	})
	t.Run("ten million bare data lines", func(t *testing.T) {
		t.Parallel()
		// The joining LFs count: 1 MiB of event holds 1Mi lines.
		g := newRepeatReader("", "data\n", 10_000_000*5/scale)
		p := NewParser(g)
		p.SetLimits(0, mib)
		_, err := p.Next()
		requireLimitError(t, err, "event", mib, g.read, 5*mib+maxReadBuf)
		require.LessOrEqual(t, p.block.Cap(), mib)
	})
	t.Run("data lines over event limit with defaults", func(t *testing.T) {
		t.Parallel()
		if testing.Short() {
			t.Skip("reads 17 MiB")
		}
		g := newRepeatReader("", "data: "+strings.Repeat("w", 1017)+"\n", 64*mib)
		p := NewParser(g)
		_, err := p.Next()
		requireLimitError(t, err, "event", DefaultMaxEventSize, g.read, DefaultMaxEventSize*1024/1018+maxReadBuf+1024)
		require.LessOrEqual(t, p.block.Cap(), 2*DefaultMaxEventSize)
	})
	t.Run("endless comments grow nothing", func(t *testing.T) {
		t.Parallel()
		g := newRepeatReader("", ": keep-alive\n", 8*mib/scale)
		p := NewParser(g)
		n := 0
		p.OnComment(func(string) { n++ })
		_, err := p.Next()
		require.ErrorIs(t, err, io.EOF)
		require.Equal(t, int(8*mib/scale)/13, n)
		require.Equal(t, maxReadBuf, len(p.buf))
		require.Zero(t, p.block.Cap())
	})
	t.Run("endless id lines are replaced, not appended", func(t *testing.T) {
		t.Parallel()
		g := newRepeatReader("", "id: 0123456789\n", 8*mib/scale)
		p := NewParser(g)
		_, err := p.Next()
		require.ErrorIs(t, err, io.EOF)
		require.Equal(t, "", p.LastEventID(), "never committed")
		require.LessOrEqual(t, len(p.id), 64)
		require.Equal(t, maxReadBuf, len(p.buf))
	})
	t.Run("long id line over event limit", func(t *testing.T) {
		t.Parallel()
		g := newRepeatReader("id: ", "i", 64*mib)
		p := NewParser(g)
		p.SetLimits(0, 4096)
		_, err := p.Next()
		requireLimitError(t, err, "event", 4096, g.read, 4096+maxReadBuf+4)
	})
	t.Run("long event line over event limit", func(t *testing.T) {
		t.Parallel()
		g := newRepeatReader("event: ", "e", 64*mib)
		p := NewParser(g)
		p.SetLimits(0, 4096)
		_, err := p.Next()
		requireLimitError(t, err, "event", 4096, g.read, 4096+maxReadBuf+7)
	})
	t.Run("10 MiB data passes with defaults", func(t *testing.T) {
		t.Parallel()
		if testing.Short() {
			t.Skip("reads 20 MiB")
		}
		const size = 10 * mib
		one := "data: " + strings.Repeat("a", size) + "\n\n"
		ev, err := NewParser(strings.NewReader(one)).Next()
		require.NoError(t, err)
		require.Len(t, ev.Data, size)

		many := strings.Repeat("data: "+strings.Repeat("b", 1023)+"\n", size/1024) + "\n"
		ev, err = NewParser(iotest.HalfReader(strings.NewReader(many))).Next()
		require.NoError(t, err)
		require.Len(t, ev.Data, size-1)
	})
}

// loopReader repeats data forever without allocating.
type loopReader struct {
	data []byte
	pos  int
}

func (r *loopReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		c := copy(b[n:], r.data[r.pos:])
		r.pos = (r.pos + c) % len(r.data)
		n += c
	}
	return n, nil
}

func TestParserAllocs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream string
		max    float64
	}{
		// Event strings point into the read buffer, or for data of
		// several lines into a shared data block: an allocation per
		// 64 KiB of stream or 8 KiB of joined data, not per event.
		{"single-line data", "data: {\"n\":1}\n\n", 0},
		{"custom type and unchanged id", "event: update\nid: 42\ndata: {\"n\":1}\n\n", 0},
		{"type and id reuse without data bytes", "event: update\nid: 42\ndata\n\n", 0},
		{"message type and comments", ": ping\nevent: message\ndata\r\n\r\n", 0},
		{"CR line ends", "data: x\r\r", 0},
		{"new id each event", "id: 1\ndata: {\"n\":1}\n\nid: 2\ndata: {\"n\":2}\n\n", 0},
		{"multi-line data", "data: {\ndata: \"n\": 1\ndata: }\n\n", 0},
		{"large data and new ids", "id: 1\ndata: " + strings.Repeat("L", 3000) + "\n\nid: 2\ndata: " + strings.Repeat("M", 3000) + "\n\n", 0},
		// Invalid UTF-8 is decoded into scratch space, so its strings
		// are copies.
		{"invalid UTF-8 in data and id", "id: \xff1\ndata: \xff{}\n\nid: \xff2\ndata: \xff{}\n\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewParser(&loopReader{data: []byte(tc.stream)})
			for range 10 { // warm up: buffers and the first type and id strings
				_, err := p.Next()
				require.NoError(t, err)
			}
			allocs := testing.AllocsPerRun(1000, func() {
				_, err := p.Next()
				require.NoError(t, err)
			})
			require.LessOrEqual(t, allocs, tc.max)
		})
	}
}

// smallOrFullReader hands out the rest of one copy of event per Read while
// small is set, and fills every Read with copies of it otherwise.
type smallOrFullReader struct {
	event []byte
	small bool
	pos   int
}

func (r *smallOrFullReader) Read(b []byte) (int, error) {
	if r.small {
		c := copy(b, r.event[r.pos:])
		r.pos = (r.pos + c) % len(r.event)
		return c, nil
	}
	n := 0
	for n < len(b) {
		c := copy(b[n:], r.event[r.pos:])
		r.pos = (r.pos + c) % len(r.event)
		n += c
	}
	return n, nil
}

func TestParserBufferSize(t *testing.T) {
	t.Parallel()
	r := &smallOrFullReader{event: []byte("id: 7\ndata: {\"n\":1}\n\n"), small: true}
	p := NewParser(r)
	next := func(n int) {
		t.Helper()
		for range n {
			ev, err := p.Next()
			require.NoError(t, err)
			require.Equal(t, Event{Type: "message", Data: `{"n":1}`, ID: "7"}, ev)
		}
	}
	// Small reads, as from an idle or slow stream: the buffer stays at
	// its initial size.
	next(100)
	require.Equal(t, minReadBuf, len(p.buf), "small reads")
	require.Zero(t, p.block.Cap(), "single-line data is not copied")

	// Reads that fill the buffer: it doubles up to maxReadBuf.
	r.small = false
	next(20_000)
	require.Equal(t, maxReadBuf, len(p.buf), "full reads")

	// Small reads again: once the buffer is empty it shrinks back.
	// (The 64 KiB buffered hold fewer than 3,000 events.)
	r.small = true
	next(3000 + 10*shrinkAfterReads)
	require.Equal(t, minReadBuf, len(p.buf), "small reads after full ones")

	// Reads of 4 KiB, as from a busy connection, are big reads too,
	// also when the last one before the buffer is full is cut short.
	var stream []byte
	for i := range 2000 {
		stream = fmt.Appendf(stream, "id: %d\ndata: %s\n\n", i, strings.Repeat("x", 1000))
	}
	p = NewParser(&pieceReader{events: [][]byte{stream}, n: 4096})
	for range 1000 {
		_, err := p.Next()
		require.NoError(t, err)
	}
	require.Equal(t, maxReadBuf, len(p.buf), "4 KiB reads")

	// Long lines read in small pieces: the buffer grows for the first
	// and keeps its size for the next ones (a full buffer is replaced by
	// one of the same size), rather than shrinking when it is empty
	// between them and growing again.
	ev := []byte("data: " + strings.Repeat("x", 10_000) + "\n\n")
	p = NewParser(&pieceReader{events: [][]byte{ev, ev, ev}, n: 7})
	_, err := p.Next()
	require.NoError(t, err)
	size := len(p.buf)
	require.Greater(t, size, 10_000)
	for range 2 {
		_, err = p.Next()
		require.NoError(t, err)
		require.Equal(t, size, len(p.buf), "no shrinking between long lines")
	}
}

// feedStream builds n small JSON events like a typical feed.
func feedStream(n int, withID bool) []byte {
	var b bytes.Buffer
	for i := range n {
		if withID {
			fmt.Fprintf(&b, "id: %d\n", i)
		}
		fmt.Fprintf(&b, "event: update\ndata: {\"id\":%d,\"user\":\"alice\",\"text\":\"hello world\",\"ts\":1700000000}\n\n", i)
		if i%100 == 0 {
			b.WriteString(": keep-alive\n\n")
		}
	}
	return b.Bytes()
}

func BenchmarkParser(b *testing.B) {
	for _, withID := range []bool{false, true} {
		stream := feedStream(10000, withID)
		name := "json"
		if withID {
			name = "json+id"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			r := bytes.NewReader(stream)
			for b.Loop() {
				r.Reset(stream)
				p := NewParser(r)
				for {
					if _, err := p.Next(); err != nil {
						break
					}
				}
			}
		})
		// The baseline: counting the same stream's lines with bytes.IndexByte.
		b.Run(name+"-indexbyte-baseline", func(b *testing.B) {
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				s := stream
				for {
					i := bytes.IndexByte(s, '\n')
					if i < 0 {
						break
					}
					n++
					s = s[i+1:]
				}
			}
			_ = n
		})
	}
}

// TestParserCRLFRuns checks long runs of CRLF lines against the reference
// parser, with a bare CR or a bare LF (or a CR inside a line, or CR CR LF)
// at every line in turn: the cached searches for '\n' and '\r' must end
// every line where the reference does. Each stream is read whole, in
// 22-byte and in 7-byte pieces, and with a small line limit.
func TestParserCRLFRuns(t *testing.T) {
	t.Parallel()
	var lines []string
	for i := range 48 {
		switch i % 4 {
		case 0:
			lines = append(lines, fmt.Sprintf("id: %d", i))
		case 1, 2:
			lines = append(lines, fmt.Sprintf("data: line %d é", i))
		default:
			lines = append(lines, "")
		}
	}
	for bad := -1; bad < len(lines); bad++ {
		for _, odd := range []string{"\r", "\n", "x\ry", "\r\r\n"} {
			var sb strings.Builder
			for i, l := range lines {
				if i == bad {
					sb.WriteString(l + odd)
					continue
				}
				sb.WriteString(l + "\r\n")
			}
			in := []byte(sb.String())
			ref := referenceParse(in)
			want := parseResult{events: ref.events, lastID: ref.lastID, retry: ref.retry, comments: ref.comments, err: io.EOF}
			what := fmt.Sprintf("bare %q at line %d", odd, bad)
			requireSameResult(t, what+", whole", want, parseAll(bytes.NewReader(in), nil))
			requireSameResult(t, what+", 7-byte reads", want, parseAll(&patternReader{data: in}, nil))
			requireSameResult(t, what+", 22-byte reads", want, parseAll(&patternReader{data: in, pattern: []byte{22}}, nil))
			limited := func(p *Parser) { p.SetLimits(12, 0) }
			requireSameResult(t, what+", limited", parseAll(&patternReader{data: in, pattern: []byte{3, 22}}, limited), parseAll(bytes.NewReader(in), limited))
		}
	}
}
